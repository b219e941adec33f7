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
