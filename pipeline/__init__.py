"""Catalog Explorer pipeline: ingest, embed, project, cluster, index.

``pipeline.load(cache_dir)`` opens a built cache; ``python -m pipeline build`` makes one.
"""
from __future__ import annotations

from typing import Any

__all__ = ["CatalogIndex", "cache_location", "load"]


def __getattr__(name: str) -> Any:
    """``load`` and ``CatalogIndex`` are imported on first use: the CLI (``python -m
    pipeline``) then starts without the map and recommender libraries, so a bad catalog is
    reported in about a second."""
    if name in __all__:
        from pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
