"""Scale benchmark: cold builds of large catalogs, with per-stage times, peak memory of all
build processes together, and serving figures on the result (a benchmark, not a test).

    .venv/bin/python bench/scale_bench.py --tracks 200000 1000000 [--workers 2] [--keep DIR]

For each N: generates the catalog with bench/make_scale_catalog.py (unless it exists in
the work folder), runs ``python -m pipeline build`` cold (fresh cache, fresh numba cache),
samples the summed RSS of the build process and its workers every 0.5 s, then measures
``pipeline.load`` and ``Recommender.load`` times, ``recommend()`` latency (p50/p95 over
200 seeds per mode), and the map's trustworthiness on a 5,000-track sample. ``--tracks 0``
means the default catalog itself. Prints one JSON document per catalog.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "spotify_songs.csv"


def tree_rss_mb(pid: int) -> float:
    """Summed resident memory (MB) of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _build(catalog: Path, cache: Path, workers: int, env: dict) -> dict:
    """Cold build in a subprocess; wall time, peak summed RSS of the process tree, and for
    each stage the peak summed RSS while it ran (stages overlap on two workers, so each
    figure is what the machine held, the stage's own share included)."""
    samples: list[tuple[float, float]] = []  # (epoch seconds, MB)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "build", "--catalog",
                             str(catalog), "--cache", str(cache), "--workers", str(workers)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)

    def sample() -> None:
        while proc.poll() is None:
            samples.append((time.time(), tree_rss_mb(proc.pid)))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log = proc.communicate()[0]
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"build of {catalog} failed:\n{log[-3000:]}")
    return {"build_seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mb_all_processes": round(max((m for _, m in samples), default=0)),
            "peak_rss_mb_while_stage_ran": _stage_peaks(log, samples)}


_STAGE_LINE = re.compile(r"^(\S+ \S+) INFO pipeline\.build\.engines\.local: stage (\S+)\s+"
                         r"(running|done)", re.M)


def _stage_peaks(log: str, samples: list[tuple[float, float]]) -> dict[str, int]:
    """Peak summed RSS between each stage's 'running' and 'done' log lines."""
    spans: dict[str, list[float]] = {}
    for stamp, stage, what in _STAGE_LINE.findall(log):
        t = time.mktime(time.strptime(stamp.split(",")[0], "%Y-%m-%d %H:%M:%S"))
        spans.setdefault(stage, []).append(t + (0 if what == "running" else 1))
    return {stage: round(max((m for t, m in samples if ts[0] <= t <= ts[-1]), default=0))
            for stage, ts in spans.items()}


def _serving(cache: Path, calls: int = 200) -> dict:
    """Load times, recommend() latency per mode, and the map's trustworthiness."""
    import pipeline
    from pipeline.recommend import MODES, Recommender

    t0 = time.perf_counter()
    index = pipeline.load(cache)
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rec = Recommender.load(cache, feedback_url=f"sqlite:///{tmp}/fb.sqlite")
        rec_load_s = time.perf_counter() - t0
        seeds = np.random.default_rng(0).choice(rec.tracks["track_id"].to_numpy(), calls,
                                                replace=False)
        latency = {}
        for mode in MODES:
            ms = []
            for s in seeds:
                t = time.perf_counter()
                rec.recommend(s, k=10, mode=mode)
                ms.append((time.perf_counter() - t) * 1000)
            latency[mode] = {"p50_ms": round(float(np.percentile(ms, 50)), 1),
                             "p95_ms": round(float(np.percentile(ms, 95)), 1)}
    return {"pipeline_load_seconds": round(load_s, 1),
            "recommender_load_seconds": round(rec_load_s, 1), "recommend": latency,
            "trustworthiness_5k": _trust(index.embedding, index.coords)}


def _trust(emb: np.ndarray, coords: np.ndarray, n: int = 5000) -> float:
    from sklearn.manifold import trustworthiness

    rows = np.random.default_rng(0).choice(len(emb), min(n, len(emb)), replace=False)
    return round(float(trustworthiness(emb[rows], coords[rows], n_neighbors=10,
                                       metric="cosine")), 4)


def _stage_figures(cache: Path) -> dict:
    metrics = json.loads((cache / "metrics.json").read_text())
    c, cl = metrics["catalog"], metrics["clusters"]
    return {"tracks": c["tracks"], "timings_s": metrics["timings_s"],
            "neighbors": {k: metrics.get("neighbors", {}).get(k) for k in
                          ("method", "recall_at_10", "build_seconds", "graph_seconds")},
            "clusters": {k: cl.get(k) for k in ("n_clusters", "noise_share", "silhouette",
                                                "dbcv", "fitted_on")},
            "embedding_validation": metrics["embedding"]["validation"]["value"]}


def run(n_tracks: int, work: Path, workers: int) -> dict:
    if n_tracks:
        catalog = work / f"catalog_{n_tracks}.csv"
        if not catalog.exists():
            subprocess.run([sys.executable, "bench/make_scale_catalog.py", "--tracks",
                            str(n_tracks), "--out", str(catalog)], cwd=ROOT, check=True)
    else:
        catalog = DEFAULT
    cache = work / f"cache_{n_tracks}"
    subprocess.run(["rm", "-rf", str(cache), str(work / f".{cache.name}.builds"),
                    str(work / "numba")], check=True)  # the link and its generations
    env = {**os.environ, "NUMBA_CACHE_DIR": str(work / "numba")}  # no warm JIT
    out = {"catalog": str(catalog), "workers": workers, "cores": os.cpu_count(),
           **_build(catalog, cache, workers, env)}
    out.update(_stage_figures(cache))
    out.update(_serving(cache))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", help="work folder to keep catalogs and caches (default: temp)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in args.tracks:
            print(json.dumps(run(n, work, args.workers), indent=1), flush=True)


if __name__ == "__main__":
    main()
