"""Catalog Explorer: the router. Run ``streamlit run dashboard/streamlit_app.py``.

The cache directory comes from ``$CACHE_DIR`` (default ``cache/``). Pages hold UI only;
their logic lives in ``pipeline/`` modules.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# `streamlit run` puts only this folder on sys.path; the pages import `pipeline` and `dashboard`.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="Catalog Explorer", page_icon=":material/headphones:", layout="wide")

# Not "pages/": Streamlit would also auto-discover that folder as a second, untitled
# navigation (seen on a deep link opened as the first request).
PAGES = Path(__file__).parent / "views"


def _page(file: str, title: str, icon: str, url: str, default: bool = False) -> st.Page:
    return st.Page(PAGES / file, title=title, icon=f":material/{icon}:", url_path=url,
                   default=default)


nav = st.navigation({
    "Catalog": [_page("overview.py", "Overview", "dashboard", "overview", default=True),
                _page("trends.py", "Trends", "trending_up", "trends")],
    "Explore": [_page("cluster_map.py", "Cluster map", "scatter_plot", "map"),
                _page("clusters.py", "Cluster browser", "category", "clusters")],
    "Build": [_page("playlist.py", "Playlist builder", "queue_music", "playlist"),
              _page("recommend.py", "Recommendations", "recommend", "recommend")],
})
st.sidebar.caption(f"Cache: `{os.environ.get('CACHE_DIR', 'cache')}`")
try:
    nav.run()
finally:       # also after st.stop()/st.rerun(), which end a run by raising
    from dashboard.loaders import settle_heap

    settle_heap()
