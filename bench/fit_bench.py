"""The Dask engine's single-worker steps at the sizes a bigger catalog gives them.

Issue 9's projection for 10M tracks needs the fits (which stay on one worker) measured on
inputs of the size they would see, not extrapolated. This bench tiles a built cache
``--times`` times (1M -> 10M) and runs the engine's own partitioned forms
(``pipeline.build.engines.partitions.PARTITIONED``) on it, each step in a fresh process with
one thread (as a Dask worker runs it), and prints JSON: wall seconds and peak RSS per step.

    .venv/bin/python bench/fit_bench.py --cache /tmp/lead/c1m --times 10 --work /tmp/fit10m
        [--stages features,embedding,projection,clusters,genre] [--parts 2]

Steps per stage: ``fit`` (the one-worker fit), then ``--parts`` partitions of
``--rows`` rows spread over the catalog (rows/s of one worker at this size: an index or
fitted sample searched by a partition is the size a 10M build's would be); for clusters
and aggregates every partition and the ``combine`` too (one worker reads every track's
labels and scores them; the aggregates' partial results reduced in order). Aggregates run
after clusters (they read the clusters' table the combine writes). ``neighbors`` is not in the default list: its fit is the index build, with
HNSW one thread for tens of minutes at 10M (docs/ANN.md).

The tiled cache: copy 0 is the source; copy k >= 1 has track ids suffixed ``~k``, its
memberships follow them, its same-song groups are its own, and its features, embedding
(renormalised) and map coordinates get seeded Gaussian jitter (1 % of each column's
standard deviation; 0.02 on the unit embedding), so no two tracks coincide. Playlists and
artists grow ``times``-fold: a catalog of 10M tracks has bigger ones too, but not
necessarily by that factor.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_STAGES = "features,embedding,projection,clusters,genre,aggregates"
COMBINED = ("clusters", "aggregates")  # every partition and the one-worker combine timed
ARRAYS = ("features.npy", "embedding.npy", "map2d.npy", "cluster_space.npy")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMBA_NUM_THREADS")


def tile_cache(src: Path, dst: Path, times: int, seed: int = 0) -> int:
    """``dst`` holds ``src``'s tables and arrays tiled ``times`` times; returns the rows."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dst.mkdir(parents=True, exist_ok=True)
    for name in ("tracks.parquet", "memberships.parquet"):
        table = pq.read_table(src / name)
        groups = (pc.max(table["song_group"]).as_py() + 1) if "song_group" in table.column_names else 0
        with pq.ParquetWriter(dst / name, table.schema) as writer:
            for k in range(times):
                t = table
                if k:
                    ids = pc.binary_join_element_wise(
                        t["track_id"], pa.scalar(f"{k}", t["track_id"].type),
                        pa.scalar("~", t["track_id"].type))
                    t = t.set_column(t.schema.get_field_index("track_id"), "track_id", ids)
                    if groups:
                        i = t.schema.get_field_index("song_group")
                        t = t.set_column(i, "song_group",
                                         pc.add(t["song_group"], k * groups).cast(t["song_group"].type))
                writer.write_table(t)
    rng = np.random.default_rng(seed)
    n = 0
    for name in ARRAYS:
        x = np.load(src / name)
        n = len(x)
        out = np.lib.format.open_memmap(dst / name, "w+", x.dtype, (times * n, *x.shape[1:]))
        unit = name == "embedding.npy"
        scale = 0.02 if unit else 0.01 * x.std(axis=0)
        for k in range(times):
            block = x if k == 0 else x + (rng.standard_normal(x.shape) * scale).astype(x.dtype)
            if unit and k:
                block /= np.linalg.norm(block, axis=1, keepdims=True)
            out[k * n:(k + 1) * n] = block
        out.flush()
        del out
    return times * n


def run_step(stage: str, step: str, work: Path, rows: int, parts: int) -> dict:
    """One step in this process (the child): the engine's form, timed."""
    from pipeline.build import Context
    from pipeline.build.engines.partition_files import n_rows
    from pipeline.build.engines.partitions import PARTITIONED
    from pipeline.config import PipelineConfig

    ctx = Context(work, PipelineConfig(), [])
    form, state = PARTITIONED[stage], work / f".bench-{stage}.json"
    t0, extra = time.perf_counter(), {}
    if step == "fit":
        state.write_text(json.dumps({"fit": form.fit(ctx)}))
    else:
        saved = json.loads(state.read_text())
        ranges = form.ranges(ctx, n_rows(work), rows)
        if step == "parts":
            every = parts <= 0 or parts >= len(ranges)
            pick = ranges if every else [ranges[i] for i in
                                         np.linspace(0, len(ranges) - 1, parts).astype(int)]
            done, times = [], []
            for lo, hi in pick:
                t = time.perf_counter()
                done.append(form.part(ctx, saved["fit"], lo, hi))
                times.append((hi - lo) / (time.perf_counter() - t))
            if every:
                saved["parts"] = done
                state.write_text(json.dumps(saved))
            extra = {"partitions": len(pick), "of": len(ranges),
                     "rows": sum(hi - lo for lo, hi in pick),
                     "rows_per_s": [round(r) for r in times]}
        else:  # combine
            form.combine(ctx, saved["fit"], saved["parts"])
    return {"stage": stage, "step": step, "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            **extra}


def _child(stage: str, step: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, **{v: "1" for v in THREAD_VARS}}
    proc = subprocess.run([sys.executable, __file__, "--child", f"{stage}:{step}",
                           "--work", str(args.work), "--rows", str(args.rows),
                           "--parts", str(args.parts)],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"{stage} {step} failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]),
            "load_avg_1min_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, help="a built cache to tile")
    ap.add_argument("--times", type=int, default=10)
    ap.add_argument("--work", type=Path, required=True, help="the tiled cache (kept)")
    ap.add_argument("--stages", default=DEFAULT_STAGES)
    ap.add_argument("--rows", type=int, default=250_000, help="rows per partition")
    ap.add_argument("--parts", type=int, default=2, help="partitions timed per stage")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        stage, step = args.child.split(":")
        print(json.dumps(run_step(stage, step, args.work, args.rows, args.parts)))
        return
    out = {"source": str(args.cache), "times": args.times, "rows_per_partition": args.rows,
           "cores": os.cpu_count(), "load_avg_1min_start": round(os.getloadavg()[0], 2),
           "steps": []}
    if not (args.work / "tracks.parquet").exists():
        t0 = time.perf_counter()
        out["tracks"] = tile_cache(args.cache, args.work, args.times)
        out["tile_seconds"] = round(time.perf_counter() - t0, 1)
    for stage in filter(None, args.stages.split(",")):
        steps = ["fit", "parts"] + (["combine"] if stage in COMBINED else [])
        for step in steps:
            if stage in COMBINED and step == "parts":
                args_all = argparse.Namespace(**{**vars(args), "parts": 0})
                out["steps"].append(_child(stage, step, args_all))
            else:
                out["steps"].append(_child(stage, step, args))
            print(json.dumps(out["steps"][-1]), file=sys.stderr, flush=True)
    out["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
