"""Ranker: deterministic under the seed, LightGBM text round trip, no-playlist fallback,
candidates never include the seed, co-occurrence never densifies."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import RankerConfig
from pipeline.recommend.cooccurrence import Cooccurrence
from pipeline.recommend.labels import artist_label_shares
from pipeline.recommend.rank_features import candidates, feature_columns, pair_features
from pipeline.recommend.ranker import fit_signals, sample_seeds, split_playlists, train_rankers
from pipeline.recommend.sampling import fold_playlists
from rec_fixtures import cache_inputs

FAST = RankerConfig(n_estimators=30, n_emb=40, n_cooc=40, n_same=10)


@pytest.fixture(scope="module")
def inputs(built_small_cache):
    return cache_inputs(built_small_cache)


def test_rankers_are_deterministic_and_round_trip(inputs):
    import lightgbm as lgb

    tracks, mem, x, names, cfg = inputs
    a = train_rankers(tracks, x, names, mem, cfg.embedding, FAST, seed=5)
    b = train_rankers(tracks, x, names, mem, cfg.embedding, FAST, seed=5)
    assert a.report["trained"] and a.report["hybrid"]["groups"] > 0
    assert a.hybrid.model_to_string() == b.hybrid.model_to_string()
    loaded = lgb.Booster(model_str=a.hybrid.model_to_string())
    assert loaded.feature_name() == feature_columns(names, content_only=False)
    assert a.content.feature_name() == feature_columns(names, content_only=True)


def test_no_playlists_falls_back(inputs):
    tracks, mem, x, names, cfg = inputs
    res = train_rankers(tracks, x, names, mem.iloc[:0], cfg.embedding, FAST, seed=5)
    assert res.hybrid is None and res.report["trained"] is False
    assert "no playlists" in res.report["reason"]


def test_candidates_exclude_seed_and_are_unique(inputs):
    tracks, mem, x, names, cfg = inputs
    sig = fit_signals(tracks, x, names, mem, cfg.embedding, FAST, seed=1)
    seeds = np.array([0, 5, 17])
    for content_only in (False, True):
        group, cand = candidates(sig, seeds, 30, 30, 10, content_only)
        for i, s in enumerate(seeds):
            c = cand[group == i]
            assert s not in c and len(np.unique(c)) == len(c)
        feats = pair_features(sig, seeds, group, cand, content_only)
        assert len(feats) == len(cand) and np.isfinite(feats.to_numpy()).all()


def test_cooccurrence_counts_shared_playlists():
    tracks = pd.DataFrame({"track_id": list("abcd"), "artist": ["x", "x", "y", "z"]})
    mem = pd.DataFrame({"track_id": list("abcab"), "playlist_id": ["p", "p", "p", "q", "q"]})
    co = Cooccurrence.fit(tracks, mem)
    counts = co.counts(np.array([0])).toarray().ravel()
    assert counts.tolist() == [2, 2, 1, 0]
    assert [r.tolist() for r in co.top(np.array([0, 3]), 5)] == [[1, 2], []]
    assert co.degree.tolist() == [2, 2, 1, 0]


def test_split_and_seeds_are_disjoint_and_seeded(inputs):
    tracks, mem, *_ = inputs
    tr, te = split_playlists(mem, 0.25, np.random.default_rng(3))
    assert not set(tr["playlist_id"]) & set(te["playlist_id"])
    s1 = sample_seeds(tracks, te, 5, 5, np.random.default_rng(4))
    s2 = sample_seeds(tracks, te, 5, 5, np.random.default_rng(4))
    assert s1.rows.tolist() == s2.rows.tolist() and len(s1.rows) > 0
    for s, rel in zip(s1.rows, s1.relevant):
        assert s not in rel and len(rel) >= 4


def test_folds_label_every_playlist_once(inputs):
    _, mem, *_ = inputs
    folds = fold_playlists(mem, 3, np.random.default_rng(2))
    labels = [set(lab["playlist_id"]) for _, lab in folds]
    assert set().union(*labels) == set(mem["playlist_id"])
    assert sum(len(s) for s in labels) == mem["playlist_id"].nunique()   # disjoint
    for (fit, lab), pls in zip(folds, labels):
        assert not set(fit["playlist_id"]) & pls and len(fit) + len(lab) == len(mem)
    again = fold_playlists(mem, 3, np.random.default_rng(2))
    assert [set(lab["playlist_id"]) for _, lab in again] == labels


def test_cross_fitted_rankers_use_every_fold(inputs):
    tracks, mem, x, names, cfg = inputs
    rc = FAST.model_copy(update={"label_folds": 3})
    a = train_rankers(tracks, x, names, mem, cfg.embedding, rc, seed=5)
    b = train_rankers(tracks, x, names, mem, cfg.embedding, rc, seed=5)
    folds = a.report["label_folds"]
    assert len(folds) == 3 and a.report["label_seeds"] == sum(f["label_seeds"] for f in folds)
    assert a.report["label_playlists"] == mem["playlist_id"].nunique()
    one = train_rankers(tracks, x, names, mem, cfg.embedding,
                        FAST.model_copy(update={"label_folds": 1}), seed=5)
    assert "label_folds" not in one.report
    assert a.report["hybrid"]["groups"] > one.report["hybrid"]["groups"]
    assert a.hybrid.model_to_string() == b.hybrid.model_to_string()
    only = train_rankers(tracks, x, names, mem, cfg.embedding, rc, seed=5, kinds=("hybrid",))
    assert only.content is None
    assert only.hybrid.model_to_string() == a.hybrid.model_to_string()


def test_artist_label_shares_leave_the_track_itself_out():
    """A track's artist profile comes from its artist's *other* tracks: a track whose
    playlists are unknown (held out) must not look different because of its own labels."""
    counts = np.array([[2, 0], [0, 1], [0, 0], [1, 1]], np.float32)  # per track, 2 labels
    artist = np.array([0, 0, 0, 1])
    shares = artist_label_shares(counts, artist)
    np.testing.assert_allclose(shares[0], [0, 1])        # only track 1's label
    np.testing.assert_allclose(shares[1], [1, 0])        # only track 0's labels
    np.testing.assert_allclose(shares[2], [2 / 3, 1 / 3])
    np.testing.assert_allclose(shares[3], [0, 0])        # artist has no other track
