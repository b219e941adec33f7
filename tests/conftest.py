"""Shared fixtures: caches built from the synthetic catalog and from the real default catalog."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog_fixtures import make_catalog, real_data, small_config
from pipeline.config import PipelineConfig


@pytest.fixture(scope="session")
def catalog_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "small_catalog.csv"
    make_catalog().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def built_small_cache(tmp_path_factory, catalog_csv) -> Path:
    """A cache built by the real orchestrator from the synthetic catalog."""
    from pipeline.build import build

    cache = tmp_path_factory.mktemp("small_cache")
    build([catalog_csv], cache, small_config())
    return cache


@pytest.fixture(scope="session")
def real_catalog() -> Path:
    return real_data("spotify_songs.csv")


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory, real_catalog) -> Path:
    """A cache built once per session from the real default catalog (full default config)."""
    from pipeline.build import build

    cache = tmp_path_factory.mktemp("real_cache")
    build([real_catalog], cache, PipelineConfig())
    return cache


@pytest.fixture(scope="session")
def updated_cache(tmp_path_factory) -> Path:
    """A small build updated in place: 30 tracks added, 10 removed (changes.json, track_status)."""
    from pipeline.build import build

    work = tmp_path_factory.mktemp("overview-update")
    make_catalog(400, seed=0).to_csv(work / "a.csv", index=False)
    b = make_catalog(430, seed=0)
    b[~b["track_id"].isin([f"T{i:05d}" for i in range(100, 110)])].to_csv(work / "b.csv",
                                                                           index=False)
    build([work / "a.csv"], work / "cache", small_config())
    build([work / "b.csv"], work / "cache", small_config())
    return work / "cache"
