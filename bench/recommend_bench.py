"""Latency of Recommender.recommend() in-process (a benchmark, not a test).

    .venv/bin/python bench/recommend_bench.py --cache cache --calls 200

Prints load time, the process's resident memory once loaded, and p50/p95/max per mode over
``--calls`` seeds drawn with a fixed seed (feedback goes to a throwaway SQLite file, so the
cache's store is untouched).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.recommend.recommender import MODES, Recommender  # noqa: E402


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--steer", action="store_true", help="also time steered calls")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rec = Recommender.load(args.cache, feedback_url=f"sqlite:///{tmp}/fb.sqlite")
        load_s = time.perf_counter() - t0
        ids = rec.tracks["track_id"].to_numpy()
        seeds = np.random.default_rng(0).choice(ids, args.calls, replace=False)
        out = {"cache": args.cache, "tracks": len(ids), "calls": args.calls,
               "load_seconds": round(load_s, 2),
               "rss_after_load_mb": round(_rss_mb()), "modes": {}}
        runs = [(m, None) for m in MODES]
        if args.steer:
            runs.append(("hybrid", {"energy": 0.8, "year_range": (2010, 2019)}))
        for mode, steer in runs:
            ms = []
            for s in seeds:
                t = time.perf_counter()
                rec.recommend(s, k=args.k, mode=mode, steer=steer)
                ms.append((time.perf_counter() - t) * 1000)
            name = mode + ("+steer" if steer else "")
            out["modes"][name] = {"p50_ms": round(float(np.percentile(ms, 50)), 1),
                                  "p95_ms": round(float(np.percentile(ms, 95)), 1),
                                  "max_ms": round(float(np.max(ms)), 1)}
        t = time.perf_counter()
        for q in ("bad guy", "shape of you, ed sheeran", "despacito"):
            rec.search(q)
        out["search_ms_mean"] = round((time.perf_counter() - t) * 1000 / 3, 1)
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
