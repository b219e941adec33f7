"""The aggregates stage on Dask: the same bytes as the local engine whatever the partition
size (fixed chunks of ``aggregates.chunk_rows``, reduced in chunk order), on a
LocalCluster of 2 single-thread worker processes started and closed here; and a cache
built before the stage gains it by rebuilding that stage alone."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from catalog_fixtures import small_config
from pipeline import generations as gens
from pipeline.build import STAGE_BY_NAME, Context, build
from pipeline.build.engines import dask as dask_engine
from pipeline.build.engines.partition_aggregates import chunks, ranges
from pipeline.build.engines.partitions import PartitionConfig
from pipeline.catalog import AGGREGATE_FILES
from pipeline.config import AggregatesConfig
from pipeline.store import LAYOUT, save_artifact

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
CHUNK = 64
OUTPUTS = LAYOUT["aggregates"]


def _config():
    return small_config().model_copy(update={"aggregates": AggregatesConfig(chunk_rows=CHUNK)})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, catalog_csv) -> Path:
    """tracks.parquet (the synthetic catalog's ingest) and a seeded clusters.parquet."""
    folder = tmp_path_factory.mktemp("agg_inputs")
    ctx = Context(folder, _config(), [catalog_csv])
    for name, value in STAGE_BY_NAME["ingest"].run(ctx).items():
        save_artifact(folder / name, value)
    n = len(pd.read_parquet(folder / "tracks.parquet", columns=["track_id"]))
    labels = np.random.default_rng(5).integers(-1, 6, n).astype(np.int32)
    save_artifact(folder / "clusters.parquet", pd.DataFrame({
        "track_id": pd.read_parquet(folder / "tracks.parquet")["track_id"],
        "cluster": labels, "probability": np.float32(0.5), "nearest_cluster": labels}))
    return folder


def _cache(inputs: Path, where: Path) -> Context:
    where.mkdir()
    for name in ("tracks.parquet", "clusters.parquet"):
        shutil.copy(inputs / name, where / name)
    return Context(where, _config(), [])


def test_dask_partitions_write_the_local_engines_bytes(inputs, tmp_path):
    local = _cache(inputs, tmp_path / "local")
    for name, value in STAGE_BY_NAME["aggregates"].run(local).items():
        save_artifact(local.cache / name, value)
    n = len(pd.read_parquet(inputs / "tracks.parquet", columns=["track_id"]))
    assert len(chunks(n, CHUNK)) >= 5
    runs = {}
    with dask_engine.local_cluster(2, dashboard_address=":0") as cluster:
        for rows in (CHUNK, 3 * CHUNK):   # one chunk per partition, three per partition
            ctx = _cache(inputs, tmp_path / f"dask{rows}")
            assert len(ranges(ctx, n, rows)) >= 2
            dask_engine.execute(["aggregates"], {"aggregates": ("ingest", "clusters")}, ctx, 2,
                                lambda name: None, scheduler=cluster.scheduler_address,
                                partitions=PartitionConfig(min_rows=1, rows=rows))
            runs[rows] = ctx.cache
    for name in OUTPUTS:
        for rows, cache in runs.items():
            assert (cache / name).read_bytes() == (local.cache / name).read_bytes(), (name, rows)
    for cache in runs.values():  # the scratch partials are gone
        assert not (cache / ".parts" / "aggregates").exists()
    report = json.loads((local.cache / "aggregates_report.json").read_text())
    assert report["chunks"] == len(chunks(n, CHUNK)) and report["rows"] == n


def test_the_layout_lists_the_tables():
    assert set(OUTPUTS) == {*AGGREGATE_FILES, "aggregates_report.json"}


def test_partitions_hold_whole_chunks():
    class Cfg:  # only what ranges() reads
        aggregates = AggregatesConfig(chunk_rows=100)
    ctx = type("Ctx", (), {"cfg": Cfg})()
    for rows in (64, 100, 250, 10_000):
        cut = ranges(ctx, 1050, rows)
        assert cut[0][0] == 0 and cut[-1][1] == 1050
        assert all(a[1] == b[0] for a, b in zip(cut, cut[1:]))
        assert all(lo % 100 == 0 for lo, _ in cut)   # a partition starts on a chunk
    assert len(ranges(ctx, 1050, 250)) == 6 and len(ranges(ctx, 1050, 10_000)) == 1


def test_a_cache_built_before_the_stage_rebuilds_only_it(built_small_cache, catalog_csv, tmp_path):
    """The served build's files without the aggregates and without their manifest entry
    (as a build before the stage left them): the next build runs that stage alone."""
    cache = tmp_path / "cache"
    shutil.copytree(gens.resolve(built_small_cache), cache)  # a plain folder: adopted
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["stages"].pop("aggregates")
    for name in OUTPUTS:
        (cache / name).unlink()
        manifest["artifacts"].pop(name)
    (cache / "manifest.json").write_text(json.dumps(manifest))
    build([catalog_csv], cache, small_config())
    served = gens.resolve(cache)
    assert json.loads((served / "manifest.json").read_text())["last_run"]["recomputed"] == [
        "aggregates"]
    for name in OUTPUTS:
        assert (served / name).read_bytes() == (gens.resolve(built_small_cache) / name).read_bytes()


def _agree(cache: Path) -> None:
    """The cache's aggregates are its track table's live tables (a few of them)."""
    import pipeline
    from pipeline.catalog import feature_by_year, popularity_by_group, precomputed, read_aggregates
    from pipeline.map import PROFILE_FEATURES, representative_tracks

    agg, tracks = read_aggregates(cache), pipeline.load(cache).tracks
    assert agg is not None
    pairs = [(precomputed(agg, "pipeline.catalog", "feature_by_year",
                          {"feature": "energy", "by": "cluster"}),
              feature_by_year(tracks, "energy", by="cluster")),
             (precomputed(agg, "pipeline.catalog", "popularity_by_group", {"by": "genre"}),
              popularity_by_group(tracks)),
             (precomputed(agg, "pipeline.map", "representative_tracks",
                          {"cluster": 0, "n": 15, "features": PROFILE_FEATURES}),
              representative_tracks(tracks, 0, 15))]
    for pre, live in pairs:
        pd.testing.assert_frame_equal(pre, live, check_exact=False, rtol=1e-9,
                                      check_dtype=False)


def test_an_update_recomputes_the_aggregates(updated_cache):
    manifest = json.loads((gens.resolve(updated_cache) / "manifest.json").read_text())
    assert manifest["stages"]["aggregates"]["mode"] == "update"
    _agree(updated_cache)


def test_a_cache_built_before_the_stage_is_still_updated(built_small_cache, tmp_path):
    """A changed catalog over a build without the aggregates: an update (which writes
    them), not a refit: the aggregates keep no fitted state."""
    from catalog_fixtures import make_catalog

    cache = tmp_path / "cache"
    shutil.copytree(gens.resolve(built_small_cache), cache)
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["stages"].pop("aggregates")
    for name in OUTPUTS:
        (cache / name).unlink()
        manifest["artifacts"].pop(name)
    (cache / "manifest.json").write_text(json.dumps(manifest))
    b = make_catalog(430, seed=0)
    b[~b["track_id"].isin([f"T{i:05d}" for i in range(100, 110)])].to_csv(
        tmp_path / "b.csv", index=False)
    build([tmp_path / "b.csv"], cache, small_config())
    last = json.loads((gens.resolve(cache) / "manifest.json").read_text())["last_run"]
    assert "aggregates" in last["updated"], last
    _agree(cache)
