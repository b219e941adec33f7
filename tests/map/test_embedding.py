"""Embedding: pair sampling, leak-free validation split, objective fallback, determinism."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import EmbeddingConfig
from pipeline.map.embedding import Groups, _validation_split, build_embedding, retrieval_precision

CFG = EmbeddingConfig(epochs=2, pairs_per_epoch=2000, batch_size=128, dim=8, hidden=32)


def _toy(n=240, with_playlists=True, seed=0):
    rng = np.random.default_rng(seed)
    group = np.arange(n) % 8
    x = (np.eye(8)[group] * 3 + rng.normal(0, 0.5, (n, 8))).astype(np.float32)
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(n)],
                           "artist": [f"a{i % 40}" for i in range(n)],
                           "genres": [[f"g{g}"] for g in group]})
    mem = pd.DataFrame({"track_id": tracks["track_id"], "playlist_id": [f"p{g}" for g in group]})
    return x, tracks, mem if with_playlists else mem.iloc[:0]


def test_groups_sample_pairs_within_a_group():
    g = Groups.from_pairs(np.arange(6), np.array(["a", "a", "b", "b", "b", "c"]))
    assert g.size.tolist() == [2, 3]  # singleton group "c" cannot give a positive pair
    a, b = g.sample(np.random.default_rng(0), 200)
    label = np.array(["a", "a", "b", "b", "b", "c"])
    assert (label[a] == label[b]).all()


def test_validation_split_keeps_val_artists_out_of_training():
    _, tracks, mem = _toy()
    train, labels = _validation_split(tracks, mem, 0.25, np.random.default_rng(0))
    val = np.array([bool(s) for s in labels])
    assert val.any() and train.any()
    val_artists = set(tracks.loc[val, "artist"])
    assert not val_artists & set(tracks.loc[train, "artist"])
    assert not (train & val).any()


def test_embedding_learns_playlists_and_beats_raw_features():
    x, tracks, mem = _toy()
    res = build_embedding(x, tracks, mem, CFG, seed=3)
    assert res.embedding.shape == (len(x), CFG.dim)
    assert np.allclose(np.linalg.norm(res.embedding, axis=1), 1, atol=1e-5)
    v = res.report["validation"]
    assert v["name"] == "val_playlist_precision_at_10" and v["value"] > 0.5
    assert "playlist" in res.report["objective"]


def test_fallback_objective_without_playlists_says_so():
    x, tracks, mem = _toy(with_playlists=False)
    res = build_embedding(x, tracks, mem, CFG, seed=3)
    assert res.report["objective"].startswith("self-supervised")
    assert res.report["validation"]["name"] == "val_heldout_artist_genre_agreement_at_10"


def test_same_seed_same_embedding():
    x, tracks, mem = _toy()
    a = build_embedding(x, tracks, mem, CFG, seed=5).embedding
    b = build_embedding(x, tracks, mem, CFG, seed=5).embedding
    assert np.array_equal(a, b)


def test_retrieval_precision_perfect_and_chance():
    emb = np.repeat(np.eye(3), 12, axis=0).astype(np.float32)
    labels = [{i // 12} for i in range(36)]
    assert retrieval_precision(emb, labels) == 1.0
    assert retrieval_precision(emb, [{0}] * 36) == 1.0
