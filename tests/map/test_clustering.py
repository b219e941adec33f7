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


def test_sample_fit_extends_labels_to_every_track():
    """Fitted on a sample, every other track takes its neighbours' cluster; the planted
    clusters are still found, and the grid scales min_cluster_size with the fitted points."""
    x, truth = _planted(n_per=400)
    cfg = ClusterConfig(min_cluster_sizes=(30,), min_samples=(5,), selections=("eom",),
                        fit_sample=1500, reference_tracks=500)
    res = build_clusters({"map2d": x}, cfg, 0)
    r = res.report
    assert r["n_clusters"] == 9 and "1500 sampled tracks" in r["fitted_on"]
    assert "x 3.00" in r["fitted_on"]                      # 1500 / 500
    assert res.labels.shape == (len(x),) and res.membership.shape == (len(x), 9)
    assert np.allclose(res.membership.sum(axis=1), 1, atol=1e-4)
    clustered = res.labels[: len(truth)] >= 0
    # each planted cluster maps to one found cluster, for fitted and extended tracks alike
    for c in range(9):
        found = res.labels[: len(truth)][(truth == c) & clustered]
        assert np.bincount(found).max() / len(found) > 0.98
    assert clustered.mean() > 0.9
    assert ((res.probability >= 0) & (res.probability <= 1)).all()


def test_small_catalogs_fit_everything_unscaled():
    x, _ = _planted()
    r = build_clusters({"map2d": x}, ClusterConfig(min_cluster_sizes=(50,), min_samples=(5,)),
                       0).report
    assert r["fitted_on"] == f"all {len(x)} tracks"
