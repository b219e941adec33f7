"""Local engine vs Dask engine: one cold build of a catalog with each (fresh process, fresh
cache, fresh numba JIT cache), the Dask one on a LocalCluster of single-thread workers.
Prints JSON: wall time per stage (on the worker, and from start to finish as the CLI saw
it), the build's wall time, peak RSS of the build process and of each worker process, the
load average around each build, the Dask build's per-partition throughput (from its log),
and which artifacts are byte-identical between the two.
Usage:

    .venv/bin/python bench/dask_bench.py [--catalog ../shared/data/spotify_songs.csv] [--workers 2]

``--partitioned``: only the stages with a data-parallel form and their upstreams (ingest,
features, embedding, neighbors, projection, clusters, genre), run in this process by each engine,
the Dask one with partitions of ``--rows`` rows from ``--min-rows`` tracks on; prints each
partitioned stage's fit time and per-partition throughput (rows/s: min, median, max, per
worker), the stage and wall times, per-worker peak RSS, and which artifacts are identical:

    .venv/bin/python bench/dask_bench.py --partitioned --catalog /tmp/scale/cat_200k.csv

``--stages ingest`` (with ``--partitioned``): only those stages and their upstreams.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline.build import STAGES  # noqa: E402

DONE = re.compile(r"^stage \d+/\d+ (\S+)\s+done in ([\d.]+) s$", re.M)
# Timings inside stage reports; everything else in them must match.
TIMING_KEY = re.compile(r"seconds|_s$|timings")


class _PeakRss:
    """Samples the RSS of a process and its descendants every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.25):
        self.pid, self.interval, self.peak, self.total = pid, interval, {}, 0
        self.roles: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    self.roles.setdefault(p.pid, _role(p, self.pid))
                except psutil.NoSuchProcess:
                    continue
                total += rss
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
            self.total = max(self.total, total)
            time.sleep(self.interval)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        mb = {pid: round(v / 2**20) for pid, v in self.peak.items()}
        workers = sorted((v for pid, v in mb.items() if self.roles.get(pid) == "worker"),
                         reverse=True)
        return {"build_process_mb": mb.get(self.pid, 0), "worker_processes_mb": workers,
                "process_tree_mb": round(self.total / 2**20)}


def _role(p: psutil.Process, root: int) -> str:
    if p.pid == root:
        return "build"
    cmd = " ".join(p.cmdline())
    # pool workers and Dask workers are spawned; the resource tracker is not a worker
    return "worker" if "spawn_main" in cmd else "helper"


def _build(catalog: str, cache: Path, engine: str, workers: int, env: dict) -> dict:
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "build", "--catalog", catalog,
                             "--cache", str(cache), "--engine", engine, "--workers",
                             str(workers), "--force"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    rss = _PeakRss(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    memory = rss.stop()
    if proc.returncode:
        raise SystemExit(f"{engine} build failed:\n{err[-3000:]}")
    manifest = json.loads((cache / "manifest.json").read_text())
    return {"engine": engine, "workers": workers, "wall_s": round(wall, 1),
            "stage_s_on_worker": {n: m["seconds"] for n, m in manifest["stages"].items()},
            "stage_s_start_to_done": {n: float(s) for n, s in DONE.findall(out)},
            "peak_rss": memory, "load_avg_1min": [round(load_before, 2),
                                                   round(os.getloadavg()[0], 2)],
            **({"partitions": _throughput(_messages(err))} if engine == "dask" else {})}


def _messages(log: str) -> list[str]:
    """The messages of the CLI's log lines (``time LEVEL logger: message``)."""
    return [m[1] for m in re.finditer(r"^\S+ \S+ \S+ \S+: (.*)$", log, re.M)]


def same_artifact(a: Path, b: Path) -> bool:
    """Byte-identical; for a JSON stage report, equal once its timings are removed."""
    if a.suffix == ".json":
        return _untimed(json.loads(a.read_text())) == _untimed(json.loads(b.read_text()))
    return a.read_bytes() == b.read_bytes()


def same_artifacts(a: Path, b: Path, names: list[str] | None = None) -> dict:
    """Which stage outputs (or ``names``) two caches hold the same (:func:`same_artifact`)."""
    names = names or [o for s in STAGES for o in s.outputs]
    same = [n for n in names if same_artifact(a / n, b / n)]
    return {"identical": same, "different": [n for n in names if n not in same]}


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not TIMING_KEY.search(k)}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


PART_DONE = re.compile(r"^(\S+): partition (\d+)/(\d+) done \(rows (\d+)-(\d+): (\d+) rows in "
                       r"([\d.]+) s, (\d+) rows/s on (\S+)\)$")
FIT_DONE = re.compile(r"^(\S+): fit done in ([\d.]+) s on (\S+)$")
DATA_PARALLEL = ["ingest", "features", "embedding", "neighbors", "projection", "clusters", "genre",
                 "aggregates"]


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _run_stages(catalog: str, cache: Path, engine: str, workers: int, min_rows: int,
                rows: int, stages: list[str]) -> dict:
    """The data-parallel stages and their upstreams, run here by one engine."""
    from pipeline.build import Context
    from pipeline.build.engines import execute
    from pipeline.build.engines.dask import execute as dask_execute
    from pipeline.build.engines.partitions import PartitionConfig
    from pipeline.config import PipelineConfig

    cache.mkdir(parents=True)
    ctx = Context(cache, PipelineConfig(), [Path(catalog)])
    depends = {s.name: s.depends for s in STAGES}
    messages = _Messages()
    logging.getLogger("pipeline.build.engines.dask").addHandler(messages)
    load_before = os.getloadavg()[0]
    rss = _PeakRss(os.getpid())
    t0 = time.perf_counter()
    if engine == "local":
        seconds = execute(stages, depends, ctx, workers, lambda n: None)
    else:
        seconds = dask_execute(stages, depends, ctx, workers, lambda n: None,
                               partitions=PartitionConfig(min_rows=min_rows, rows=rows))
    wall = time.perf_counter() - t0
    memory = rss.stop()
    logging.getLogger("pipeline.build.engines.dask").removeHandler(messages)
    return {"engine": engine, "workers": workers, "wall_s": round(wall, 1),
            "stage_s": seconds, "peak_rss": memory,
            "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            **({"partitions": _throughput(messages.lines)} if engine == "dask" else {})}


def _upstream(names: list[str]) -> list[str]:
    """``names`` and every stage they depend on, in the stage table's order."""
    depends = {s.name: s.depends for s in STAGES}
    need, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in need:
            need.add(name)
            todo.extend(depends[name])
    return [s.name for s in STAGES if s.name in need]


def _throughput(lines: list[str]) -> dict:
    """Per partitioned stage: fit seconds, partitions, rows/s (min/median/max, per worker)."""
    out: dict[str, dict] = {}
    for line in lines:
        if m := FIT_DONE.match(line):
            out.setdefault(m[1], {"parts": []})["fit_s"] = float(m[2])
        elif m := PART_DONE.match(line):
            out.setdefault(m[1], {"parts": []})["parts"].append(
                {"rows": int(m[6]), "s": float(m[7]), "worker": m[9]})
    for stage in out.values():
        parts = stage.pop("parts")
        rate = sorted(p["rows"] / max(p["s"], 1e-9) for p in parts)
        workers = sorted({p["worker"] for p in parts})
        stage.update(partitions=len(parts), rows=sum(p["rows"] for p in parts),
                     part_s_sum=round(sum(p["s"] for p in parts), 2),
                     rows_per_s={"min": round(rate[0]), "median": round(rate[len(rate) // 2]),
                                 "max": round(rate[-1])} if rate else None,
                     rows_per_s_per_worker={w: round(sum(p["rows"] for p in parts
                                                         if p["worker"] == w)
                                                     / max(sum(p["s"] for p in parts
                                                               if p["worker"] == w), 1e-9))
                                            for w in workers})
    return out


def _main_partitioned(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stages = _upstream(args.stages.split(",")) if args.stages else DATA_PARALLEL
    outputs = [o for s in STAGES if s.name in stages for o in s.outputs]
    out = {"catalog": args.catalog, "cores": os.cpu_count(), "min_rows": args.min_rows,
           "rows": args.rows, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in ("local", "dask"):
            os.environ["NUMBA_CACHE_DIR"] = str(Path(tmp) / f"numba-{engine}")
            out["runs"].append(_run_stages(args.catalog, Path(tmp) / engine, engine,
                                           args.workers, args.min_rows, args.rows, stages))
        out["artifacts"] = same_artifacts(Path(tmp) / "local", Path(tmp) / "dask", outputs)
    print(json.dumps(out, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", default=str(ROOT.parent / "shared/data/spotify_songs.csv"))
    ap.add_argument("--workers", type=int, default=2,
                    help="local pool processes / LocalCluster worker processes")
    ap.add_argument("--partitioned", action="store_true",
                    help="the data-parallel stages only, with per-partition throughput")
    ap.add_argument("--min-rows", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=25_000)
    ap.add_argument("--stages", help="with --partitioned: these stages (and what they need) "
                                     "instead of every data-parallel one, e.g. ingest")
    args = ap.parse_args()
    if args.partitioned:
        _main_partitioned(args)
        return
    out = {"catalog": args.catalog, "cores": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {}
        for engine in ("local", "dask"):
            env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / f"numba-{engine}")}
            caches[engine] = Path(tmp) / engine
            out["runs"].append(_build(args.catalog, caches[engine], engine, args.workers, env))
        out["artifacts"] = same_artifacts(caches["local"], caches["dask"])
        clusters = [json.loads((c / "metrics.json").read_text())["clusters"]
                    for c in caches.values()]
        out["clusters"] = [{k: c[k] for k in ("n_clusters", "noise_share", "silhouette", "dbcv")}
                           for c in clusters]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
