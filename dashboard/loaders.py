"""Cached loaders: the catalog index, the recommender and per-build aggregates.

Everything is keyed by the cache directory and its manifest's mtime, so a rebuild is
picked up on the next rerun. Nothing here trains: artifacts only.
"""
from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from pipeline.map import cluster_label, cluster_summary

log = logging.getLogger(__name__)
# Process-wide by nature (Python's garbage collector is): how many modules were loaded at
# the last freeze, and whether a cached resource was loaded since. See settle_heap().
_HEAP = {"modules": 0, "loaded": False}
_HEAP_LOCK = threading.Lock()


def settle_heap() -> None:
    """Move what is loaded for good (imported libraries, the catalog index, the
    recommender) out of the garbage collector's sight, once after it appears.

    Streamlit runs a full ``gc.collect()`` after every script run; with ~200k long-lived
    objects tracked (pandas, scikit-learn, LightGBM, plotly modules and the loaded build)
    each took 0.2-0.3 s of server CPU per rerun on the default catalog, about a third of a
    page view's server cost. ``gc.freeze()`` after a collection moves them to a permanent
    generation that collections skip; it runs only when modules were imported or a cached
    resource was loaded since the last time (a few times per process and build), so the
    garbage of sessions is still collected.
    """
    n = len(sys.modules)
    if n <= _HEAP["modules"] and not _HEAP["loaded"]:
        return
    with _HEAP_LOCK:
        _HEAP["modules"], _HEAP["loaded"] = n, False
        gc.collect()
        gc.freeze()


def mark_loaded(value: Any) -> Any:
    """Mark that a long-lived resource was loaded (frozen at the end of this run)."""
    _HEAP["loaded"] = True
    return value


def cache_dir() -> Path:
    """The cache directory: ``$CACHE_DIR`` (a path or a ``file://`` URL) or ``cache/``.

    Raises:
        CacheError: ``$CACHE_DIR`` is a remote URL (``s3://``...), named, with what to do.
    """
    from pipeline import cache_location

    return cache_location(os.environ.get("CACHE_DIR", "cache"))


def _manifest_mtime(cache: Path) -> float:
    try:
        return (cache / "manifest.json").stat().st_mtime
    except OSError:
        return 0.0


def build_key() -> tuple[str, float]:
    """Arguments that key a cached function to the current build."""
    cache = cache_dir()
    return str(cache), _manifest_mtime(cache)


@st.cache_resource(show_spinner="Loading the catalog…", max_entries=2)
def _load_index(cache: str, mtime: float) -> Any:
    """``pipeline.load`` once per cache directory and build (keyed by the manifest's mtime)."""
    import pipeline

    return mark_loaded(pipeline.load(cache))


@st.cache_resource(show_spinner="Loading the recommender…", max_entries=2)
def _load_recommender(cache: str, mtime: float) -> Any:
    from pipeline.recommend import Recommender

    # One copy of the tables: the recommender shares the loaded index.
    return mark_loaded(Recommender.load(cache, index=_load_index(cache, mtime)))


@st.cache_data(show_spinner=False, max_entries=4)
def _stale_stages(cache: str, mtime: float) -> list[str]:
    from pipeline.build import is_stale

    try:
        return is_stale(Path(cache))
    except Exception as exc:  # noqa: BLE001 - staleness is advisory; never break a page
        log.warning("could not check whether %s is stale: %s", cache, exc)
        return []


@st.cache_data(show_spinner=False, max_entries=4)
def cluster_table(cache: str, mtime: float) -> pd.DataFrame:
    """Per-cluster summary (names, sizes, silhouettes), cached per build. The names are the
    build's (``index.cluster_names``, written by the clusters stage and kept across
    updates) when it has them; older caches get them computed here."""
    index = _load_index(cache, mtime)
    return cluster_summary(index.tracks, index.metrics,
                           names=getattr(index, "cluster_names", None))


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


@st.cache_resource(show_spinner=False, max_entries=2)
def _load_aggregates(cache: str, mtime: float) -> Any:
    """The build's precomputed aggregates (read-only, shared), None for a cache built
    before the aggregates stage."""
    from pipeline.catalog import read_aggregates

    try:
        return mark_loaded(read_aggregates(cache))
    except Exception as exc:  # noqa: BLE001 - the live path serves instead; never break a page
        log.warning("could not read the aggregates of %s (computing live): %s", cache, exc)
        return None


def precomputed(cache: str, mtime: float, module: str, fn: str, filters: tuple,
                kwargs: dict) -> pd.DataFrame | None:
    """The unfiltered view's table from the build's aggregates, or None (filters, a cache
    without them, or a request they do not hold). docs/AGGREGATES.md."""
    if any(filters):
        return None
    agg = _load_aggregates(cache, mtime)
    if agg is None:
        return None
    from pipeline.catalog import precomputed as read_view

    return read_view(agg, module, fn, kwargs)


@st.cache_data(show_spinner=False, max_entries=128)
def _aggregate(cache: str, mtime: float, module: str, fn: str, filters: tuple,
               kwargs: tuple) -> pd.DataFrame:
    import importlib

    out = precomputed(cache, mtime, module, fn, filters, dict(kwargs))
    if out is not None:
        return out
    index = _load_index(cache, mtime)
    from pipeline.catalog import filter_tracks

    tracks = filter_tracks(index.tracks, *filters)
    return getattr(importlib.import_module(module), fn)(tracks, **dict(kwargs))


def aggregate(fn: str, filters: tuple = (None, None, None), module: str = "pipeline.catalog",
              **kwargs: Any) -> pd.DataFrame:
    """``module.fn(filtered_tracks, **kwargs)`` once per build, filters and arguments: read
    from the build's aggregates when the view is unfiltered and they hold it, else
    computed live.

    ``filters`` is ``(year_range, genres, clusters)`` as tuples (hashable widget values).
    """
    cache, mtime = build_key()
    return _aggregate(cache, mtime, module, fn, filters, tuple(sorted(kwargs.items())))


def clear() -> None:
    """Forget every cached artifact (after a build)."""
    _load_index.clear()
    _load_recommender.clear()
    _load_aggregates.clear()
    _stale_stages.clear()
    st.cache_data.clear()
