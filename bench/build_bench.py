"""Build benchmark: cold build (fresh process, fresh cache, fresh numba JIT cache) and a
rebuild with nothing changed, on the default catalog. Prints wall time, per-stage times
and peak memory. Usage:

    .venv/bin/python bench/build_bench.py [--catalog ../shared/data/spotify_songs.csv] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(catalog: str, cache: Path, env: dict, workers: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "build", "--catalog", catalog,
                    "--cache", str(cache), "--workers", str(workers)],
                   cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", default=str(ROOT.parent / "shared/data/spotify_songs.csv"))
    ap.add_argument("--workers", type=int, default=2, help="build processes (the CLI default)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}  # no warm JIT
        cache = Path(tmp) / "cache"
        cold = _run(args.catalog, cache, env, args.workers)
        warm = _run(args.catalog, cache, env, args.workers)
        manifest = json.loads((cache / "manifest.json").read_text())
        metrics = json.loads((cache / "metrics.json").read_text())
    # ru_maxrss of children: the largest single process (the parent or one worker).
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"cores: {os.cpu_count()}  workers: {args.workers}  catalog: {args.catalog}")
    print(f"cold build (incl. start-up + JIT): {cold:6.1f} s   target <= 120 s")
    print(f"rebuild, nothing changed:          {warm:6.1f} s   target <= 10 s "
          f"(recomputed: {manifest['last_run']['recomputed'] or 'nothing'})")
    print(f"peak RSS of one build process:     {peak_mb:6.0f} MB")
    print("stage times (s): " + ", ".join(f"{k} {v}" for k, v in metrics["timings_s"].items()))
    c = metrics["clusters"]
    print(f"clusters: {c['n_clusters']} in {c['space']}, noise {c['noise_share']:.1%}, silhouette "
          f"{c['silhouette']} vs KMeans {c['kmeans_baseline']['silhouette']}, DBCV {c['dbcv']}")
    v = metrics["embedding"]["validation"]
    print(f"embedding: {v['name']} {v['value']} (raw features {v['raw_features_baseline']})")


if __name__ == "__main__":
    main()
