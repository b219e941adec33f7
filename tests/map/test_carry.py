"""A refit's final partition carries the previous ids where the new space supports them
(pipeline/map/carry.py), on synthetic maps with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import ClusterConfig
from pipeline.map import NOT_PREVIOUS, carry_labels, neighbour_membership, partition_figures
from pipeline.map.carry import anchors

CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])  # old clusters 0, 1, 2


def _blobs(n_per: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(3 * n_per, 2) points around CENTRES and their cluster (0, 1, 2)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(0, 1, (n_per, 2)) for c in CENTRES])
    return x, np.repeat(np.arange(3), n_per)


def test_a_split_cluster_keeps_its_id():
    x, old = _blobs()
    fresh = old.copy()
    a = np.flatnonzero(old == 0)
    fresh[a[x[a, 0] > 0]] = 9  # the refit cut cluster 0 in two; the half is unmatched
    res = carry_labels(x, fresh, old, k=15, stickiness=0.75, min_size=10)
    assert np.array_equal(res.labels, old) and res.support.min() > 0.5


def test_merged_clusters_keep_their_ids():
    x, old = _blobs()
    fresh = np.where(old == 2, 1, old)  # the refit merged 2 into 1
    res = carry_labels(x, fresh, old, k=15, stickiness=0.75, min_size=10)
    assert np.array_equal(res.labels, old)


def test_a_track_whose_neighbourhood_moved_takes_its_neighbours_id():
    x, old = _blobs()
    previous = old.copy()
    moved = np.flatnonzero(old == 1)[[0, 20, 40]]
    previous[moved] = 0  # three tracks of old cluster 0 now lie, apart, inside cluster 1
    res = carry_labels(x, old, previous, k=15, stickiness=0.75, min_size=10)
    assert (res.labels[moved] == 1).all()
    others = np.setdiff1d(np.arange(len(x)), moved)
    assert np.array_equal(res.labels[others], previous[others])
    # stickiness >= 1 keeps every previous id, however the space disagrees
    assert np.array_equal(carry_labels(x, old, previous, 15, 1.0, 10).labels, previous)


def test_a_genuinely_new_cluster_gets_its_fresh_id():
    x, old = _blobs()
    rng = np.random.default_rng(1)
    new_blob = np.array([10.0, 10.0]) + rng.normal(0, 1, (40, 2))
    x = np.concatenate([x, new_blob])
    previous = np.concatenate([old, np.full(40, NOT_PREVIOUS)])
    fresh = np.concatenate([old, np.full(40, 7)])  # id 7: matched no previous cluster
    res = carry_labels(x, fresh, previous, k=15, stickiness=0.75, min_size=10)
    assert (res.labels[-40:] == 7).all() and np.array_equal(res.labels[:-40], old)


def test_new_tracks_and_noise():
    x, old = _blobs()
    rng = np.random.default_rng(2)
    x = np.concatenate([x, CENTRES[0] + rng.normal(0, 0.5, (5, 2)),
                        np.array([[5.0, 5.0]])])
    previous = np.concatenate([old, np.full(5, NOT_PREVIOUS), [-1]])
    fresh = np.concatenate([old, np.full(5, -1), [0]])  # HDBSCAN left the new ones out
    res = carry_labels(x, fresh, previous, k=15, stickiness=0.75, min_size=10)
    assert (res.labels[-6:-1] == 0).all()  # new tracks take their neighbours' id
    assert res.labels[-1] == -1  # previous noise between clusters stays noise


def test_a_re_cut_of_old_clusters_is_not_new_structure():
    _, old = _blobs()
    fresh = np.where(old == 2, 8, old)  # unmatched id 8 over old cluster 2's tracks
    previous = old.copy()
    assert np.array_equal(anchors(fresh, previous), old)
    previous[old == 2] = -1  # were noise before: now it is new structure
    assert (anchors(fresh, previous)[old == 2] == 8).all()


def test_a_remnant_smaller_than_min_size_dissolves():
    x, old = _blobs()
    previous = old.copy()
    a = np.flatnonzero(old == 0)
    previous[a[:4]] = 5  # a tiny old cluster inside cluster 0
    res = carry_labels(x, old, previous, k=15, stickiness=1.5, min_size=10)
    assert res.dissolved == [5] and (res.labels[a[:4]] == 0).all()


def test_stickiness_zero_smooths_and_supports_are_shares():
    x, old = _blobs()
    rng = np.random.default_rng(3)
    noisy = np.where(rng.random(len(old)) < 0.1, (old + 1) % 3, old)
    res = carry_labels(x, old, noisy, k=15, stickiness=0.0, min_size=10)
    assert (res.labels == old).mean() > 0.98
    assert res.support.min() >= 0 and res.support.max() <= 1
    assert res.neighbours.shape == (len(x), 15)
    assert not (res.neighbours == np.arange(len(x))[:, None]).any()


def test_neighbour_membership_rows():
    labels = np.array([0, 0, 2, -1, -1])
    nb = np.array([[1, 2], [0, 2], [0, 1], [4, 4], [3, 3]])
    m = neighbour_membership(labels, nb, np.array([0, 2, 3]), 3)
    assert m.shape == (3, 3)
    assert np.allclose(m[0], [0.5, 0, 0.5]) and np.allclose(m[1], [1, 0, 0])
    assert not m[2].any()  # every neighbour unclustered


def test_partition_figures_by_id():
    x, old = _blobs()
    labels = np.where(old == 1, 4, old)  # ids 0, 2, 4: 1 and 3 held by no cluster
    fig = partition_figures(x, labels, labels, ClusterConfig(), 0)
    assert fig["n_clusters"] == 3 and fig["sizes"] == [60, 0, 60, 0, 60]
    per = fig["per_cluster_silhouette"]
    assert per[1] is None and per[3] is None and all(per[c] > 0.5 for c in (0, 2, 4))
    assert fig["silhouette"] > 0.5 and fig["noise_share"] == 0.0


@pytest.mark.parametrize("stickiness", [0.5, 0.75])
def test_carry_is_deterministic(stickiness):
    x, old = _blobs()
    rng = np.random.default_rng(4)
    fresh = np.where(rng.random(len(old)) < 0.2, -1, old)
    a = carry_labels(x, fresh, old, 15, stickiness, 10)
    b = carry_labels(x, fresh, old, 15, stickiness, 10)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.support, b.support)
