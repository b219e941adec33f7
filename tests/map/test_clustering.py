"""HDBSCAN stage: finds planted clusters, noise is -1, soft membership, honest scores."""
from __future__ import annotations

import numpy as np

from pipeline.config import ClusterConfig
from pipeline.map.clustering import _usefulness, build_clusters, score


def _planted(n_per=120, k=9, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[np.cos(a) * 10, np.sin(a) * 10] for a in np.linspace(0, 2 * np.pi, k, False)])
    pts = np.vstack([c + rng.normal(0, 0.6, (n_per, 2)) for c in centres])
    noise = rng.uniform(-14, 14, (60, 2))
    return np.vstack([pts, noise]).astype(np.float32), np.repeat(np.arange(k), n_per)


def test_finds_planted_clusters_and_scores_them():
    x, truth = _planted()
    res = build_clusters({"map2d": x}, ClusterConfig(min_cluster_sizes=(50,), min_samples=(5,)), 0)
    r = res.report
    assert r["n_clusters"] == 9 and r["space"] == "map2d"
    assert r["noise_share"] < 0.1
    assert r["silhouette"] > 0.7 and r["silhouette"] > r["kmeans_baseline"]["silhouette"] - 0.05
    assert r["kmeans_baseline"]["k"] == 9
    assert r["dbcv"] is not None and len(r["per_cluster_silhouette"]) == 9
    assert "non-noise" in r["silhouette_points"]
    assert res.membership.shape == (len(x), 9)
    assert np.allclose(res.membership.sum(axis=1), 1, atol=1e-4)
    noise = res.labels == -1
    assert noise.any() and (res.nearest[noise] >= 0).all()  # unclustered still placeable
    assert (res.nearest[~noise] == res.labels[~noise]).all()


def test_grid_choice_is_recorded_and_is_the_most_useful():
    x, _ = _planted()
    cfg = ClusterConfig(min_cluster_sizes=(20, 50), min_samples=(2, 5), selections=("eom", "leaf"))
    r = build_clusters({"map2d": x}, cfg, 0).report
    assert len(r["candidates"]) == 8
    best = max(r["candidates"], key=lambda c: _usefulness(c, cfg.min_clusters))
    assert {k: best[k] for k in r["params"]} == r["params"]


def test_scores_without_clusters_are_none():
    x = np.random.default_rng(0).normal(size=(50, 2))
    r = score(x, np.full(50, -1), ClusterConfig(), 0)
    assert r["n_clusters"] == 0 and r["silhouette"] is None and r["noise_share"] == 1.0
