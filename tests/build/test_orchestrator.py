"""Orchestrator: artifacts, caching (nothing recomputed), partial rebuilds, determinism."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from catalog_fixtures import small_config
from pipeline.build import STAGES, build, is_stale
from pipeline.config import ClusterConfig
from pipeline.errors import CatalogError
from pipeline.store import read_npy

REQUIRED_METRICS = [
    "catalog.rows_read", "catalog.tracks", "catalog.rejected_rows", "catalog.duplicate_ids_merged",
    "catalog.same_song_groups", "embedding.dim", "embedding.objective", "embedding.validation",
    "clusters.space", "clusters.n_clusters", "clusters.noise_share", "clusters.silhouette",
    "clusters.dbcv", "clusters.kmeans_baseline.k", "clusters.kmeans_baseline.silhouette",
]


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


def test_every_artifact_and_metric_is_written(built_small_cache):
    for stage in STAGES:
        for out in stage.outputs:
            assert (built_small_cache / out).exists(), out
    metrics = json.loads((built_small_cache / "metrics.json").read_text())
    for key in REQUIRED_METRICS:
        _get(metrics, key)
    assert set(metrics["timings_s"]) == {s.name for s in STAGES}
    manifest = json.loads((built_small_cache / "manifest.json").read_text())
    assert manifest["catalog"][0]["md5"] and manifest["libraries"]["torch"].startswith("2.13")
    assert manifest["config"]["seed"] == small_config().seed
    rejects = pd.read_csv(built_small_cache / "rejects.csv")
    assert len(rejects) == metrics["catalog"]["rejected_rows"] == 3
    assert not list(built_small_cache.glob(".*"))  # no temp files left behind


def test_unchanged_rebuild_recomputes_nothing(built_small_cache, catalog_csv):
    build([catalog_csv], built_small_cache, small_config())
    manifest = json.loads((built_small_cache / "manifest.json").read_text())
    assert manifest["last_run"]["recomputed"] == []
    assert is_stale(built_small_cache) == []


def test_config_change_recomputes_only_downstream(built_small_cache, catalog_csv, tmp_path):
    cache = tmp_path / "copy"
    shutil.copytree(built_small_cache, cache)
    cfg = small_config().model_copy(update={"clusters": ClusterConfig(min_cluster_sizes=(20,))})
    assert is_stale(cache, cfg=cfg) == ["clusters", "aggregates"]  # and what reads it
    build([catalog_csv], cache, cfg)
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["last_run"]["recomputed"] == ["clusters", "aggregates"]


def test_missing_artifact_is_rebuilt(built_small_cache, catalog_csv, tmp_path):
    cache = tmp_path / "copy"
    shutil.copytree(built_small_cache, cache)
    (cache / "map2d.npy").unlink()
    build([catalog_csv], cache, small_config(), workers=2)  # a chain: nothing to overlap
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["last_run"]["recomputed"] == ["projection", "clusters", "aggregates"]
    assert np.array_equal(read_npy(cache / "map2d.npy"), read_npy(built_small_cache / "map2d.npy"))


def test_same_seed_same_artifacts_with_parallel_workers(built_small_cache, catalog_csv, tmp_path):
    """The reference cache ran in one process; this one on two spawned workers (stages
    overlapped, UMAP warmed up early). Same seed: the same artifacts, byte for byte."""
    again = tmp_path / "again"
    build([catalog_csv], again, small_config(), workers=2)
    manifest = json.loads((again / "manifest.json").read_text())
    assert manifest["last_run"]["workers"] == 2
    assert manifest["last_run"]["recomputed"] == [s.name for s in STAGES]
    assert (again / "ranker.txt").read_text() == (built_small_cache / "ranker.txt").read_text()
    for name in ["features.npy", "embedding.npy", "neighbors_idx.npy", "map2d.npy", "membership.npy"]:
        assert np.array_equal(read_npy(built_small_cache / name), read_npy(again / name)), name
    a = pd.read_parquet(built_small_cache / "clusters.parquet")
    b = pd.read_parquet(again / "clusters.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_parallel_build_raises_the_stage_error(tmp_path, catalog_csv):
    """An error inside a worker process reaches the caller as the same, readable error."""
    bad = tmp_path / "no_tempo.csv"
    pd.read_csv(catalog_csv).drop(columns=["tempo"]).to_csv(bad, index=False)
    with pytest.raises(CatalogError, match="tempo"):
        build([bad], tmp_path / "cache", small_config(), workers=2)
