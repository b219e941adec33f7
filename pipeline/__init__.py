"""Catalog Explorer pipeline: ingest, embed, project, cluster, index.

``pipeline.load(cache_dir)`` opens a built cache; ``python -m pipeline build`` makes one.
"""
from pipeline.api import CatalogIndex, load

__all__ = ["CatalogIndex", "load"]
