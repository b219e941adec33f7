"""Exact kNN: matches brute force, excludes self, blockwise equals one block."""
from __future__ import annotations

import numpy as np

from pipeline.map.neighbors import build_neighbors, knn


def test_matches_brute_force_and_excludes_self():
    x = np.random.default_rng(0).normal(size=(300, 12)).astype(np.float32)
    idx, sim = build_neighbors(x, 7)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    full = u @ u.T
    np.fill_diagonal(full, -np.inf)
    expect = np.argsort(-full, axis=1)[:, :7]
    assert (idx != np.arange(300)[:, None]).all()
    assert np.array_equal(np.sort(idx, 1), np.sort(expect, 1))
    assert np.all(np.diff(sim, axis=1) <= 1e-6)


def test_block_size_does_not_change_the_result():
    x = np.random.default_rng(1).normal(size=(257, 5)).astype(np.float32)
    a = knn(x, x, 5, exclude_self=True, block=16)
    b = knn(x, x, 5, exclude_self=True, block=4096)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
