"""The clusters stage over partitions of rows (catalogs above ``ClusterConfig.fit_sample``).

- fit (one worker): :func:`pipeline.map.fit_clusters`, HDBSCAN over the settings grid on the
  seeded sample and the selection, unchanged; the chosen setting's labels, strengths and
  soft memberships of the fitted rows go to ``.parts/clusters/`` as ``.npy`` files and the
  rest of the fit (space, setting, candidates) as JSON: no pickle.
- part (rows ``r0:r1`` of the *unfitted* tracks, in row order): each track labelled from its
  ``assign_k`` nearest fitted tracks (:func:`pipeline.map.assign_labels`, the local path's
  own function; its result for a row does not depend on the other rows queried with it).
- combine (one worker): every track's label, strength and membership put together, then
  :func:`pipeline.map.finish_clusters` (scores, KMeans baseline, playlist agreement, all on
  seeded samples or the 2-D space) and the stage's artifacts, written as the whole stage
  writes them (:func:`pipeline.build.stages.cluster_outputs`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.build.context import Context
from pipeline.build.stages import cluster_outputs, cluster_playlists, cluster_spaces
from pipeline.store import read_json, read_npy, save_artifact

from .partition_files import cached, narrow, part_path, rest_rows, scratch

STAGE = "clusters"
FIT_ARRAYS = ("fit_rows", "labels", "probability", "membership")
PART_ARRAYS = ("labels", "probability", "membership")


def applies(ctx: Context, n: int) -> bool:
    return n > ctx.cfg.clusters.fit_sample


def unfitted(ctx: Context, n: int) -> int:
    """Tracks labelled from the fitted sample (the partitions' rows)."""
    return n - ctx.cfg.clusters.fit_sample


def fit(ctx: Context) -> dict:
    from pipeline.build.lineage import previous_labels  # a refit prefers the previous one
    from pipeline.map import fit_clusters

    res = fit_clusters(cluster_spaces(ctx, mmap=True), ctx.cfg.clusters, ctx.seed(STAGE),
                       previous_labels(ctx), ctx.cfg.update.min_jaccard)
    folder = scratch(ctx, STAGE)
    for what in FIT_ARRAYS:
        save_artifact(folder / f"fit-{what}.npy", getattr(res, what))
    save_artifact(folder / "fit.json", res.meta())
    return {"space": res.space}


def _fitted(ctx: Context, space: str) -> tuple[np.ndarray, ...]:
    """(fit_rows, labels, probability, membership, the fitted rows' points), read once per
    worker."""
    files = [scratch(ctx, STAGE) / f"fit-{what}.npy" for what in FIT_ARRAYS]

    def load():
        arrays = [read_npy(f) for f in files]
        return (*arrays, np.asarray(cluster_spaces(ctx, mmap=True)[space][arrays[0]]))

    return cached(STAGE, files, load)


def part(ctx: Context, fitted: dict, r0: int, r1: int) -> dict:
    from pipeline.map import assign_labels

    fit_rows, labels, probability, membership, ref = _fitted(ctx, fitted["space"])
    x = cluster_spaces(ctx, mmap=True)[fitted["space"]]
    out = assign_labels(ref, labels, probability, membership,
                        np.asarray(x[rest_rows(fit_rows, r0, r1)]), ctx.cfg.clusters.assign_k)
    paths = [part_path(ctx, STAGE, what, r0, r1, ".npy") for what in PART_ARRAYS]
    for path, arr in zip(paths, out):
        save_artifact(path, arr)
    return {"paths": [str(p) for p in paths]}


def combine(ctx: Context, fitted: dict, parts: list[dict]) -> None:
    from pipeline.map import PROFILE_FEATURES, ClusterFit, finish_clusters

    # what cluster_outputs (ids, names) and cluster_playlists read of the track table
    narrow(ctx, "tracks.parquet", ("track_id", "genre", "year", *PROFILE_FEATURES))
    folder = scratch(ctx, STAGE)
    res = ClusterFit(**read_json(folder / "fit.json"),
                     **{what: read_npy(folder / f"fit-{what}.npy") for what in FIT_ARRAYS})
    rest = rest_rows(res.fit_rows, 0, res.n_total - len(res.fit_rows))
    whole = []
    for i, fitted_part in enumerate((res.labels, res.probability, res.membership)):
        arr = np.empty((res.n_total, *fitted_part.shape[1:]), fitted_part.dtype)
        arr[res.fit_rows] = fitted_part
        arr[rest] = np.concatenate([read_npy(Path(p["paths"][i])) for p in parts])
        whole.append(arr)
    out = finish_clusters(cluster_spaces(ctx, mmap=True), res, *whole, ctx.cfg.clusters,
                          ctx.seed(STAGE), cluster_playlists(ctx))
    for name, value in cluster_outputs(ctx, out).items():
        save_artifact(ctx.cache / name, value)
