"""Errors a user can act on: each message names the file, the column and the fix."""
from __future__ import annotations


class CatalogError(ValueError):
    """The catalog file as a whole cannot be used (unreadable, empty, missing columns)."""


class CacheError(RuntimeError):
    """The cache directory is missing, incomplete, was built by another version, or cannot be
    used (a file in its place, not writable)."""


class BuildError(RuntimeError):
    """A build could not run for a reason outside the catalog and the cache: the Dask
    scheduler cannot be reached, or a stage's worker kept dying."""
