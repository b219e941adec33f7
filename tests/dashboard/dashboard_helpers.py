"""Small helpers shared by the dashboard tests."""
from __future__ import annotations

from pathlib import Path


def first_artist(cache: Path) -> str:
    """An artist of the catalog in the cache (the most frequent one)."""
    import pipeline

    return str(pipeline.load(cache).tracks["artist"].value_counts().index[0])


def some_track(cache: Path, i: int = 0) -> str:
    import pipeline

    return str(pipeline.load(cache).tracks["track_id"].iloc[i])
