"""Alignment of a refit to the previous build: Procrustes recovers a known similarity
transform; cluster matching hands old ids to the right new clusters."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.map import (
    displacement_share,
    kept_share,
    match_clusters,
    procrustes,
    relabel,
    remap_columns,
    remap_list,
)


@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_recovers_rotation_scale_translation_and_reflection(reflect):
    rng = np.random.default_rng(0)
    old = rng.normal(size=(500, 2)) * [3.0, 1.0]
    angle = 1.1
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if reflect:
        rot = rot @ np.diag([1.0, -1.0])
    new = 0.37 * old @ rot + [5.0, -2.0]        # what a refit might draw
    tf = procrustes(new, old)
    assert np.allclose(tf.apply(new), old, atol=1e-4)
    assert tf.scale == pytest.approx(1 / 0.37, rel=1e-6)
    assert np.linalg.det(tf.rotation) == pytest.approx(-1.0 if reflect else 1.0)
    assert displacement_share(old, tf.apply(new)) < 1e-5


def test_procrustes_on_noisy_map_moves_points_little():
    rng = np.random.default_rng(1)
    old = rng.normal(size=(400, 2))
    new = (old + rng.normal(scale=0.05, size=old.shape)) @ np.array([[0, 1], [1, 0]]) * 2
    share = displacement_share(old, procrustes(new, old).apply(new))
    assert 0.0 < share < 0.02
    assert displacement_share(old, new) > 0.1  # unaligned it would have moved a lot


def test_procrustes_needs_matching_shapes():
    with pytest.raises(ValueError, match="same shape"):
        procrustes(np.zeros((5, 2)), np.zeros((4, 2)))


def _labels(sizes: dict[int, int]) -> np.ndarray:
    return np.concatenate([np.full(n, c) for c, n in sizes.items()])


def test_matching_renamed_split_vanished_and_new_clusters():
    # old: A=0 (100 tracks), B=1 (100), C=2 (60, vanishes), noise (20)
    old = _labels({0: 100, 1: 100, 2: 60, -1: 20})
    new = old.copy()
    new[old == 0] = 7                                # A renamed to 7
    new[old == 1] = np.where(np.arange(100) < 70, 3, 4)  # B split 70 / 30
    new[old == 2] = -1                               # C dissolves into noise
    new[old == -1] = 9                               # a new cluster out of old noise
    matched = match_clusters(old, new, min_jaccard=0.1)
    assert matched == {7: 0, 3: 1}                   # one-to-one: the smaller part is new
    labels, mapping = relabel(new, matched, next_id=3)  # ids 0..2 were used before
    assert mapping == {7: 0, 3: 1, 4: 3, 9: 4}
    assert (labels[old == 0] == 0).all()
    assert set(labels[old == 1]) == {1, 3}
    assert (labels[old == 2] == -1).all() and (labels[old == -1] == 4).all()
    assert 2 not in set(labels)                      # the vanished id is not reused


def test_matching_needs_minimum_overlap():
    old = _labels({0: 100, 1: 100})
    new = old.copy()
    new[:100] = np.where(np.arange(100) < 5, 5, -1)  # 5 of A's tracks in a new cluster
    new[100:] = 6
    matched = match_clusters(old, new, min_jaccard=0.1)
    assert matched == {6: 1}                         # Jaccard 0.05 is not a match


def test_membership_columns_follow_the_ids():
    m = np.array([[0.7, 0.3], [0.1, 0.9]], np.float32)
    out = remap_columns(m, {0: 4, 1: 1})
    assert out.shape == (2, 5)
    assert np.allclose(out[:, 4], m[:, 0]) and np.allclose(out[:, 1], m[:, 1])
    assert np.allclose(out[:, [0, 2, 3]], 0.0)
    assert remap_list([10, 20], {0: 4, 1: 1}, 0) == [0, 20, 0, 0, 10]


def test_kept_share_counts_what_the_matching_keeps():
    old = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, -1])
    # cluster 0 renamed 5 (all kept), cluster 1 split in 7 (3 tracks) and 8 (1 track):
    # 7 takes id 1, 8 gets a fresh id; one noise track stays noise, one joins 5
    new = np.array([5, 5, 5, 5, 7, 7, 7, 8, -1, 5])
    assert kept_share(old, new, 0.1) == pytest.approx(8 / 10)
    assert kept_share(old, old, 0.1) == 1.0 and kept_share(old[:0], old[:0], 0.1) == 1.0
    assert kept_share(old, np.full(10, -1), 0.1) == pytest.approx(2 / 10)
