"""The cache guard and the build panel.

Every page starts with ``index = guard.require_index()``: a missing or unreadable cache
shows a clear message and a build button (never a traceback) and stops the page; a stale
cache shows a warning with the same button and the page goes on with the artifacts it has.
The build button runs the pipeline's orchestrator with a live progress display.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import jobs
from dashboard.loaders import (
    _load_index,
    _load_recommender,
    _manifest_mtime,
    _stale_stages,
    cache_dir,
    clear,
)
from pipeline.config import PipelineConfig
from pipeline.errors import CacheError, CatalogError

log = logging.getLogger(__name__)


def require_index() -> Any:
    """The loaded :class:`pipeline.api.CatalogIndex`, or a message + build button and stop."""
    try:
        cache = cache_dir()
    except CacheError as exc:  # $CACHE_DIR names a store the dashboard cannot read
        st.error(f"The catalog cache cannot be read. {exc}")
        st.stop()
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
    _say_build_changes(cache)
    stale = _stale_stages(str(cache), _manifest_mtime(cache))
    if stale:
        st.warning(f"The cache at {cache} is out of date: stages {', '.join(stale)} would be "
                   "rebuilt (configuration or pipeline version changed). The pages show the "
                   "last build until you rebuild.")
        with st.expander("Rebuild now"):
            build_panel(cache, key="guard_stale")
    return index


def _say_build_changes(cache: Path) -> None:
    """Builds are published whole (pipeline/generations.py): a page shows the served build
    while a rebuild runs, and the new one from the next rerun on. Say both."""
    from pipeline.generations import resolve

    holder = jobs.lock_holder(cache)
    if holder is not None:
        st.caption(f"A rebuild of this catalog is running ({holder.describe()}); the pages "
                   "show the current build until it has finished.")
    served = resolve(cache).name
    seen = st.session_state.get("_build_seen")
    if seen is not None and seen != served:
        st.toast("A newer build of the catalog was published: the pages now show it.")
    st.session_state["_build_seen"] = served


def require_recommender() -> Any:
    """The loaded ``Recommender`` or an error naming what is missing, then stop."""
    cache = cache_dir()
    try:
        return _load_recommender(str(cache), _manifest_mtime(cache))
    except ImportError as exc:
        st.error(f"The recommender module is not available ({exc}). "
                 "Update the checkout: the pipeline.recommend package provides it.")
    except (CacheError, FileNotFoundError) as exc:
        st.error(f"The recommender could not load from {cache}: {exc}")
        build_panel(cache, key="guard_recommender")
    except Exception as exc:  # noqa: BLE001
        log.exception("loading the recommender failed")
        st.error(f"The recommender could not load from {cache} ({type(exc).__name__}: {exc}).")
    st.stop()


def run_build(cache: Path, force: bool = False) -> dict | None:
    """Run the orchestrator with a live progress display; returns metrics or None on error."""
    from pipeline.build import build
    from pipeline.catalog import preflight, resolve_catalog

    with st.status("Building the catalog cache…", expanded=True) as status:
        bar = st.progress(0.0, text="Finding the catalog")

        def progress(stage: str, i: int, n: int, cached: bool) -> None:
            word = "reused from cache" if cached else "running"
            bar.progress(i / n, text=f"Stage {i + 1}/{n}: {stage} ({word})")
            st.write(f"{'✓' if cached else '▶'} {stage} — {word}")

        try:
            files = _catalog_files(cache) or resolve_catalog(None)
            st.write(f"Catalog: {', '.join(str(f) for f in files)}")
            # Whole-file problems (missing column, unknown schema, unwritable cache) in about
            # a second, before any worker starts (helper "ingest"'s preflight).
            checked = preflight(files, cache)
            st.write(f"Preflight: {len(files)} file(s) fine in {checked.seconds:.1f} s"
                     + (f", {checked.tracks:,} tracks" if checked.complete else ""))
            # One process: starting build workers briefly swaps sys.modules["__main__"]
            # (pipeline.build.engines.local), which the Streamlit server shares with every session's
            # script. `make run` builds with 2 workers.
            # Single-flight (dashboard/jobs.py): a build already running on this cache, from
            # any session, is joined; one in another process is waited for.
            metrics = jobs.run_shared(
                cache, "build", lambda report: build(files, cache, _cache_config(cache),
                                                     force=force, progress=report, workers=1),
                progress=progress, say=st.info)
        except (CatalogError, CacheError, OSError, ValueError) as exc:
            log.exception("build failed")
            status.update(label="Build failed", state="error")
            st.error(f"The build failed: {exc}")
            return None
        bar.progress(1.0, text="Done")
        status.update(label="Cache built", state="complete", expanded=False)
    clear()
    return metrics


def _cache_config(cache: Path) -> PipelineConfig | None:
    """The configuration the cache was built with (its config.json), so that a rebuild
    reuses the unchanged stages; None (the defaults) for a new cache or an unreadable file."""
    try:
        return PipelineConfig.from_file(cache / "config.json")
    except (OSError, ValueError) as exc:
        log.info("no usable config in %s (%s); building with the defaults", cache, exc)
        return None


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


def build_panel(cache: Path, key: str, confirm: bool = False) -> None:
    """The build button with a note on the command-line equivalent; with ``confirm`` the
    button stays disabled until the user ticks that they mean it (a rebuild of a working
    cache)."""
    note = (f"Equivalent command: `python -m pipeline build --cache {cache}` "
            "(or `make build`). The catalog is $CATALOG if set, else the files the cache "
            "was built from, else data/raw/spotify_songs.csv or the public download; the "
            "configuration is the cache's config.json if it has one, else the defaults.")
    if confirm:     # a working cache: the server path is a developer detail
        with st.expander("Command-line equivalent"):
            st.caption(note)
    else:
        st.caption(note)
    force = st.checkbox("Rebuild every stage (ignore cached stages)", key=f"{key}_force")
    sure = True
    if confirm:
        sure = st.checkbox("Yes, rebuild: the pages are unavailable until it finishes"
                           + (" (every stage recomputed: minutes)" if force else ""),
                           key=f"{key}_confirm")
    if st.button("Build the cache", key=f"{key}_build", type="primary", disabled=not sure):
        if run_build(cache, force=force) is not None:
            st.success("Cache built. Reloading…")
            st.rerun()
