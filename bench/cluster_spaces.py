"""Which space to cluster in: HDBSCAN over the same settings grid in the 2-D map, an
8-D UMAP (min_dist 0) and the 24-D embedding, each scored the same way. Usage:

    .venv/bin/python bench/cluster_spaces.py --cache cache
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from pipeline.config import ClusterConfig, ProjectionConfig
from pipeline.map.clustering import build_clusters
from pipeline.map.projection import build_projection
from pipeline.store import read_npy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    cache = Path(args.cache)
    emb = read_npy(cache / "embedding.npy")
    graph = (read_npy(cache / "neighbors_idx.npy"), read_npy(cache / "neighbors_sim.npy"))
    _, nd = build_projection(emb, ProjectionConfig(cluster_dim=8), args.seed, graph)
    spaces = {"map2d": read_npy(cache / "map2d.npy"), "umap_nd": nd, "embedding": emb}
    print(f"{'space':10s} {'clusters':>8s} {'noise':>7s} {'silhouette':>10s} {'DBCV':>7s} "
          f"{'KMeans sil':>10s} {'seconds':>8s}  chosen settings")
    for name, x in spaces.items():
        t0 = time.perf_counter()
        r = build_clusters({name: x}, ClusterConfig(space=name), args.seed).report
        print(f"{name:10s} {r['n_clusters']:8d} {r['noise_share']:7.1%} {r['silhouette'] or 0:10.3f} "
              f"{r['dbcv'] or 0:7.3f} {r['kmeans_baseline']['silhouette']:10.3f} "
              f"{time.perf_counter() - t0:8.1f}  {r['params']}")


if __name__ == "__main__":
    main()
