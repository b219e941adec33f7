"""Labels for new points from their nearest labelled points (the clusterer's approximate
prediction from saved arrays)."""
from __future__ import annotations

import numpy as np

from pipeline.map import assign_labels


def test_new_points_take_their_neighbourhoods_label_and_membership():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    ref = np.concatenate([c + rng.normal(size=(50, 2)) for c in centres])
    labels = np.repeat([0, 4, -1], 50)                 # ids need not be contiguous
    prob = np.repeat([0.9, 0.6, 0.0], 50).astype(np.float32)
    membership = np.zeros((150, 5), np.float32)
    membership[:50, 0], membership[50:100, 4], membership[100:, 0] = 1.0, 1.0, 0.5
    membership[100:, 4] = 0.5
    queries = centres + 0.1
    lab, p, m = assign_labels(ref, labels, prob, membership, queries, k=10)
    assert lab.tolist() == [0, 4, -1]
    assert np.allclose(p, [0.9, 0.6, 0.0])
    assert m.shape == (3, 5) and np.allclose(m.sum(axis=1), 1.0)
    assert m[0, 0] == 1.0 and m[1, 4] == 1.0 and np.allclose(m[2, [0, 4]], 0.5)


def test_no_queries():
    lab, p, m = assign_labels(np.zeros((3, 2)), np.zeros(3, int), np.ones(3),
                              np.ones((3, 1)), np.zeros((0, 2)), k=2)
    assert lab.shape == (0,) and m.shape == (0, 1)
