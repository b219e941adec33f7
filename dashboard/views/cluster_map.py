"""Cluster map (curators): the 2-D map in WebGL, coloured by cluster, genre, a feature, year or
popularity; search to highlight and zoom; box/lasso selection -> table, CSV, playlist source."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # AppTest and `streamlit run` only add the script's folder
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import colors, guard, loaders, search, state, widgets  # noqa: E402
from pipeline.map import NOISE_NAME, cluster_label  # noqa: E402

COLOR_BY = ["cluster", "genre", "energy", "danceability", "valence", "tempo", "acousticness",
            "loudness", "speechiness", "instrumentalness", "liveness", "year", "popularity"]
# Hover card: "title — artist · genre" as text (kept short: it is most of the payload), the
# numbers from customdata = (row, year, energy, tempo, valence, popularity) as float32.
HOVER = ("<b>%{hovertext}</b><br>%{customdata[1]:.0f} · energy %{customdata[2]:.2f} · "
         "tempo %{customdata[3]:.0f} · valence %{customdata[4]:.2f} · "
         "popularity %{customdata[5]:.0f}<extra>%{fullData.name}</extra>")
TABLE_COLS = ["track_name", "artist", "year", "genre", "cluster_name", "energy", "tempo",
              "valence", "popularity", "spotify_url"]

COLUMN_CONFIG = {"spotify_url": st.column_config.LinkColumn("Spotify", display_text="open"),
                 "cluster_name": "cluster",
                 "energy": st.column_config.NumberColumn(format="%.2f"),
                 "valence": st.column_config.NumberColumn(format="%.2f"),
                 "tempo": st.column_config.NumberColumn(format="%.0f")}


@st.cache_data(show_spinner=False, max_entries=2)
def map_data(cache: str, mtime: float) -> pd.DataFrame:
    """Minimal per-track columns for the map (coords, colour fields, hover text)."""
    index = loaders._load_index(cache, mtime)
    t = index.tracks
    names = loaders.cluster_names(index)
    df = pd.DataFrame({"x": index.coords[:, 0].astype("float32"),
                       "y": index.coords[:, 1].astype("float32"),
                       "cluster": t["cluster"].to_numpy(),
                       "genre": t["genre"].astype("string").fillna("unknown").to_numpy()})
    for col in COLOR_BY[2:]:
        df[col] = t[col].astype("float32").to_numpy()
    df["cluster_name"] = [cluster_label(int(c), names) for c in df["cluster"]]
    df["hover"] = (t["track_name"].astype(str).str.slice(0, 40) + " — "
                   + t["artist"].astype(str).str.slice(0, 28) + " · " + df["genre"]).to_numpy()
    return df


def _trace(d: pd.DataFrame, name: str, **marker) -> go.Scattergl:
    custom = np.column_stack([d.index.to_numpy(), d["year"], d["energy"], d["tempo"],
                              d["valence"], d["popularity"]]).astype("float32")
    return go.Scattergl(x=d["x"], y=d["y"], mode="markers", name=name, hovertext=d["hover"],
                        customdata=custom, hovertemplate=HOVER,
                        marker={"size": 3, "opacity": 0.75, **marker})


def make_figure(df: pd.DataFrame, color: str, show_noise: bool) -> go.Figure:
    """The WebGL map; categorical colourings get one trace per category (legend toggles)."""
    noise = df["cluster"] == -1
    fig = go.Figure()
    if color in ("cluster", "genre"):
        if show_noise and color == "cluster":
            fig.add_trace(_trace(df[noise], NOISE_NAME, color=colors.NOISE_COLOR))
        body = df if color == "genre" else df[~noise]
        body = body if show_noise else body[~noise[body.index]]
        key = "cluster_name" if color == "cluster" else "genre"
        order = (sorted(body[key].unique(), key=colors.cluster_id)
                 if color == "cluster" else sorted(body[key].unique()))
        palette = colors.color_map(order, "cluster" if color == "cluster" else "genre")
        for value in order:
            fig.add_trace(_trace(body[body[key] == value], value, color=palette[value]))
    else:
        body = df if show_noise else df[~noise]
        fig.add_trace(_trace(body, color, color=body[color], colorscale="Viridis",
                             showscale=True, colorbar=dict(title=color, thickness=12)))
    fig.update_layout(height=680, dragmode="lasso", legend=dict(itemsizing="constant",
                      font_size=10), margin=dict(l=0, r=0, t=10, b=0),
                      xaxis=dict(visible=False), yaxis=dict(visible=False),
                      plot_bgcolor="white", uirevision=color)
    return fig


def add_highlight(fig: go.Figure, df: pd.DataFrame, rows: np.ndarray) -> None:
    """Ring the search hits and zoom to them."""
    d = df.iloc[rows]
    best = df.iloc[rows[:50]]  # zoom to the best matches (exact artist/title first)
    fig.add_trace(_trace(d, "search hits", size=9, color="#e4002b",
                         line=dict(width=1, color="white")))
    fig.data[-1].marker.opacity = 1
    pad_x = max(float(np.ptp(best["x"])) * 0.15, 1.0)
    pad_y = max(float(np.ptp(best["y"])) * 0.15, 1.0)
    fig.update_xaxes(range=[float(best["x"].min()) - pad_x, float(best["x"].max()) + pad_x])
    fig.update_yaxes(range=[float(best["y"].min()) - pad_y, float(best["y"].max()) + pad_y])
    fig.update_layout(uirevision=f"search-{len(rows)}-{rows[:3].tolist()}")


def track_table(index, df: pd.DataFrame, rows) -> pd.DataFrame:
    """The display table for map rows (title, artist, year, genre, cluster, key features)."""
    out = index.tracks.iloc[list(rows)][["track_id", "track_name", "artist", "year", "genre",
                                         "energy", "tempo", "valence", "popularity",
                                         "spotify_url"]].copy()
    out.insert(5, "cluster_name", df["cluster_name"].iloc[list(rows)].to_numpy())
    return out.reset_index(drop=True)


st.title("Cluster map")
index = guard.require_index()
cache, mtime = loaders.build_key()
df = map_data(cache, mtime)

c = st.columns([2, 3, 2])
state.restore("map_color", COLOR_BY[0], "color", lambda v: COLOR_BY[COLOR_BY.index(v[0])])
state.restore("map_search", "", "q")
state.restore("map_noise", True, "noise", lambda v: {"0": False, "1": True}[v[0]])
color = c[0].selectbox("Colour by", COLOR_BY, key="map_color")
query = c[1].text_input("Search a track or artist", key="map_search",
                        placeholder="e.g. daft pnk, bohemian rapsody, Levels Avicii",
                        help="Typos are fine; one release per song is listed.")
show_noise = c[2].toggle("Show unclustered tracks", key="map_noise",
                         help="Tracks HDBSCAN put in no cluster (label -1).")
state.keep("map_color", "color", default=COLOR_BY[0])
state.keep("map_search", "q", default="")
state.keep("map_noise", "noise", lambda v: str(int(v)), default=True)

fig = make_figure(df, color, show_noise)
hits = np.asarray(search.search_rows(query), dtype=int)
if query.strip():
    if len(hits):
        add_highlight(fig, df, hits)
        st.caption(f"{len(hits)} tracks match “{query}” (red dots; the map zooms to the best matches).")
    else:
        st.info(f"No track or artist matches “{query}”.")

event = st.plotly_chart(fig, key="cluster_map", on_select="rerun",
                        selection_mode=("points", "box", "lasso"), width="stretch",
                        config=widgets.plotly_config("cluster_map"))
st.caption(f"{len(df):,} tracks. Drag to lasso (or pick box select in the toolbar) to select "
           "tracks; double-click to reset the zoom. Legend entries toggle clusters.")

rows = widgets.selected_rows(event, fig)
if rows:
    st.session_state[state.MAP_SELECTION] = index.tracks["track_id"].iloc[rows].tolist()

if len(hits):
    with st.expander(f"Search results ({len(hits)})", expanded=not rows):
        res = widgets.integers_as_integers(track_table(index, df, hits))
        st.dataframe(res[TABLE_COLS], hide_index=True, width="stretch", height=240,
                     column_config=COLUMN_CONFIG)
        if st.button("Use the search results as the map selection", key="map_use_hits"):
            st.session_state[state.MAP_SELECTION] = index.tracks["track_id"].iloc[hits].tolist()

ids = st.session_state.get(state.MAP_SELECTION) or []
st.subheader(f"Selection ({len(ids)} tracks)")
if not ids:
    st.caption("Nothing selected yet. Lasso or box-select points on the map.")
else:
    sel_rows = [index.row(t) for t in ids if t in index._row]
    sel = widgets.integers_as_integers(track_table(index, df, sel_rows))
    st.dataframe(sel[TABLE_COLS], hide_index=True, width="stretch", height=300,
                 column_config=COLUMN_CONFIG)
    b = st.columns([1, 1, 1, 3])
    with b[0]:
        widgets.download_table(sel, "map_selection")
    if b[1].button("Clear selection", key="map_clear"):
        st.session_state[state.MAP_SELECTION] = []
        st.rerun()
    try:
        b[2].page_link("views/playlist.py", label="Make a playlist", icon=":material/queue_music:")
    except Exception:  # noqa: BLE001 - the page runs alone (tests) without the router
        b[2].caption("Open the Playlist builder: the selection is its source.")
