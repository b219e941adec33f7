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

PAGES = Path(__file__).parent / "pages"
nav = st.navigation({
    "Catalog": [
        st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", url_path="overview",
                default=True),
        st.Page(PAGES / "trends.py", title="Trends", icon=":material/trending_up:", url_path="trends"),
    ],
    "Explore": [
        st.Page(PAGES / "cluster_map.py", title="Cluster map", icon=":material/scatter_plot:", url_path="map"),
        st.Page(PAGES / "clusters.py", title="Cluster browser", icon=":material/category:", url_path="clusters"),
    ],
    "Build": [
        st.Page(PAGES / "playlist.py", title="Playlist builder", icon=":material/queue_music:", url_path="playlist"),
        st.Page(PAGES / "recommend.py", title="Recommendations", icon=":material/recommend:",
                url_path="recommend"),
    ],
})
st.sidebar.caption(f"Cache: `{os.environ.get('CACHE_DIR', 'cache')}`")
nav.run()
