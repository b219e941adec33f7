"""Helpers shared by the recommender tests (pytest loads only conftest.py, so the tests
import these explicitly)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import store as io
from pipeline.config import PipelineConfig


def cache_inputs(cache: Path) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[str],
                                       PipelineConfig]:
    """(tracks, memberships, features (n, f), feature names, config) of a built cache."""
    return (io.read_parquet(cache / "tracks.parquet"),
            io.read_parquet(cache / "memberships.parquet"),
            io.read_npy(cache / "features.npy"),
            io.read_json(cache / "feature_scaler.json")["names"],
            PipelineConfig.model_validate(io.read_json(cache / "config.json")))


def copy_cache(cache: Path, dest: Path) -> Path:
    """A private copy of a session cache, for tests that write into it."""
    shutil.copytree(cache, dest)
    (dest / "feedback.sqlite").unlink(missing_ok=True)
    return dest
