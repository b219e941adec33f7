"""Shared dashboard plumbing: cached loaders, the cache guard, session-state keys, downloads.

Every page starts with ``index = require_index()``: a missing or unreadable cache shows a
clear message and a build button (never a traceback) and stops the page; a stale cache
shows a warning with the same button and the page goes on with the artifacts it has.
Nothing here trains: the build button calls the pipeline's orchestrator, which is the
pipeline running with a live progress display.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from pipeline.cluster_profile import cluster_label, cluster_summary
from pipeline.errors import CacheError, CatalogError

log = logging.getLogger(__name__)

# Session-state keys shared between pages (plain keys, not widget keys, so they survive
# moving between pages).
MAP_SELECTION = "map_selection"        # list[str] of track ids selected on the map
PLAYLIST = "current_playlist"          # dict(tracks=records, smoothness, report, recipe)
SEED_TRACK = "seed_track"              # track id chosen on the recommendations page
PLOTLY_CONFIG_BASE = {"displaylogo": False, "scrollZoom": True}


def cache_dir() -> Path:
    """The cache directory: ``$CACHE_DIR`` or ``cache/``."""
    return Path(os.environ.get("CACHE_DIR", "cache"))


def _manifest_mtime(cache: Path) -> float:
    try:
        return (cache / "manifest.json").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Loading the catalog…", max_entries=2)
def _load_index(cache: str, mtime: float) -> Any:
    """``pipeline.load`` once per cache directory and build (keyed by the manifest's mtime)."""
    import pipeline

    return pipeline.load(cache)


@st.cache_resource(show_spinner="Loading the recommender…", max_entries=2)
def _load_recommender(cache: str, mtime: float) -> Any:
    from pipeline.recommend import Recommender

    return Recommender.load(cache)


@st.cache_data(show_spinner=False, max_entries=4)
def _stale_stages(cache: str, mtime: float) -> list[str]:
    from pipeline.orchestrator import is_stale

    try:
        return is_stale(Path(cache))
    except Exception as exc:  # noqa: BLE001 - staleness is advisory; never break a page
        log.warning("could not check whether %s is stale: %s", cache, exc)
        return []


def require_index() -> Any:
    """The loaded :class:`pipeline.api.CatalogIndex`, or a message + build button and stop."""
    cache = cache_dir()
    try:
        index = _load_index(str(cache), _manifest_mtime(cache))
    except CacheError as exc:
        st.error(f"The catalog cache is not ready. {exc}")
        build_panel(cache, key="guard_missing")
        st.stop()
    except Exception as exc:  # noqa: BLE001 - a damaged artifact must not show a traceback
        log.exception("loading %s failed", cache)
        st.error(f"The catalog cache at {cache} could not be read ({type(exc).__name__}: "
                 f"{exc}). Rebuild it below or with `make build`.")
        build_panel(cache, key="guard_broken")
        st.stop()
    stale = _stale_stages(str(cache), _manifest_mtime(cache))
    if stale:
        st.warning(f"The cache at {cache} is out of date: stages {', '.join(stale)} would be "
                   "rebuilt (configuration or pipeline version changed). The pages show the "
                   "last build until you rebuild.")
        with st.expander("Rebuild now"):
            build_panel(cache, key="guard_stale")
    return index


def require_recommender() -> Any:
    """The loaded ``Recommender`` or an error naming what is missing, then stop."""
    cache = cache_dir()
    try:
        return _load_recommender(str(cache), _manifest_mtime(cache))
    except ImportError as exc:
        st.error(f"The recommender module is not available ({exc}). "
                 "Update the checkout: pipeline/recommend.py provides it.")
    except (CacheError, FileNotFoundError) as exc:
        st.error(f"The recommender could not load from {cache}: {exc}")
        build_panel(cache, key="guard_recommender")
    except Exception as exc:  # noqa: BLE001
        log.exception("loading the recommender failed")
        st.error(f"The recommender could not load from {cache} ({type(exc).__name__}: {exc}).")
    st.stop()


def run_build(cache: Path, force: bool = False) -> dict | None:
    """Run the orchestrator with a live progress display; returns metrics or None on error."""
    from pipeline.orchestrator import build
    from pipeline.sources import resolve_catalog

    with st.status("Building the catalog cache…", expanded=True) as status:
        bar = st.progress(0.0, text="Finding the catalog")

        def progress(stage: str, i: int, n: int, cached: bool) -> None:
            word = "reused from cache" if cached else "running"
            bar.progress(i / n, text=f"Stage {i + 1}/{n}: {stage} ({word})")
            st.write(f"{'✓' if cached else '▶'} {stage} — {word}")

        try:
            files = _catalog_files(cache) or resolve_catalog(None)
            st.write(f"Catalog: {', '.join(str(f) for f in files)}")
            # One process: starting build workers briefly swaps sys.modules["__main__"]
            # (pipeline.runner), which the Streamlit server shares with every session's
            # script. `make run` builds with 2 workers.
            metrics = build(files, cache, force=force, progress=progress, workers=1)
        except (CatalogError, CacheError, OSError, ValueError) as exc:
            log.exception("build failed")
            status.update(label="Build failed", state="error")
            st.error(f"The build failed: {exc}")
            return None
        bar.progress(1.0, text="Done")
        status.update(label="Cache built", state="complete", expanded=False)
    _load_index.clear()
    _load_recommender.clear()
    _stale_stages.clear()
    st.cache_data.clear()
    return metrics


def _catalog_files(cache: Path) -> list[Path]:
    """The catalog files the cache was built from, if they all still exist ($CATALOG wins)."""
    import json

    if os.environ.get("CATALOG"):
        return []
    try:
        man = json.loads((cache / "manifest.json").read_text())
        files = [Path(f["path"]) for f in man.get("catalog", [])]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return files if files and all(f.exists() for f in files) else []


def build_panel(cache: Path, key: str) -> None:
    """The build button with a note on the command-line equivalent."""
    st.caption(f"Equivalent command: `python -m pipeline build --cache {cache}` "
               "(or `make build`). The catalog is $CATALOG if set, else the files the cache "
               "was built from, else data/raw/spotify_songs.csv or the public download.")
    force = st.checkbox("Rebuild every stage (ignore cached stages)", key=f"{key}_force")
    if st.button("Build the cache", key=f"{key}_build", type="primary"):
        if run_build(cache, force=force) is not None:
            st.success("Cache built. Reloading…")
            st.rerun()


@st.cache_data(show_spinner=False, max_entries=4)
def cluster_table(cache: str, mtime: float) -> pd.DataFrame:
    """Per-cluster summary (names, sizes, silhouettes), cached per build."""
    index = _load_index(cache, mtime)
    return cluster_summary(index.tracks, index.metrics)


def cluster_names(index: Any) -> dict[int, str]:
    """Cluster id -> name for the current build."""
    cache = cache_dir()
    table = cluster_table(str(cache), _manifest_mtime(cache))
    return dict(zip(table["cluster"].astype(int), table["name"]))


def cluster_options(index: Any, include_noise: bool = False) -> dict[int, str]:
    """Cluster id -> display label, for selectboxes (largest clusters keep their id order)."""
    names = cluster_names(index)
    return {c: cluster_label(c, names) for c in sorted(names)
            if include_noise or c != -1}


def build_key() -> tuple[str, float]:
    """Arguments that key a cached function to the current build."""
    cache = cache_dir()
    return str(cache), _manifest_mtime(cache)


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


def csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


@st.cache_data(show_spinner=False, max_entries=128)
def _aggregate(cache: str, mtime: float, module: str, fn: str, filters: tuple,
               kwargs: tuple) -> pd.DataFrame:
    import importlib

    index = _load_index(cache, mtime)
    from pipeline.trends import filter_tracks

    tracks = filter_tracks(index.tracks, *filters)
    return getattr(importlib.import_module(module), fn)(tracks, **dict(kwargs))


def aggregate(fn: str, filters: tuple = (None, None, None), module: str = "pipeline.trends",
              **kwargs: Any) -> pd.DataFrame:
    """Run ``module.fn(filtered_tracks, **kwargs)`` once per build, filters and arguments.

    ``filters`` is ``(year_range, genres, clusters)`` as tuples (hashable widget values).
    """
    cache, mtime = build_key()
    return _aggregate(cache, mtime, module, fn, filters, tuple(sorted(kwargs.items())))


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


@st.cache_data(show_spinner=False, max_entries=64)
def _search_rows(cache: str, mtime: float, query: str, limit: int) -> list[int]:
    t = _load_index(cache, mtime).tracks
    q = query.strip().lower()
    name = t["track_name"].astype(str).str.lower()
    artist = t["artist"].astype(str).str.lower()
    # exact artist, then title, then artist or title containing the text; popular first
    rank = ((artist == q).to_numpy() * 4 + (name == q).to_numpy() * 3
            + artist.str.contains(q, regex=False).to_numpy()
            + name.str.contains(q, regex=False).to_numpy())
    rows = rank.nonzero()[0]
    key = rank[rows] * 1000 + t["popularity"].fillna(0).to_numpy()[rows]
    return rows[(-key).argsort(kind="stable")][:limit].tolist()


def search_rows(query: str, limit: int = 300) -> list[int]:
    """Rows whose title or artist contains ``query`` (case-insensitive); exact artist or title
    matches first, then by popularity."""
    if not query.strip():
        return []
    cache, mtime = build_key()
    return _search_rows(cache, mtime, query, limit)


def track_label(index: Any, track_id: str) -> str:
    """"Title — Artist (year)" for a track id."""
    r = index.tracks.iloc[index.row(track_id)]
    year = "" if pd.isna(r["year"]) else f" ({int(r['year'])})"
    return f"{r['track_name']} — {r['artist']}{year}"


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
