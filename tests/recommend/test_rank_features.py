"""Ranker v3's artist-profile features: correct profiles, the same values whichever way the
pairs are batched (training builds them in chunks of seeds, serving one seed at a time), and
no playlist (held out or not) reaching them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.recommend.rank_features import (
    ARTIST_FEATURES,
    artist_profiles,
    build_signals,
    candidates,
    feature_columns,
    pair_features,
)
from pipeline.recommend.sampling import split_playlists
from rec_fixtures import cache_inputs


@pytest.fixture(scope="module")
def inputs(built_small_cache):
    tracks, mem, x, names, _ = cache_inputs(built_small_cache)
    emb = np.random.default_rng(0).normal(size=(len(tracks), 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return tracks, mem, x, names, emb


def _signals(inputs, memberships):
    tracks, _, x, names, emb = inputs
    return build_signals(tracks, x, names, memberships, emb, np.zeros(len(tracks), np.int32))


def test_artist_profiles_are_means_of_the_artists_tracks():
    artist = np.array([0, 0, 1, 0])
    emb = np.array([[1, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    x = np.array([[0.0], [2.0], [5.0], [4.0]], np.float32)
    year = np.array([2000, 2010, 1990, 2020], float)
    e, m, y = artist_profiles(artist, emb, x, year)
    np.testing.assert_allclose(e[0], np.array([2, 2]) / np.sqrt(8), rtol=1e-6)   # unit mean
    np.testing.assert_allclose(e[1], [1, 0])
    np.testing.assert_allclose(m[:, 0], [2.0, 5.0])
    np.testing.assert_allclose(y, [2010, 1990])


def test_artist_features_are_hybrid_only_columns():
    assert set(ARTIST_FEATURES) <= set(feature_columns(["a"], content_only=False))
    assert not set(ARTIST_FEATURES) & set(feature_columns(["a"], content_only=True))


def test_features_do_not_depend_on_how_seeds_are_batched(inputs):
    """Training featurises many seeds at once (sparse products); serving one seed (the
    gather path): every column, the artist profiles included, must agree."""
    sig = _signals(inputs, inputs[1])
    seeds = np.arange(0, 60, 3)
    group, cand = candidates(sig, seeds, 20, 20, 5, False)
    batch = pair_features(sig, seeds, group, cand, False)
    for i, s in enumerate(seeds[:5]):
        g, c = candidates(sig, np.array([s]), 20, 20, 5, False)
        np.testing.assert_array_equal(c, cand[group == i])
        one = pair_features(sig, np.array([s]), g, c, False)
        pd.testing.assert_frame_equal(one, batch[group == i].reset_index(drop=True))


def test_held_out_playlists_do_not_reach_artist_features(inputs):
    """The artist profiles come from the catalog's content only: holding playlists out (or
    in) changes the co-occurrence features, never the artist-profile ones."""
    tracks, mem, *_ = inputs
    train_m, held_m = split_playlists(mem, 0.3, np.random.default_rng(7))
    assert len(held_m) > 0
    with_all, train_only = _signals(inputs, mem), _signals(inputs, train_m)
    held_rows = np.flatnonzero(tracks["track_id"].isin(held_m["track_id"]))
    seeds = held_rows[:10]
    group, cand = candidates(train_only, seeds, 30, 30, 10, False)
    a = pair_features(with_all, seeds, group, cand, False)
    b = pair_features(train_only, seeds, group, cand, False)
    pd.testing.assert_frame_equal(a[ARTIST_FEATURES], b[ARTIST_FEATURES])
    assert not a["cooc"].equals(b["cooc"])      # the playlists did change what they touch
