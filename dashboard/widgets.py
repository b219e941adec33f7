"""Reusable widgets: charts with their CSV, downloads, filters, the track picker, the
Spotify player, and the mapping of a chart selection back to catalog rows."""
from __future__ import annotations

import io
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.loaders import cluster_options
from dashboard.search import search_rows, track_label

PLOTLY_CONFIG_BASE = {"displaylogo": False, "scrollZoom": True}


def download_table(df: pd.DataFrame, name: str, label: str = "Download CSV",
                   key: str | None = None) -> None:
    """A CSV download button for a table (``name`` without extension)."""
    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=f"{name}.csv",
                       mime="text/csv", key=key or f"dl_{name}")


def plotly_config(name: str) -> dict:
    """Plotly config with the PNG download named after the chart."""
    return {**PLOTLY_CONFIG_BASE,
            "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2}}


def show_chart(fig: Any, data: pd.DataFrame, name: str, caption: str | None = None) -> None:
    """A plotly chart (PNG from its toolbar) with a CSV download of the data behind it."""
    if data is None or len(data) == 0:
        st.info("No tracks match the filters for this chart.")
        return
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, width="stretch", config=plotly_config(name), key=f"chart_{name}")
    cols = st.columns([1, 4])
    with cols[0]:
        download_table(data, name, label="⬇ CSV", key=f"dl_chart_{name}")
    if caption:
        cols[1].caption(caption)


def csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def catalog_filters(index: Any, key: str) -> tuple:
    """Sidebar filters for year range, genres and clusters; returns ``(years, genres, clusters)``."""
    years = index.tracks["year"].dropna()
    lo, hi = int(years.min()), int(years.max())
    genres = sorted(index.tracks["genre"].dropna().astype(str).unique())
    options = cluster_options(index, include_noise=True)
    with st.sidebar:
        st.subheader("Filters")
        yr = st.slider("Release years", lo, hi, (lo, hi), key=f"{key}_years")
        g = st.multiselect("Genres", genres, key=f"{key}_genres", placeholder="All genres")
        c = st.multiselect("Clusters", list(options), format_func=options.get,
                           key=f"{key}_clusters", placeholder="All clusters")
    return (None if yr == (lo, hi) else tuple(yr)), tuple(g) or None, tuple(c) or None


def track_picker(index: Any, label: str, key: str, default: str | None = None) -> str | None:
    """Search box + choice of matching tracks; returns the chosen track id (or ``default``)."""
    query = st.text_input(label, key=f"{key}_q", placeholder="type a title or an artist")
    rows = search_rows(query, limit=50)
    ids = index.tracks["track_id"].iloc[rows].tolist()
    if default and default not in ids and default in index._row:
        ids = [default] + ids
    if not ids:
        if query.strip():
            st.caption(f"No track or artist matches “{query}”.")
        return None
    return st.selectbox("Track", ids, key=f"{key}_pick", label_visibility="collapsed",
                        format_func=lambda t: track_label(index, t))


def spotify_id(track_id: str, uri: str | None = None) -> str | None:
    """The Spotify track id if it looks real (22 base-62 characters), else None."""
    candidate = (uri or "").rsplit(":", 1)[-1] if uri else track_id
    if isinstance(candidate, str) and len(candidate) == 22 and candidate.isalnum():
        return candidate
    return None


def spotify_embed(track_id: str, uri: str | None = None, height: int = 152) -> None:
    """The Spotify player for a track; offline it simply does not load (no error)."""
    sid = spotify_id(track_id, uri)
    if sid is None:
        st.caption("No Spotify player: this track has no Spotify id.")
        return
    st.iframe(f"https://open.spotify.com/embed/track/{sid}", height=height,
              alt="Spotify player (loads when you are online)")


def selected_rows(event: Any, fig: Any) -> list[int]:
    """Catalog rows of the points selected on a plotly chart (box, lasso or click).

    Every trace's ``customdata[:, 0]`` holds the catalog row of its points; a selected
    point is mapped through its (curve_number, point_index), so the result does not depend
    on how the frontend serialises customdata.
    """
    points = (((event or {}).get("selection") or {}).get("points") or []) if event else []
    trace_rows = [[int(r) for r in (tr.customdata[:, 0] if tr.customdata is not None else [])]
                  for tr in fig.data]
    rows = set()
    for p in points:
        c, i = p.get("curve_number"), p.get("point_index", p.get("point_number"))
        if c is not None and i is not None and c < len(trace_rows) and i < len(trace_rows[c]):
            rows.add(trace_rows[c][i])
    return sorted(rows)
