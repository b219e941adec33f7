"""Partitioned stages on Dask: the same artifacts as the local engine when the embedding,
neighbours (faiss HNSW), projection and clusters (both above their fit_sample) and genre
stages really run over partitions of 64 rows; progress per partition from the CLI; a failed partition named with
its stage and rows while the served build stays. Plus the partition arithmetic."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from bench.dask_bench import same_artifact
from catalog_fixtures import small_config
from pipeline import generations as gens
from pipeline import load
from pipeline.build import STAGES, build
from pipeline.build.engines import dask as dask_engine
from pipeline.build.engines.dask import local_cluster
from pipeline.build.engines.partition_files import read_rows, rest_rows
from pipeline.build.engines.partitions import (
    ENV_MIN_ROWS,
    ENV_ROWS,
    MIN_PIECE,
    PARTITIONED,
    PartitionConfig,
    partition_ranges,
)
from pipeline.config import AggregatesConfig, ClusterConfig, NeighborConfig, ProjectionConfig
from pipeline.errors import BuildError
from pipeline.store import save_artifact

ROOT = Path(__file__).resolve().parents[2]
ROWS = 64
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/


def _config():
    """Small enough that every partitioned form applies to the ~390-track catalog: HNSW
    neighbours (exact_max 200), UMAP fitted on 150 tracks and the rest placed, HDBSCAN
    fitted on 150 tracks and the rest labelled from them, aggregates in chunks of 64 rows."""
    cfg = small_config()
    return cfg.model_copy(update={
        "neighbors": NeighborConfig(exact_max=200),
        "projection": ProjectionConfig(fit_sample=150),
        "clusters": ClusterConfig(fit_sample=150),
        "aggregates": AggregatesConfig(chunk_rows=ROWS)})


def _env(monkeypatch=None) -> dict:
    env = {ENV_MIN_ROWS: "1", ENV_ROWS: str(ROWS)}
    if monkeypatch:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
    return env


@pytest.fixture(scope="module")
def builds(tmp_path_factory, catalog_csv):
    """Local engine in-process; Dask through the CLI with partitions of 64 rows."""
    import os

    work = tmp_path_factory.mktemp("partitions")
    (work / "cfg.json").write_text(_config().model_dump_json())
    build([catalog_csv], work / "local", _config(), workers=1)
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--catalog",
                           str(catalog_csv), "--cache", str(work / "dask"), "--config",
                           str(work / "cfg.json"), "--engine", "dask", "--workers", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **_env()})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work, proc


def test_partitioned_stages_write_the_local_engines_bytes(builds):
    work, proc = builds
    for name in PARTITIONED:  # each form really ran, over several partitions
        m = re.search(rf"stage {name}\s+runs over (\d+) partitions", proc.stderr)
        assert m and int(m.group(1)) >= 3, (name, proc.stderr[-2000:])
    for name in [o for s in STAGES for o in s.outputs]:
        assert same_artifact(work / "local" / name, work / "dask" / name), \
            f"{name} differs between the local and the partitioned build"
    report = json.loads((work / "dask" / "neighbors_report.json").read_text())
    assert report["method"] == "faiss HNSW"
    assert not (work / "dask" / ".parts").exists() or not any((work / "dask" / ".parts").iterdir())


def test_cli_shows_progress_per_partition(builds):
    _, proc = builds
    for name in PARTITIONED:
        n = int(re.search(rf"stage {name}\s+runs over (\d+) partitions", proc.stderr).group(1))
        assert re.search(rf"{name}: fit done in [\d.]+ s on tcp://", proc.stderr)
        for i in range(1, n + 1):
            assert re.search(rf"{name}: partition {i}/{n} done \(rows \d+-\d+: \d+ rows in "
                             r"[\d.]+ s, \d+ rows/s on tcp://", proc.stderr), (name, i)
        assert re.search(rf"stage {name}\s+finished in [\d.]+ s over {n} partitions",
                         proc.stderr)
    assert re.search(r"stage ranker\s+finished in [\d.]+ s on tcp://", proc.stderr)  # whole
    assert "Traceback" not in proc.stderr


def _fails_in_second_embedding_partition(phase, name, fit, parts, lo, hi, *args):
    if phase == "part" and name == "embedding" and lo == ROWS:
        raise ValueError("planted failure")
    from pipeline.build.engines.dask import _worker_phase

    return _worker_phase(phase, name, fit, parts, lo, hi, *args)


def test_a_failed_partition_is_named_and_the_served_build_stays(builds, catalog_csv,
                                                                 monkeypatch):
    work, _ = builds
    cache = work / "dask"
    served, manifest = gens.resolve(cache), (cache / "manifest.json").read_bytes()
    _env(monkeypatch)
    monkeypatch.setattr(dask_engine, "_worker_phase", _fails_in_second_embedding_partition)
    with local_cluster(2, dashboard_address=":0") as cluster, \
            pytest.raises(BuildError, match=rf"stage embedding, partition 2/\d+ \(rows "
                                            rf"{ROWS}-{2 * ROWS - 1}\): ValueError: planted"):
        build([catalog_csv], cache, _config(), force=True, engine="dask",
              scheduler=cluster.scheduler_address)
    assert gens.resolve(cache) == served and (cache / "manifest.json").read_bytes() == manifest
    assert len(load(cache).tracks) > 0


def test_partition_ranges_stay_inside_batches():
    cells = [(0, 300), (300, 400), (400, 403)]
    ranges = partition_ranges(cells, 64)
    assert ranges[0] == (0, 64) and ranges[-1] == (400, 403)  # a short batch stays whole
    assert (192, 300) in ranges and (300, 400) in ranges  # remainders of 44, 36 join in
    covered = np.concatenate([np.arange(lo, hi) for lo, hi in ranges])
    assert np.array_equal(covered, np.arange(403))
    for lo, hi in ranges:
        assert any(a <= lo and hi <= b for a, b in cells)  # never across a batch
        assert hi - lo >= MIN_PIECE or (lo, hi) in cells


def test_rest_rows_are_the_unfitted_rows_in_order():
    rng = np.random.default_rng(3)
    fit = np.sort(rng.choice(1000, 137, replace=False))
    rest = np.setdiff1d(np.arange(1000), fit)
    assert np.array_equal(rest_rows(fit, 0, len(rest)), rest)
    assert np.array_equal(rest_rows(fit, 100, 250), rest[100:250])


def test_read_rows_reads_a_slice_across_row_groups(tmp_path):
    df = pd.DataFrame({"a": np.arange(1000), "b": np.arange(1000) * 2.0})
    df.to_parquet(tmp_path / "t.parquet", index=False, row_group_size=128)
    got = read_rows(tmp_path / "t.parquet", 100, 300, ["b"]).to_pandas()
    assert got["b"].tolist() == (np.arange(100, 300) * 2.0).tolist()


def test_partition_settings_are_typed(monkeypatch):
    assert PartitionConfig().min_rows == 200_000
    for bad in ("10", "abc"):   # below the minimum, not a number: named, with the fix
        monkeypatch.setenv(ENV_ROWS, bad)
        with pytest.raises(BuildError, match=rf"\$PIPELINE_DASK_PARTITION_ROWS='{bad}'.*at "
                                             r"least 64.*default 50000"):
            PartitionConfig.from_env()
    assert {s.name for s in STAGES if s.partitioned} == set(PARTITIONED)


def test_a_warm_refits_partitioned_projection_is_the_local_one(built_small_cache, tmp_path):
    """A refit starts UMAP from the previous map (``prior/``); the partitioned fit must
    pass the sample's rows of that start, as the whole stage does (in-process, no cluster)."""
    import shutil

    from pipeline.build import Context
    from pipeline.build.stages import STAGE_BY_NAME

    (tmp_path / "prior").mkdir()
    for name in ("tracks.parquet", "embedding.npy", "neighbors_idx.npy", "neighbors_sim.npy"):
        shutil.copy(built_small_cache / name, tmp_path / name)
    for name in ("tracks.parquet", "map2d.npy"):
        shutil.copy(built_small_cache / name, tmp_path / "prior" / name)
    ctx = Context(tmp_path, _config(), [])
    from pipeline.build.lineage import warm_start

    assert warm_start(ctx) is not None  # the refit really starts warm
    whole = STAGE_BY_NAME["projection"].run(ctx)["map2d.npy"]
    form = PARTITIONED["projection"]
    n = len(load_parquet_rows(tmp_path))
    fit = form.fit(ctx)
    ranges = form.ranges(ctx, n, ROWS)
    assert len(ranges) >= 2
    form.combine(ctx, fit, [form.part(ctx, fit, lo, hi) for lo, hi in ranges])
    assert np.load(tmp_path / "map2d.npy").tobytes() == whole.tobytes()


def test_a_refits_partitioned_clusters_are_the_local_ones(built_small_cache, tmp_path):
    """A refit chooses the setting that keeps most of the previous build's ids
    (``prior/clusters.parquet``); the partitioned fit must see those labels, as the whole
    stage does, and the report must say so (in-process, no cluster)."""
    import shutil

    from pipeline.build import Context
    from pipeline.build.stages import STAGE_BY_NAME

    (tmp_path / "prior").mkdir()
    for name in ("tracks.parquet", "memberships.parquet", "embedding.npy", "map2d.npy",
                 "cluster_space.npy"):
        shutil.copy(built_small_cache / name, tmp_path / name)
    for name in ("tracks.parquet", "clusters.parquet"):
        shutil.copy(built_small_cache / name, tmp_path / "prior" / name)
    cfg = _config().model_copy(update={"clusters": ClusterConfig(fit_sample=150, space="auto")})
    whole = STAGE_BY_NAME["clusters"].run(Context(tmp_path, cfg, []))
    assert "agreement with the previous build" in whole["cluster_report.json"]["selection_rule"]
    ctx = Context(tmp_path, cfg, [])
    form = PARTITIONED["clusters"]
    ranges = form.ranges(ctx, len(load_parquet_rows(tmp_path)), ROWS)
    assert len(ranges) >= 3
    fit = form.fit(ctx)
    form.combine(ctx, fit, [form.part(ctx, fit, lo, hi) for lo, hi in ranges])
    for name, value in whole.items():
        (tmp_path / "whole").mkdir(exist_ok=True)
        save_artifact(tmp_path / "whole" / name, value)
        assert same_artifact(tmp_path / "whole" / name, tmp_path / name), name
    files = list((tmp_path / ".parts" / "clusters").iterdir())  # the fit and the parts
    assert {f.suffix for f in files} == {".npy", ".json"}, files


def load_parquet_rows(cache: Path) -> pd.DataFrame:
    return pd.read_parquet(cache / "tracks.parquet", columns=["track_id"])
