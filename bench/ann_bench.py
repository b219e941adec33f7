"""Approximate neighbour index benchmark: faiss HNSW and faiss IVF (the project's indexes,
through :class:`pipeline.map.NeighborIndex`) and optionally pynndescent (umap-learn's),
against exact search, on N vectors blended from a built cache's embedding.

    .venv/bin/python bench/ann_bench.py --cache cache --tracks 1000000 --method hnsw
        [--m 16] [--ef-construction 40] [--ef-search 64]
    .venv/bin/python bench/ann_bench.py --cache cache --tracks 1000000 --method ivf
        [--list-size 1000] [--nprobe 8,16,32] [--train-per-list 32] [--kmeans-iter 10]
    common: [--build-threads 1] [--threads 1] [--rate-rows 20000] [--full-graph]
        [--pynndescent] [--seed 0]

Blending: each vector is w*a + (1-w)*b + noise of two random tracks' embeddings (as
bench/make_scale_catalog.py blends tracks), renormalised. Prints the build time (IVF: its
k-means and add apart, from the build's log), then for each search setting (IVF: each
``--nprobe``, on the same index) recall@10 of the k-NN graph against exact search on 2,000
seeded queries and the graph's query rate (rows/s on ``--threads``, timed on
``--rate-rows`` consecutive rows). Each row of the graph is searched on its own (the same
bytes in any batch: tests/map/test_neighbors.py), so without ``--full-graph`` only the
2,000 query rows and the timed rows are searched; ``--full-graph`` searches all n rows.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import NeighborConfig  # noqa: E402
from pipeline.map import NeighborIndex  # noqa: E402
from pipeline.map.neighbors import recall_at_10  # noqa: E402

QUERIES, QUERY_SEED = 2000, 1


def blend(emb: np.ndarray, n: int, seed: int = 0, chunk: int = 1 << 20) -> np.ndarray:
    """(n, d) float32 unit rows; built in chunks of rows (the noise drawn chunk after chunk
    is the same stream as one draw: the same vectors as before, at a 10M peak of ~2 GB)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(emb), n), rng.integers(0, len(emb), n)
    w = rng.uniform(0.2, 0.8, (n, 1)).astype(np.float32)
    x = np.empty((n, emb.shape[1]), np.float32)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        noise = rng.normal(0, 0.03, (hi - lo, emb.shape[1])).astype(np.float32)
        part = w[lo:hi] * emb[a[lo:hi]] + (1 - w[lo:hi]) * emb[b[lo:hi]] + noise
        x[lo:hi] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return x


def _config(args: argparse.Namespace, nprobe: int) -> NeighborConfig:
    ivf = args.method == "ivf"
    return NeighborConfig(k=args.k, exact_max=0, hnsw_max=0 if ivf else 1 << 62,
                          hnsw_m=args.m, ef_construction=args.ef_construction,
                          ef_search=args.ef_search, threads=args.build_threads,
                          ivf_list_size=args.list_size, ivf_nprobe=nprobe,
                          ivf_train_per_list=args.train_per_list,
                          ivf_kmeans_iter=args.kmeans_iter)


def _graph_sample(index: NeighborIndex, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The graph's first 10 columns at the recall queries' rows (other rows -1): what
    recall_at_10 reads of a full graph, searched row by row as the full graph is."""
    n = len(index.base)
    rows = np.sort(np.random.default_rng(QUERY_SEED).choice(n, min(QUERIES, n),
                                                            replace=False))
    graph = np.full((n, 10), -1, np.int32)
    for r in rows:
        graph[r] = index.graph_rows(int(r), int(r) + 1, k)[0][0, :10]
    return graph, rows


def _measure(index: NeighborIndex, args: argparse.Namespace, label: str) -> None:
    index.threads = args.threads
    n = len(index.base)
    t0, c0 = time.perf_counter(), time.process_time()
    if args.full_graph:
        graph = index.graph(args.k)[0]
        rate_rows = n
    else:
        graph = _graph_sample(index, args.k)[0]
        lo = n // 2  # a block from the middle: rows of every kind of region
        rate_rows = min(args.rate_rows, n - lo)
        t0, c0 = time.perf_counter(), time.process_time()
        index.graph_rows(lo, lo + rate_rows, args.k)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    recall = recall_at_10(index, graph, QUERIES, seed=QUERY_SEED)
    print(f"  {label}: recall@10 {recall:.4f}, graph k={args.k} {rate_rows / seconds:,.0f} "
          f"rows/s wall, {rate_rows / cpu:,.0f} rows per CPU-s on {args.threads} thread(s) "
          f"({rate_rows:,} rows in {seconds:.1f} s, {cpu:.1f} CPU-s; all {n:,} rows: "
          f"{n * cpu / rate_rows:,.0f} CPU-s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--tracks", type=int, default=200_000)
    ap.add_argument("--method", choices=("hnsw", "ivf"), default="hnsw")
    ap.add_argument("--build-threads", type=int, default=1,
                    help="threads of the IVF's k-means and add (HNSW builds on one)")
    ap.add_argument("--threads", type=int, default=1, help="threads of the graph's search")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=40)
    ap.add_argument("--ef-search", type=int, default=64)
    ap.add_argument("--list-size", type=int, default=NeighborConfig().ivf_list_size)
    ap.add_argument("--nprobe", default=str(NeighborConfig().ivf_nprobe),
                    help="comma-separated: each is measured on the same IVF index")
    ap.add_argument("--train-per-list", type=int, default=NeighborConfig().ivf_train_per_list)
    ap.add_argument("--kmeans-iter", type=int, default=NeighborConfig().ivf_kmeans_iter)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0, help="the IVF's k-means sample seed")
    ap.add_argument("--rate-rows", type=int, default=20_000)
    ap.add_argument("--full-graph", action="store_true", help="search all n rows")
    ap.add_argument("--pynndescent", action="store_true", help="also time pynndescent")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="    %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader's messages
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} at start", flush=True)
    x = blend(np.load(Path(args.cache) / "embedding.npy").astype(np.float32), args.tracks)
    probes = [int(p) for p in args.nprobe.split(",")]
    cfg = _config(args, probes[0])
    t0, c0 = time.perf_counter(), time.process_time()
    index = NeighborIndex.build(x, cfg, args.seed)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    data = index.to_bytes()
    size = f"index {data.nbytes / 1e6:,.0f} MB, sha256 {hashlib.sha256(data).hexdigest()[:16]}"
    if index.method == "faiss IVF":
        print(f"faiss IVF n={len(x):,} nlist={index.ann.nlist} train={args.train_per_list}"
              f"/list iter={args.kmeans_iter}: build {build_s:.1f} s ({build_cpu:.1f} CPU-s) "
              f"on {args.build_threads} thread(s) (k-means + add), {size}", flush=True)
        for nprobe in probes:
            del index  # one copy of the index at a time (1 GB at 10M)
            index = NeighborIndex.from_bytes(data, x, _config(args, nprobe))
            _measure(index, args, f"nprobe={nprobe}")
    else:
        print(f"faiss HNSW n={len(x):,} M={args.m} efC={args.ef_construction}: build "
              f"{build_s:.1f} s ({build_cpu:.1f} CPU-s, 1 thread), {size}", flush=True)
        _measure(index, args, f"efSearch={max(args.ef_search, args.k + 2)}")
    if args.pynndescent:
        _pynndescent(x, index, args)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} at end", flush=True)


def _pynndescent(x: np.ndarray, index: NeighborIndex, args: argparse.Namespace) -> None:
    import numba
    from pynndescent import NNDescent

    numba.set_num_threads(args.threads)
    t0 = time.perf_counter()
    nn = NNDescent(x, n_neighbors=args.k + 1, metric="cosine", random_state=0,
                   n_jobs=args.threads, low_memory=True)
    got = nn.neighbor_graph[0][:, 1:]  # itself first
    print(f"pynndescent n={len(x)}: graph {time.perf_counter() - t0:.1f} s (incl. JIT), "
          f"recall@10 {recall_at_10(index, got, QUERIES, seed=QUERY_SEED):.4f}")


if __name__ == "__main__":
    main()
