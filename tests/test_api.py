"""pipeline.load: aligned arrays, similar() in the embedding space, clear missing-cache error."""
from __future__ import annotations

import numpy as np
import pytest

import pipeline
from pipeline.errors import CacheError


def test_load_aligns_everything(built_small_cache):
    idx = pipeline.load(built_small_cache)
    n = len(idx.tracks)
    assert idx.embedding.shape[0] == idx.coords.shape[0] == idx.labels.shape[0] == n
    assert idx.membership.shape[0] == n and idx.neighbors.shape[0] == n
    assert (idx.tracks["cluster"].to_numpy() == idx.labels).all()


def test_similar_is_cosine_in_embedding_space(built_small_cache):
    idx = pipeline.load(built_small_cache)
    tid = idx.tracks["track_id"].iloc[3]
    out = idx.similar(tid, k=5)
    assert len(out) == 5 and tid not in set(out["track_id"])
    assert out["similarity"].is_monotonic_decreasing
    e = idx.embedding
    sims = e @ e[3]
    sims[3] = -np.inf
    assert set(out["track_id"]) == set(idx.tracks["track_id"].iloc[np.argsort(-sims)[:5]])
    longer = idx.similar(tid, k=80)  # beyond the precomputed neighbours
    assert len(longer) == 80 and list(longer["track_id"][:5]) == list(out["track_id"])


def test_unknown_track_id_is_named(built_small_cache):
    with pytest.raises(KeyError, match="track_id 'nope' is not in the catalog"):
        pipeline.load(built_small_cache).similar("nope")


def test_missing_cache_says_how_to_build(tmp_path):
    with pytest.raises(CacheError, match=r"cache is missing tracks\.parquet.*python -m pipeline build"):
        pipeline.load(tmp_path)
