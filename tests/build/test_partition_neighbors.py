"""The faiss IVF neighbour index (above ``hnsw_max`` tracks) forced on the small catalog:
the Dask engine, whose neighbour stage is built once and queried over partitions of 64 rows,
writes the local engine's bytes for every artifact, and the build it makes serves."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.dask_bench import same_artifact
from catalog_fixtures import small_config
from pipeline.build import STAGES, build
from pipeline.build.engines.partitions import ENV_MIN_ROWS, ENV_ROWS
from pipeline.config import NeighborConfig
from pipeline.store import read_npy

ROOT = Path(__file__).resolve().parents[2]
ROWS = 64


def _config():
    """IVF above 200 tracks: ~16 tracks in each of ~24 lists, 8 of them probed."""
    return small_config().model_copy(update={"neighbors": NeighborConfig(
        exact_max=200, hnsw_max=200, ivf_list_size=16, ivf_nprobe=8)})


@pytest.fixture(scope="module")
def ivf_builds(tmp_path_factory, catalog_csv):
    """Local engine in-process (one worker); Dask through the CLI, partitions of 64 rows."""
    work = tmp_path_factory.mktemp("partition_neighbors")
    (work / "cfg.json").write_text(_config().model_dump_json())
    build([catalog_csv], work / "local", _config(), workers=1)
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--catalog",
                           str(catalog_csv), "--cache", str(work / "dask"), "--config",
                           str(work / "cfg.json"), "--engine", "dask", "--workers", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, ENV_MIN_ROWS: "1", ENV_ROWS: str(ROWS)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work, proc


def test_partitioned_ivf_neighbours_are_the_local_engines_bytes(ivf_builds):
    work, proc = ivf_builds
    m = re.search(r"stage neighbors\s+runs over (\d+) partitions", proc.stderr)
    assert m and int(m.group(1)) >= 3, proc.stderr[-2000:]
    report = json.loads((work / "dask" / "neighbors_report.json").read_text())
    assert report["method"] == "faiss IVF" and report["nlist"] >= 20 and report["nprobe"] == 8
    assert 0.5 <= report["recall_at_10"] <= 1.0
    for name in [o for s in STAGES for o in s.outputs]:
        assert same_artifact(work / "local" / name, work / "dask" / name), \
            f"{name} differs between the local and the partitioned build"
    idx = read_npy(work / "dask" / "neighbors_idx.npy")
    assert (idx != np.arange(len(idx))[:, None]).all()  # each row's own index excluded


def test_the_ivf_build_serves(ivf_builds):
    """The recommender loads neighbors_index.npy (the IVF) and searches it."""
    from pipeline.recommend import Recommender

    work, _ = ivf_builds
    rec = Recommender.load(work / "dask")
    assert rec.sig.index.method == "faiss IVF"
    seed = rec.tracks["track_id"].iloc[0]
    out = rec.recommend(seed, k=5)
    assert len(out) == 5 and seed not in set(out["track_id"])
