"""Reusable widgets: charts with their CSV, downloads, filters, the track picker, the
Spotify player, and the mapping of a chart selection back to catalog rows."""
from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import quote_plus

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.loaders import cluster_options
from dashboard.search import search_rows, track_label

INT_COLUMNS = ("year", "popularity", "duration_ms", "key", "mode", "time_signature", "tracks",
               "size", "n", "position", "cluster")

PLOTLY_CONFIG_BASE = {"displaylogo": False, "scrollZoom": True}


def integers_as_integers(df: pd.DataFrame) -> pd.DataFrame:
    """Whole-number columns (years, popularity, durations in ms, counts) as nullable
    integers, so that tables and CSVs show 1970 and 274040, not 1970.0 and 274040.0."""
    out = df.copy()
    for col in out.columns:
        if col in INT_COLUMNS and pd.api.types.is_numeric_dtype(out[col]):
            v = out[col].to_numpy(dtype=float, na_value=np.nan)
            if np.all(np.isnan(v) | (v == np.round(v))):
                out[col] = pd.array(np.round(v), dtype="Float64").astype("Int64")
    return out


def safe_filename(title: str, default: str = "playlist") -> str:
    """A file name (no extension) from a title: letters, digits, "-" and "_" only,
    e.g. "Sunday: chill / 2020" -> "Sunday_chill_2020"."""
    name = re.sub(r"[^\w\-]+", "_", str(title), flags=re.ASCII).strip("_.")[:80]
    return name or default


def download_table(df: pd.DataFrame, name: str, label: str = "Download CSV",
                   key: str | None = None) -> None:
    """A CSV download button for a table (``name`` without extension)."""
    st.download_button(label, csv_bytes(df), file_name=f"{name}.csv",
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
    """CSV text of a table, whole-number columns written as integers."""
    buf = io.StringIO()
    integers_as_integers(df).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def _years_param(lo: int, hi: int):
    def parse(v: list[str]) -> tuple[int, int]:
        a, b = (int(x) for x in v[0].split("-"))
        if not lo <= a <= b <= hi:
            raise ValueError(v)
        return a, b
    return parse


def _subset(options: list, cast=str):
    def parse(v: list[str]) -> list:
        out = [cast(x) for x in v]
        if not set(out) <= set(options):
            raise ValueError(v)
        return out
    return parse


def catalog_filters(index: Any, key: str) -> tuple:
    """Sidebar filters for year range, genres and clusters; returns ``(years, genres, clusters)``.

    Their values survive a visit to another page and are in the URL (``years=1980-1999``,
    ``genre=rock``, ``cluster=3``), so a link reproduces the filtered view.
    """
    years = index.tracks["year"].dropna()
    lo, hi = int(years.min()), int(years.max())
    genres = sorted(index.tracks["genre"].dropna().astype(str).unique())
    options = cluster_options(index, include_noise=True)
    k_y, k_g, k_c = f"{key}_years", f"{key}_genres", f"{key}_clusters"
    state.restore(k_y, (lo, hi), "years", _years_param(lo, hi))
    state.restore(k_g, [], "genre", _subset(genres))
    state.restore(k_c, [], "cluster", _subset(list(options), int))
    with st.sidebar:
        st.subheader("Filters")
        yr = st.slider("Release years", lo, hi, key=k_y)
        g = st.multiselect("Genres", genres, key=k_g, placeholder="All genres")
        c = st.multiselect("Clusters", list(options), format_func=options.get,
                           key=k_c, placeholder="All clusters")
    state.keep(k_y, "years", lambda v: f"{v[0]}-{v[1]}", default=(lo, hi))
    state.keep(k_g, "genre", list)
    state.keep(k_c, "cluster", lambda v: [str(x) for x in v])
    return (None if tuple(yr) == (lo, hi) else tuple(yr)), tuple(g) or None, tuple(c) or None


def track_picker(index: Any, label: str, key: str, default: str | None = None,
                 param: str | None = None) -> str | None:
    """Search box (fuzzy: typos and "title artist" work) + choice of matching tracks, one
    release per song; returns the chosen track id (or ``default``). With ``param`` the
    chosen track id is kept in the URL under that name."""
    pick = f"{key}_pick"
    query = st.text_input(label, key=f"{key}_q", placeholder="type a title or an artist")
    rows = search_rows(query, limit=50)
    ids = index.tracks["track_id"].iloc[rows].tolist()
    current = st.session_state.get(pick)
    if current is None and not query.strip():
        current = state.restore(pick, default, param,
                                lambda v: v[0] if v[0] in index._row else None)
    pinned = current if current in index._row else (default if default in index._row else None)
    if pinned and pinned not in ids and not query.strip():
        ids = [pinned] + ids
    if st.session_state.get(pick) not in ids:
        # The query changed: choose its best match explicitly. Dropping the key is not
        # enough in Streamlit 1.67: a keyed selectbox whose options change keeps showing
        # (and returning) its old choice in the browser.
        if ids:
            st.session_state[pick] = ids[0]
        else:
            st.session_state.pop(pick, None)
    if not ids:
        if query.strip():
            st.caption(f"No track or artist matches “{query}”.")
        if param and param in st.query_params:
            del st.query_params[param]
        return None
    chosen = st.selectbox("Track", ids, key=pick, label_visibility="collapsed",
                          format_func=lambda t: track_label(index, t))
    state.keep(pick, param, default=None)
    return chosen


def fill_year_gaps(df: pd.DataFrame, group: str = "group", year: str = "year") -> pd.DataFrame:
    """Per group, a row of NaN for every missing year between its first and last year, so
    that a line stops at an empty year instead of bridging it (r&b 1974 -> 1984)."""
    parts = []
    for g, d in df.groupby(group, sort=False):
        ys = d[year].astype(int)
        full = pd.DataFrame({year: np.arange(ys.min(), ys.max() + 1)})
        parts.append(full.merge(d, on=year, how="left").assign(**{group: g}))
    return pd.concat(parts, ignore_index=True) if parts else df


def band_xy(d: pd.DataFrame, lo: str = "lo", hi: str = "hi", year: str = "year"
            ) -> tuple[list, list]:
    """x, y of a band polygon per run of consecutive years, runs separated by None (plotly
    fills each run on its own, nothing across an empty year)."""
    d = d.dropna(subset=[lo, hi]).sort_values(year)
    x, y = [], []
    runs = np.split(np.arange(len(d)), np.flatnonzero(np.diff(d[year].to_numpy()) > 1) + 1)
    for run in runs:
        if len(run) == 0:
            continue
        r = d.iloc[run]
        if x:
            x.append(None)
            y.append(None)
        x += list(r[year]) + list(r[year][::-1])
        y += list(r[hi]) + list(r[lo][::-1])
    return x, y


def spotify_id(track_id: str, uri: str | None = None) -> str | None:
    """The Spotify track id if it looks real (22 base-62 characters), else None."""
    candidate = (uri or "").rsplit(":", 1)[-1] if uri else track_id
    if isinstance(candidate, str) and len(candidate) == 22 and candidate.isalnum():
        return candidate
    return None


def youtube_url(artist: Any, title: Any) -> str:
    """A YouTube search for "artist - title" (no API key needed). The catalog text is only
    ever inside the URL's query, percent-encoded, so it cannot become markup or a link."""
    return "https://www.youtube.com/results?search_query=" + quote_plus(f"{artist} - {title}")


def with_youtube(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``youtube_url`` column (a search per row) for a LinkColumn."""
    return df.assign(youtube_url=[youtube_url(a, t) for a, t in
                                  zip(df["artist"], df["track_name"])])


YOUTUBE_COLUMN = st.column_config.LinkColumn("YouTube", display_text="search")


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
