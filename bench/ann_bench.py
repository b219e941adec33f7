"""Approximate neighbour index benchmark: faiss HNSW (the project's index) and pynndescent
(umap-learn's) against exact search, on N vectors blended from a built cache's embedding.

    .venv/bin/python bench/ann_bench.py --cache cache --tracks 200000 [--threads 2]
        [--m 16] [--ef-construction 40] [--ef-search 64] [--pynndescent]

Blending: each vector is w*a + (1-w)*b + noise of two random tracks' embeddings (as
bench/make_scale_catalog.py blends tracks), renormalised. Prints build and all-kNN graph
times and recall@10 against exact search on 2,000 seeded queries.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import NeighborConfig  # noqa: E402
from pipeline.map import NeighborIndex  # noqa: E402
from pipeline.map.neighbors import recall_at_10  # noqa: E402


def blend(emb: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(emb), n), rng.integers(0, len(emb), n)
    w = rng.uniform(0.2, 0.8, (n, 1)).astype(np.float32)
    x = w * emb[a] + (1 - w) * emb[b] + rng.normal(0, 0.03, (n, emb.shape[1])).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--tracks", type=int, default=200_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=40)
    ap.add_argument("--ef-search", type=int, default=64)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--pynndescent", action="store_true", help="also time pynndescent")
    args = ap.parse_args()
    x = blend(np.load(Path(args.cache) / "embedding.npy").astype(np.float32), args.tracks)
    cfg = NeighborConfig(k=args.k, exact_max=0, hnsw_m=args.m,
                         ef_construction=args.ef_construction, ef_search=args.ef_search,
                         threads=args.threads)
    t0 = time.perf_counter()
    index = NeighborIndex.build(x, cfg)
    t1 = time.perf_counter()
    idx, _ = index.graph(args.k)
    t2 = time.perf_counter()
    print(f"faiss HNSW M={args.m} efC={args.ef_construction} efS={args.ef_search} "
          f"n={len(x)}: build {t1 - t0:.1f} s (1 thread), graph k={args.k} {t2 - t1:.1f} s "
          f"({args.threads} threads), recall@10 {recall_at_10(index, idx, 2000, seed=1):.4f}")
    if args.pynndescent:
        import numba
        from pynndescent import NNDescent

        numba.set_num_threads(args.threads)
        t0 = time.perf_counter()
        nn = NNDescent(x, n_neighbors=args.k + 1, metric="cosine", random_state=0,
                       n_jobs=args.threads, low_memory=True)
        got = nn.neighbor_graph[0][:, 1:]  # itself first
        print(f"pynndescent n={len(x)}: graph {time.perf_counter() - t0:.1f} s (incl. JIT), "
              f"recall@10 {recall_at_10(index, got, 2000, seed=1):.4f}")


if __name__ == "__main__":
    main()
