"""The Dask engine: the same artifacts as the local engine, progress and the dashboard link
from the CLI, one BLAS/OpenMP/numba thread on each worker, a failing stage named with the
served build untouched, a lost worker's stage rerun, an unreachable scheduler named.

A LocalCluster of 2 single-thread processes on the small synthetic catalog (issue 9 CI)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cloudpickle
import distributed
import numpy as np
import pytest

from bench.dask_bench import same_artifact
from catalog_fixtures import small_config
from pipeline import generations as gens
from pipeline import load
from pipeline.build import STAGES, Context, build
from pipeline.build.engines import dask as dask_engine
from pipeline.build.engines import get_engine
from pipeline.build.engines.dask import THREAD_VARS, local_cluster, thread_report
from pipeline.cli import main
from pipeline.errors import BuildError, CatalogError

ROOT = Path(__file__).resolve().parents[2]
DEPENDS = {s.name: s.depends for s in STAGES}
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(2, dashboard_address=":0") as c:
        yield c


@pytest.fixture(scope="module")
def builds(tmp_path_factory, catalog_csv):
    """The small catalog built in-process by the local engine and by `--engine dask` in the
    CLI (its own LocalCluster of 2 workers)."""
    work = tmp_path_factory.mktemp("engines")
    cfg = work / "cfg.json"
    cfg.write_text(small_config().model_dump_json())
    build([catalog_csv], work / "local", small_config(), workers=1)
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--catalog",
                           str(catalog_csv), "--cache", str(work / "dask"), "--config", str(cfg),
                           "--engine", "dask", "--workers", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work, proc


def test_dask_build_has_the_local_builds_artifacts(builds):
    work, _ = builds
    names = [o for s in STAGES for o in s.outputs]
    for name in names:
        # stage reports carry their own timings: compared without them
        assert same_artifact(work / "local" / name, work / "dask" / name), \
            f"{name} differs between the local and the Dask engine"
    assert same_artifact(work / "local" / "metrics.json", work / "dask" / "metrics.json")
    assert json.loads((work / "dask" / "metrics.json").read_text())["clusters"]["n_clusters"] >= 2


def test_cli_prints_each_stage_and_the_dashboard_link(builds):
    work, proc = builds
    for i, stage in enumerate(STAGES):
        label = rf"stage {i + 1}/{len(STAGES)} {stage.name}\s+"
        assert re.search(label + "started", proc.stdout), proc.stdout
        assert re.search(label + r"done in \d+\.\d s", proc.stdout), proc.stdout
        assert re.search(rf"stage {stage.name}\s+finished in [\d.]+ s on tcp://", proc.stderr)
    assert re.search(r"Dask dashboard: http://\S+/status", proc.stderr)
    assert "OMP/MKL/OPENBLAS/NUMBA = 1 on each (checked on the workers)" in proc.stderr
    assert "Traceback" not in proc.stderr
    manifest = json.loads((work / "dask" / "manifest.json").read_text())
    assert manifest["last_run"]["engine"] == "dask"
    assert set(manifest["last_run"]["recomputed"]) == {s.name for s in STAGES}


def test_each_worker_runs_one_thread_set_before_numpy_loaded(cluster):
    before = {var: os.environ.get(var) for var in THREAD_VARS}
    with distributed.Client(cluster, set_as_default=False) as client:
        # no task has run: only the environment the worker was started with can explain 1s
        reports = client.run(thread_report)
    assert len(reports) == 2
    for report in reports.values():
        assert report["env"] == {var: "1" for var in THREAD_VARS}
        assert report["pools"] and set(report["pools"].values()) == {1}, report["pools"]
        assert report["numba"] == 1
    assert len({r["pid"] for r in reports.values()}) == 2  # processes, not threads
    assert {var: os.environ.get(var) for var in THREAD_VARS} == before  # not this process


def test_a_failing_stage_is_named_and_the_served_build_stays(builds, cluster, catalog_csv,
                                                             caplog):
    work, _ = builds
    cache = work / "dask"
    served, manifest = gens.resolve(cache), (cache / "manifest.json").read_bytes()
    empty = work / "empty.csv"  # the preflight would refuse it: here the ingest stage does
    empty.write_text(catalog_csv.read_text().splitlines()[0] + "\n")
    with pytest.raises(CatalogError, match="has a header but no rows"):
        build([empty], cache, small_config(), engine="dask",
              scheduler=cluster.scheduler_address)
    assert re.search(r"stage ingest\s+failed on the Dask cluster: CatalogError", caplog.text)
    assert gens.resolve(cache) == served and (cache / "manifest.json").read_bytes() == manifest
    assert len(load(cache).tracks) > 0


def _dies_once_in_features(name: str, cache: str, cfg_json: str, catalog: list[str],
                           level: int) -> dict:
    """A stage task whose worker process dies the first time it runs ``features``."""
    marker = Path(cache).parent / "killed_worker.txt"
    if name == "features" and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    from pipeline.build.engines.dask import _worker_stage

    return _worker_stage(name, cache, cfg_json, catalog, level)


def test_a_stage_whose_worker_dies_is_rerun_on_another(cluster, catalog_csv, tmp_path,
                                                       monkeypatch):
    monkeypatch.setattr(dask_engine, "_worker_stage", _dies_once_in_features)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)  # no --scheduler
    (tmp_path / "work").mkdir()
    ctx = Context(tmp_path / "work", small_config(), [catalog_csv])
    started, done = [], []
    seconds = get_engine("dask")(["ingest", "features"], DEPENDS, ctx, 2, started.append,
                                 done.append)
    assert (tmp_path / "killed_worker.txt").exists(), "the worker was not killed"
    assert started == done == ["ingest", "features"] and set(seconds) == set(done)
    assert np.load(tmp_path / "work" / "features.npy").shape[0] > 0
    with distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)  # the nanny restarted the dead one


def test_an_unreachable_scheduler_is_named(catalog_csv, tmp_path, monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT_S", 2)
    ctx = Context(tmp_path, small_config(), [catalog_csv])
    with pytest.raises(BuildError, match=r"Dask scheduler tcp://127.0.0.1:9: cannot connect"):
        get_engine("dask", "tcp://127.0.0.1:9")(["ingest"], DEPENDS, ctx, 1, print)


def test_engine_and_scheduler_are_checked_before_any_work(tmp_path, capsys):
    with pytest.raises(ValueError, match="'engine' parameter of build must be one of"):
        get_engine("spark")
    with pytest.raises(ValueError, match="needs the dask engine"):
        get_engine("local", "tcp://127.0.0.1:8786")
    assert main(["build", "--cache", str(tmp_path / "c"), "--scheduler",
                 "tcp://127.0.0.1:8786"]) == 2
    assert "needs --engine dask" in capsys.readouterr().err


def test_local_cluster_workers_exit_when_the_build_is_killed(catalog_csv, tmp_path):
    """SIGKILL on a `--engine dask` build leaves no worker process computing on."""
    import signal

    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "build", "--catalog",
                             str(catalog_csv), "--cache", str(tmp_path / "c"), "--engine",
                             "dask"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:  # the cluster is up and a stage runs on a worker
        if "started" in line:
            break
    workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
               if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) >= 2, "the build did not start its workers"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=20)
    alive = [p for p in alive if _running(p)]  # an unreaped zombie computes nothing
    assert not alive, f"workers outlived the killed build: {[p.pid for p in alive]}"


def _running(p) -> bool:
    import psutil

    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_workers_started_with_other_thread_settings_are_named(caplog):
    ok = {"env": {var: "1" for var in THREAD_VARS}, "pools": {"blas:libopenblas.so": 1},
          "numba": 1, "pid": 1}
    bad = {"env": {var: None for var in THREAD_VARS}, "pools": {"blas:libopenblas.so": 8},
           "numba": 8, "pid": 2}
    with caplog.at_level("INFO"):
        dask_engine._log_thread_settings({"tcp://a:1": ok})
        assert "= 1 on each (checked on the workers)" in caplog.text
        caplog.clear()
        dask_engine._log_thread_settings({"tcp://a:1": ok, "tcp://b:2": bad})
    assert "checked on the workers" not in caplog.text
    assert "Dask worker tcp://b:2 was started with other thread settings" in caplog.text
    assert "tcp://a:1" not in caplog.text
