"""How much the map and the clusters move between near-identical runs (issue 12 part 2).

Takes one built cache's embedding and neighbour graph and projects them again in fresh
processes that differ only in their thread settings (OMP/OPENBLAS/MKL/NUMBA = 1 or 2), in
the UMAP seed, or in whether UMAP's BLAS limit is applied (``--unpinned``: the projection as
it was before the limit, to measure what the limit removes). Each map is then clustered by
the clusters stage's own function, and every variant is compared with the reference (the
first variant): labels (ARI, noise counted as a label), map displacement after Procrustes
alignment relative to the map's extent, and whether the map is byte-identical. Prints JSON.

    .venv/bin/python bench/stability_bench.py --cache cache --out /tmp/stability
    .venv/bin/python bench/stability_bench.py --cache cache --spectral   # cost of 1 BLAS thread

Maps are kept in ``--out`` and reused on a second run (delete the folder to recompute).
Deterministic: every variant is seeded; the stage seeds are those of a build with --seed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from pipeline.config import PipelineConfig, stage_seed  # noqa: E402
from pipeline.store import read_npy  # noqa: E402

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
# name: (threads, seed offset, BLAS limit applied). The first is the reference.
VARIANTS = {
    "pinned_t1": (1, 0, True), "pinned_t2": (2, 0, True),
    "unpinned_t1": (1, 0, False), "unpinned_t2": (2, 0, False),
    "pinned_seed+1": (2, 1, True), "pinned_seed+2": (2, 2, True),
}


def _project(cache: Path, out: Path, names: list[str], seed: int) -> None:
    """Child process: build the map of each named variant (same threads) into ``out``."""
    from threadpoolctl import threadpool_info

    from pipeline.map import projection

    cfg = PipelineConfig(seed=seed)
    emb = read_npy(cache / "embedding.npy")
    graph = (read_npy(cache / "neighbors_idx.npy"), read_npy(cache / "neighbors_sim.npy"))
    pinned_fit = projection._fit_umap
    for name in names:
        _, offset, pinned = VARIANTS[name]
        # unpinned: UMAP as it ran before the BLAS limit (for the before/after figure only)
        projection._fit_umap = pinned_fit if pinned else (lambda umap, kw, x: umap.UMAP(**kw).fit(x))
        map2d, _ = projection.build_projection(emb, cfg.projection,
                                               stage_seed(seed, "projection") + offset, graph,
                                               cfg.neighbors)
        np.save(out / f"{name}.npy", map2d)
    pools = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    (out / f"pools_t{VARIANTS[names[0]][0]}.json").write_text(json.dumps(pools))


def _make_maps(cache: Path, out: Path, seed: int) -> None:
    by_threads: dict[int, list[str]] = {}
    for name, (threads, _, _) in VARIANTS.items():
        if not (out / f"{name}.npy").exists():
            by_threads.setdefault(threads, []).append(name)
    for threads, names in by_threads.items():
        env = {**os.environ, **{v: str(threads) for v in THREAD_VARS}}
        subprocess.run([sys.executable, __file__, "--cache", str(cache), "--out", str(out),
                        "--seed", str(seed), "--child", ",".join(names)], env=env, check=True)


def procrustes_displacement(ref: np.ndarray, other: np.ndarray) -> float:
    """Mean distance between a track's two positions after aligning ``other`` to ``ref``
    (rotation/reflection, uniform scale, shift), over the diagonal of ``ref``'s bounding box
    of its central 99 % (so a few far outliers do not set the scale)."""
    from scipy.linalg import orthogonal_procrustes

    a, b = ref - ref.mean(0), other - other.mean(0)
    r, s = orthogonal_procrustes(b, a)
    aligned = b @ r * (s / (b ** 2).sum())
    lo, hi = np.percentile(ref, [0.5, 99.5], axis=0)
    return float(np.linalg.norm(aligned - a, axis=1).mean() / np.linalg.norm(hi - lo))


def _ami(report: dict, col: str) -> dict | None:
    """Clusters' and KMeans's AMI with the playlists' primary genre or subgenre."""
    a = report.get("playlist_ami", {}).get(col)
    return a and {"clusters": a["clusters"], "kmeans": a["kmeans"]}


def _time_spectral(cache: Path, seed: int, repeats: int = 2) -> dict:
    """Seconds of UMAP's spectral initialisation (its only BLAS-heavy step) on the cache's
    graph with 2 and with 1 BLAS thread, alternating, in this process."""
    import time
    import warnings

    from threadpoolctl import threadpool_limits
    from umap.spectral import spectral_layout
    from umap.umap_ import fuzzy_simplicial_set

    from pipeline.map.projection import _umap_knn

    cfg = PipelineConfig(seed=seed).projection
    emb = read_npy(cache / "embedding.npy")
    ind, dist, _ = _umap_knn((read_npy(cache / "neighbors_idx.npy"),
                              read_npy(cache / "neighbors_sim.npy")), cfg.n_neighbors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = fuzzy_simplicial_set(emb, cfg.n_neighbors, np.random.RandomState(seed), "cosine",
                                     knn_indices=ind, knn_dists=dist)[0]
    out: dict[str, list[float]] = {"blas_threads_2": [], "blas_threads_1": []}
    for _ in range(repeats):
        for threads in (2, 1):
            with threadpool_limits(threads, user_api="blas"):
                t0 = time.perf_counter()
                spectral_layout(emb, graph, 2, np.random.RandomState(seed))
                out[f"blas_threads_{threads}"].append(round(time.perf_counter() - t0, 2))
    return {"spectral_init_seconds": out, "load_average": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--out", default="/tmp/stability")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--spectral", action="store_true", help="time the spectral init only")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cache, out = Path(args.cache), Path(args.out)
    if args.spectral:
        print(json.dumps(_time_spectral(cache, args.seed), indent=1))
        return
    out.mkdir(parents=True, exist_ok=True)
    if args.child:
        _project(cache, out, args.child.split(","), args.seed)
        return
    _make_maps(cache, out, args.seed)
    print(json.dumps(_compare(cache, out, args.seed), indent=1))


def _compare(cache: Path, out: Path, seed: int) -> dict:
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    from pipeline.map.clustering import _kmeans, build_clusters, playlist_genres

    cfg = PipelineConfig(seed=seed)
    truth = playlist_genres(pd.read_parquet(cache / "tracks.parquet"),
                            pd.read_parquet(cache / "memberships.parquet"))
    emb = read_npy(cache / "embedding.npy")
    maps = {name: np.load(out / f"{name}.npy") for name in VARIANTS}
    ref_name = next(iter(VARIANTS))
    results, ref = {}, None
    for name, xy in maps.items():
        res = build_clusters({"map2d": xy, "embedding": emb}, cfg.clusters,
                             stage_seed(seed, "clusters"), truth)
        r = res.report
        row = {"threads": VARIANTS[name][0], "seed_offset": VARIANTS[name][1],
               "blas_limit": VARIANTS[name][2], "n_clusters": r["n_clusters"],
               "noise_share": r["noise_share"], "hdbscan_noise_share": r["hdbscan_noise_share"],
               "constraints_met": r["constraints_met"], "silhouette": r["silhouette"],
               "kmeans_silhouette": r["kmeans_baseline"]["silhouette"], "params": r["params"],
               "ami_genre": _ami(r, "genre"), "ami_subgenre": _ami(r, "subgenre")}
        # KMeans with a fixed k on each map: how much a method without a selection step moves
        km = _kmeans(xy, 20, cfg.clusters, stage_seed(seed, "clusters"))[0]
        if ref is None:
            ref, ref_km = res, km
        else:
            row["vs_" + ref_name] = {
                "map_byte_identical": bool(np.array_equal(xy, maps[ref_name])),
                "displacement_share_of_extent": round(
                    procrustes_displacement(maps[ref_name], xy), 4),
                "ari_labels": round(adjusted_rand_score(ref.labels, res.labels), 4),
                "ari_nearest": round(adjusted_rand_score(ref.nearest, res.nearest), 4),
                "ari_kmeans_k20": round(adjusted_rand_score(ref_km, km), 4)}
        results[name] = row
    pools = {p.name: json.loads(p.read_text()) for p in sorted(out.glob("pools_*.json"))}
    return {"cache": str(cache), "seed": seed, "reference": ref_name, "variants": results,
            "blas_pools_after_run": pools}


if __name__ == "__main__":
    main()
