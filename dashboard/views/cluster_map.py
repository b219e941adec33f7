"""Cluster map (curators): every track on the 2-D map, drawn in the browser from per-build
files (dashboard.components); colour by cluster, genre, a feature, year or popularity
without a round trip; the Trends filters and feature ranges; search highlights and zooms;
lasso/box -> selection table, CSV and the Playlist builder's source; click -> track card."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # AppTest and `streamlit run` only add the script's folder
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import guard, loaders, map_page, state, widgets  # noqa: E402
from dashboard.components import map_view  # noqa: E402
from dashboard.map_data import COLOR_BY, MapFilters, counts_caption  # noqa: E402

COLUMN_CONFIG = {"spotify_url": st.column_config.LinkColumn("Spotify", display_text="open"),
                 "youtube_url": st.column_config.LinkColumn("YouTube", display_text="search"),
                 "cluster_name": "cluster",
                 "energy": st.column_config.NumberColumn(format="%.2f"),
                 "valence": st.column_config.NumberColumn(format="%.2f"),
                 "tempo": st.column_config.NumberColumn(format="%.0f")}
TABLE_ROWS = 1000        # the selection table shows this many; the CSV has them all

st.title("Cluster map")
index = guard.require_index()
cache, mtime = loaders.build_key()
build = map_page.map_build(cache, mtime)
root = map_page.ensure_files(build)
map_page.warm_search(cache, mtime)

years, genres, clusters = widgets.catalog_filters(index, key="map")
ranges = map_page.range_filters(build)
state.restore("map_color", COLOR_BY[0], "color", lambda v: COLOR_BY[COLOR_BY.index(v[0])])
state.restore("map_search", "", "q")
state.restore("map_noise", True, "noise", lambda v: {"0": False, "1": True}[v[0]])
state.restore("map_new", False, "new", lambda v: {"0": False, "1": True}[v[0]])
has_new = build.arrays.status is not None       # the last build added or edited tracks
if st.session_state["map_color"] not in build.channels:   # e.g. "new tracks" from an old URL
    st.session_state["map_color"] = COLOR_BY[0]
c = st.columns([3, 2, 2] if has_new else [3, 2])
query = c[0].text_input("Search a track or artist", key="map_search",
                        placeholder="e.g. daft pnk, bohemian rapsody, Levels Avicii",
                        help="Typos are fine; one release per song is listed.")
show_noise = c[1].toggle("Show unclustered tracks", key="map_noise",
                         help="Tracks HDBSCAN put in no cluster (label -1).")
only_new = has_new and c[2].toggle(
    "Only new tracks", key="map_new",
    help="Tracks the last build added or edited (placed next to their most similar tracks "
         "without moving the others). Colour by 'new tracks' to see them among the rest.")
state.keep("map_search", "q", default="")
state.keep("map_noise", "noise", lambda v: str(int(v)), default=True)
if has_new:
    state.keep("map_new", "new", lambda v: str(int(v)), default=False)

filters = MapFilters(years, genres, clusters, ranges, show_noise, bool(only_new))
mask, mask_b64, mask_rev = map_page.shown(cache, mtime, filters)
map_page.handle_event(index, build, mask)            # colour, lasso/box, click from the map
state.keep("map_color", "color", default=COLOR_BY[0])

hits = map_page.search_hits(build, query)
if query.strip():
    if hits:
        st.caption(f"{len(hits['rows'])} tracks match “{query}” (red dots; the map zooms to "
                   "the best matches).")
    else:
        st.info(f"No track or artist matches “{query}”.")
st.caption(counts_caption(mask if mask is not None else map_page.all_shown(build),
                          build.arrays.cluster, filters)
           + " Scroll to zoom; drag to lasso (Box and Pan in the map's toolbar); click a "
             "track for its card.")
if mask is not None and not mask.any():
    st.warning("No track matches the filters: widen the year or feature ranges, or clear a "
               "genre/cluster.")

map_view(data_root=root, key=build.key, color=st.session_state["map_color"], mask=mask_b64,
         mask_rev=mask_rev, selection=map_page.selection_arg(index),
         hits=hits or None, clicked=map_page.card_row(index))

map_page.track_card(index, build)

if hits:
    rows = hits["rows"]
    with st.expander(f"Search results ({len(rows)})",
                     expanded=not st.session_state.get(state.MAP_SELECTION)):
        res = widgets.integers_as_integers(map_page.track_table(index, build, rows))
        st.dataframe(res[map_page.TABLE_COLS], hide_index=True, width="stretch", height=240,
                     column_config=COLUMN_CONFIG)
        if st.button("Use the search results as the map selection", key="map_use_hits"):
            st.session_state[state.MAP_SELECTION] = index.tracks["track_id"].iloc[rows].tolist()
            st.rerun()                     # the map above draws the new selection

ids = st.session_state.get(state.MAP_SELECTION) or []
st.subheader(f"Selection ({len(ids):,} tracks)")
if not ids:
    st.caption("Nothing selected yet. Lasso or box-select tracks on the map.")
else:
    head = map_page.rows_of(index, ids[:TABLE_ROWS])      # only what the table shows
    shown = widgets.integers_as_integers(map_page.track_table(index, build, head))
    st.dataframe(shown[map_page.TABLE_COLS], hide_index=True, width="stretch", height=300,
                 column_config=COLUMN_CONFIG)
    if len(ids) > TABLE_ROWS:
        st.caption(f"The first {TABLE_ROWS:,} of {len(ids):,} selected tracks; the CSV "
                   "has them all.")
    b = st.columns([1, 1, 1, 3])
    b[0].download_button("Download CSV", key="dl_map_selection", file_name="map_selection.csv",
                          mime="text/csv", data=lambda: widgets.csv_bytes(map_page.track_table(
                              index, build, map_page.rows_of(index, ids))))
    if b[1].button("Clear selection", key="map_clear"):
        map_page.clear_selection()
        st.rerun()
    try:
        b[2].page_link("views/playlist.py", label="Make a playlist", icon=":material/queue_music:")
    except Exception:  # noqa: BLE001 - the page runs alone (tests) without the router
        b[2].caption("Open the Playlist builder: the selection is its source.")
