"""HDBSCAN stage: finds planted clusters, noise is -1, soft membership, honest scores."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import ClusterConfig
from pipeline.map import NOT_PREVIOUS, kept_share
from pipeline.map.clustering import (
    _usefulness,
    assign_fringe,
    build_clusters,
    playlist_agreement,
    playlist_genres,
    score,
)


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
    assert len(r["candidates"]) == 8 and r["constraints_met"]
    best = max(r["candidates"], key=lambda c: _usefulness(c, cfg.min_clusters))
    assert {k: best[k] for k in r["params"]} == r["params"]


def _two_densities(seed=0):
    """Nine planted clusters, five tight and four diffuse."""
    rng = np.random.default_rng(seed)
    tight = [c + rng.normal(0, 0.3, (150, 2)) for c in np.array([[0, 0], [0, 8], [0, 16],
                                                                  [-8, 4], [-8, 12]])]
    loose = [c + rng.normal(0, 1.6, (150, 2)) for c in np.array([[12, 0], [12, 8], [12, 16],
                                                                  [20, 8]])]
    return np.vstack(tight + loose).astype(np.float32)


# On _two_densities, leaf selection with min_cluster_size 40: min_samples 40 leaves 7.9 %
# unclustered at silhouette 0.84, min_samples 3 6.4 % at 0.80, min_samples 1 12.1 % at 0.72.
_LEAF = dict(min_cluster_sizes=(40,), selections=("leaf",), min_clusters=5, fringe_ratio=None)


def test_a_setting_with_too_much_noise_is_never_chosen_when_a_compliant_one_exists():
    x = _two_densities()
    cfg = ClusterConfig(**_LEAF, min_samples=(40, 3, 1), max_noise_share=0.07)
    r = build_clusters({"map2d": x}, cfg, 0).report
    rank = sorted(r["candidates"], key=lambda c: -_usefulness(c, cfg.min_clusters))
    assert rank[0]["min_samples"] == 40 and rank[0]["noise_share"] > 0.07  # first by score...
    assert r["params"]["min_samples"] == 3                # ...but the constraint decides
    assert r["constraints_met"] and r["noise_share"] <= 0.07 and r["n_clusters"] >= 5
    loose = build_clusters({"map2d": x}, ClusterConfig(**{**_LEAF, "min_samples": (40, 3, 1)},
                                                       max_noise_share=0.5), 0).report
    assert loose["params"]["min_samples"] == 40           # without the limit: the soft score


def test_no_compliant_setting_keeps_the_least_noisy_and_says_so():
    cfg = ClusterConfig(**_LEAF, min_samples=(40, 1, 3), max_noise_share=0.0)
    r = build_clusters({"map2d": _two_densities()}, cfg, 0).report
    assert not r["constraints_met"] and r["params"]["min_samples"] == 3


def test_too_few_clusters_is_never_chosen_when_enough_exist():
    x, _ = _planted()
    cfg = ClusterConfig(min_cluster_sizes=(50, 300), min_samples=(5,), selections=("eom",),
                        max_cluster_share=1.0, fringe_ratio=None, max_noise_share=1.0)
    r = build_clusters({"map2d": x}, cfg, 0).report
    assert r["n_clusters"] >= cfg.min_clusters and r["constraints_met"]


def test_fringe_assignment_takes_only_unambiguous_noise():
    labels = np.array([0, 1, -1, -1, -1, -1])
    prob = np.array([0.9, 0.8, 0, 0, 0, 0], np.float32)
    m = np.array([[.9, .1], [.2, .8], [.7, .3], [.5, .5], [.1, .9], [.6, .4]], np.float32)
    lab, p = assign_fringe(labels, prob, m, 2.0)
    assert lab.tolist() == [0, 1, 0, -1, 1, -1]           # 0.7 >= 2 x 0.3; 0.6 < 2 x 0.4
    assert p.tolist() == pytest.approx([0.9, 0.8, 0.7, 0, 0.9, 0])
    assert assign_fringe(labels, prob, m, None)[0].tolist() == labels.tolist()
    one = assign_fringe(labels, prob, m[:, :1], 2.0)[0]   # one cluster: nothing to decide
    assert one.tolist() == labels.tolist()


def test_fringe_assignment_lowers_noise_in_the_build():
    x, truth = _planted()
    base = dict(min_cluster_sizes=(50,), min_samples=(5,), selections=("eom",))
    plain = build_clusters({"map2d": x}, ClusterConfig(**base, fringe_ratio=None), 0)
    fringe = build_clusters({"map2d": x}, ClusterConfig(**base, fringe_ratio=1.5), 0)
    assert fringe.report["noise_share"] < plain.report["noise_share"]
    assert fringe.report["hdbscan_noise_share"] == plain.report["noise_share"]
    joined = (plain.labels < 0) & (fringe.labels >= 0)
    assert joined.any()
    assert (fringe.labels[joined] == fringe.membership[joined].argmax(axis=1)).all()
    # a joined track went to the cluster whose centre is nearest (scattered noise points)
    centres = np.array([x[plain.labels == c].mean(axis=0) for c in range(9)])
    closest = np.linalg.norm(x[joined][:, None] - centres[None], axis=2).argmin(axis=1)
    assert (fringe.labels[joined] == closest).mean() > 0.9
    assert (fringe.labels >= 0).sum() - (plain.labels >= 0).sum() == joined.sum()


def test_playlist_genres_take_each_tracks_most_frequent_value():
    tracks = pd.DataFrame({"track_id": ["a", "b", "c"]})
    mem = pd.DataFrame({"track_id": ["a", "a", "a", "b", "b"],
                        "genre": ["rock", "pop", "rock", "rap", "latin"],
                        "subgenre": ["hard rock", "dance pop", "hard rock", "trap", "tropical"]})
    g = playlist_genres(tracks, mem)
    assert g["genre"].tolist()[:2] == ["rock", "latin"]   # majority; tie: alphabetical
    assert g["subgenre"].tolist()[:2] == ["hard rock", "trap"]
    assert g.loc[2].isna().all()                          # in no playlist


def test_ami_against_a_known_answer():
    x, truth = _planted()
    genres = pd.DataFrame({"genre": np.r_[truth % 3, [np.nan] * 60],
                           "subgenre": np.r_[truth, [np.nan] * 60]}).astype(object)
    genres = genres.where(genres.notna(), None)
    res = build_clusters({"map2d": x}, ClusterConfig(min_cluster_sizes=(50,), min_samples=(5,)),
                         0, genres)
    a = res.report["playlist_ami"]
    assert a["subgenre"]["clusters"] > 0.95 and a["subgenre"]["tracks"] == len(truth)
    assert a["subgenre"]["classes"] == 9
    assert 0.4 < a["genre"]["clusters"] < a["subgenre"]["clusters"]  # 3 groups of 3 clusters
    rng = np.random.default_rng(0)                     # unrelated labels: AMI near 0
    cfg = ClusterConfig()
    shuffled = playlist_agreement(rng.permutation(res.nearest), res.nearest, genres, cfg, 0)
    assert abs(shuffled["subgenre"]["clusters"]) < 0.05
    assert shuffled["subgenre"]["kmeans"] > 0.95


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


def test_a_refit_prefers_the_setting_that_agrees_with_the_previous_labels():
    """Nine planted blobs in three tight groups of three: "eom" finds the three groups
    (the higher silhouette), "leaf" the nine blobs. Without previous labels the most useful
    compliant setting (eom) wins; with the previous build's labels (the nine blobs; 10% of
    the tracks new, NOT_PREVIOUS) the setting that keeps them (leaf) wins."""
    rng = np.random.default_rng(0)
    groups = np.array([[0, 0], [40, 0], [20, 35]])
    offsets = np.array([[0, 0], [2, 0], [1, 1.74]])
    x = np.vstack([g + o + rng.normal(0, 0.5, (100, 2)) for g in groups for o in offsets])
    blob = np.repeat(np.arange(9), 100)
    cfg = ClusterConfig(min_cluster_sizes=(40,), min_samples=(5,), selections=("eom", "leaf"),
                        min_clusters=2, max_cluster_share=1.0)
    cold = build_clusters({"map2d": x.astype(np.float32)}, cfg, 0)
    previous = np.where(rng.random(len(x)) < 0.1, NOT_PREVIOUS, blob)
    warm = build_clusters({"map2d": x.astype(np.float32)}, cfg, 0, previous=previous)
    held = previous != NOT_PREVIOUS
    assert cold.report["params"]["selection"] == "eom" and cold.report["n_clusters"] == 3
    assert warm.report["params"]["selection"] == "leaf" and warm.report["n_clusters"] == 9
    assert warm.report["constraints_met"] and "previous build" in warm.report["selection_rule"]
    assert kept_share(blob[held], warm.labels[held], 0.1) > 0.85
    assert kept_share(blob[held], cold.labels[held], 0.1) < 0.5
    agree = {c["selection"]: c["agreement_with_previous"] for c in warm.report["candidates"]}
    assert agree["leaf"] > 0.7 > 0.5 > agree["eom"]  # HDBSCAN labels, before fringe
    assert "agreement_with_previous" not in cold.report["candidates"][0]
