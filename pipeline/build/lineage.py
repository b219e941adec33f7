"""What changed since the previous build, and a refit kept close to it.

Every build ends here (:func:`finalize`), after its stages:

- a refit over a previous build (the map or the clusters fitted again) is aligned to it:
  the map by Procrustes on the shared tracks, the clusters by one-to-one matching that
  hands old ids and names to the new clusters (:mod:`pipeline.map.alignment`);
- ``track_status.parquet``: per track (row-aligned with ``tracks.parquet``) whether it is
  kept, new or edited since the previous build, whether its map position comes from a
  full fit or from transform (an update), and the date of the build that added it;
- ``changes.json``: the counts, the clusters that grew, shrank, appeared or vanished, the
  alignment's figures and whether a refit is advised (the dashboard's "What changed").

The lineage (last full fit, highest cluster id ever used) is kept in ``manifest.json``.

A refit also *starts* from the previous build (:func:`link_prior`): its tracks, map and
clusters are hard-linked into the working generation's ``prior/`` folder, where the
projection stage starts UMAP from the previous map (:func:`warm_start`) and the clusters
stage prefers the setting that agrees most with the previous labels
(:func:`previous_labels`). The stage keys of a warm refit include the checksums of those
files (:func:`prior_digest`), so a resumed refit reuses a finished stage only when it
started from the same previous build.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import store as io
from pipeline.config import PipelineConfig

from .refit_ids import hand_over_ids
from .update import TrackDiff, diff_tracks

log = logging.getLogger(__name__)
NOISE = -1
PRIOR = "prior"  # folder in a working generation: the previous build a refit starts from
FRESH = "fresh"  # folder in a working generation: the stage outputs the alignment rewrites
ALIGNED = ("map2d.npy", "cluster_space.npy", "clusters.parquet", "membership.npy",
           "cluster_report.json", "cluster_names.json")
PRIOR_FILES = {"projection": ("tracks.parquet", "map2d.npy"),
               "clusters": ("tracks.parquet", "clusters.parquet")}


def link_prior(served: Path, work: Path, cfg: PipelineConfig) -> dict[str, dict] | None:
    """Hard-link what a refit starts from into ``work/prior/``; returns the stage-key
    inputs by stage (:func:`prior_digest`), or None when there is nothing to start from
    (``cfg.update.warm_start`` off, or a previous build without a map or clusters).
    Removed again before the generation is published (:func:`drop_prior`)."""
    from pipeline import generations as gens

    if not cfg.update.warm_start:
        return None
    names = [n for n in ("tracks.parquet", "map2d.npy", "clusters.parquet")
             if (served / n).exists()]
    if "tracks.parquet" not in names or len(names) < 2:
        return None
    (work / PRIOR).mkdir(exist_ok=True)
    gens.link_outputs(served, work / PRIOR, names)
    return prior_digest(work, cfg)


def prior_digest(work: Path, cfg: PipelineConfig) -> dict[str, dict]:
    """Per warm-started stage, what its key must add: the checksums of the previous
    build's files it reads and the warm-start settings."""
    from pipeline import generations as gens

    folder = work / PRIOR
    out = {}
    for stage, names in PRIOR_FILES.items():
        if all((folder / n).exists() for n in names):
            out[stage] = {"files": {n: gens.checksum(folder / n) for n in names},
                          "update": cfg.update.model_dump(include={"warm_learning_rate",
                                                                   "min_jaccard"})}
    return out


def drop_prior(work: Path) -> None:
    """Remove ``prior/`` and ``fresh/`` from a finished working generation (they are not
    artifacts)."""
    import shutil

    shutil.rmtree(work / PRIOR, ignore_errors=True)
    shutil.rmtree(work / FRESH, ignore_errors=True)


def _fresh_outputs(work: Path) -> None:
    """Make the alignment re-runnable. It rewrites stage outputs in place; a build that
    crashes after it and before publishing resumes with those stages finished, and would
    align the aligned outputs again (a carried partition taken for a fresh one). So the
    first run hard-links the stages' own outputs into ``fresh/`` with the keys of the
    stages that made them, and a later run restores them first when those stages were
    reused (same keys); a stage run again discards the copy."""
    import shutil

    from pipeline import generations as gens

    folder = work / FRESH
    done = io.read_json(work / gens.PROGRESS) if (work / gens.PROGRESS).exists() else {}
    keys = {s: done.get(s) for s in ("projection", "clusters")}
    if (folder / "keys.json").exists() and io.read_json(folder / "keys.json") == keys:
        names = [n for n in ALIGNED if (folder / n).exists()]
        gens.link_outputs(folder, work, names)
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    gens.link_outputs(work, folder, [n for n in ALIGNED if (work / n).exists()])
    io.write_json(folder / "keys.json", keys)  # last: the copy is complete


def _prior_rows(ctx: Any) -> np.ndarray:
    """(n_tracks,) each track's row in the previous build, -1 for a new track."""
    prev = ctx.get(f"{PRIOR}/tracks.parquet")["track_id"]
    pos = pd.Series(np.arange(len(prev)), index=prev.to_numpy())
    ids = ctx.get("tracks.parquet")["track_id"].to_numpy()
    return pos.reindex(ids).fillna(-1).to_numpy(np.int64)


def warm_start(ctx: Any):
    """The projection stage's start (``pipeline.map.Warm``) from the previous build in
    ``ctx.cache/prior``, or None (a first build, or warm starts off): the fit is cold."""
    from pipeline.map import Warm, warm_init

    if not (ctx.cache / PRIOR / "map2d.npy").exists():
        return None
    prev_map = ctx.get(f"{PRIOR}/map2d.npy")
    rows = _prior_rows(ctx)
    if len(prev_map) != len(ctx.get(f"{PRIOR}/tracks.parquet")) or not (rows >= 0).any():
        return None
    init = warm_init(ctx.get("embedding.npy"), rows, prev_map, ctx.cfg.projection.place_k)
    return Warm(init, ctx.cfg.update.warm_learning_rate)


def previous_labels(ctx: Any) -> np.ndarray | None:
    """(n_tracks,) the previous build's cluster id of each track (``NOT_PREVIOUS`` for a
    new one), or None without a previous build in ``ctx.cache/prior``."""
    from pipeline.map import NOT_PREVIOUS

    if not (ctx.cache / PRIOR / "clusters.parquet").exists():
        return None
    prev = ctx.get(f"{PRIOR}/clusters.parquet")["cluster"].to_numpy()
    rows = _prior_rows(ctx)
    if len(prev) != len(ctx.get(f"{PRIOR}/tracks.parquet")) or not (rows >= 0).any():
        return None
    return np.where(rows >= 0, prev[np.maximum(rows, 0)], NOT_PREVIOUS)


def read_previous(served: Path | None) -> dict[str, Any] | None:
    """The previous build's tables for the comparison (None for a first build)."""
    if served is None or not (served / "tracks.parquet").exists():
        return None
    def read(name: str) -> Any:  # an artifact lost since (rebuilt now) is left out
        return io.load_artifact(served / name) if (served / name).exists() else None

    tracks, clusters = read("tracks.parquet"), read("clusters.parquet")
    if clusters is not None and len(clusters) != len(tracks):
        clusters = None
    status = read("track_status.parquet")
    if status is not None and len(status) != len(tracks):
        status = None
    return {"generation": served.name, "manifest": read("manifest.json") or {},
            "tracks": tracks, "clusters": clusters, "map2d": read("map2d.npy"),
            "status": status,
            "names": {int(k): v for k, v in (read("cluster_names.json") or {}).items()}}


def transform_placed(prev: dict[str, Any] | None) -> np.ndarray:
    """(n_prev,) bool: previous tracks placed by transform since the last full fit."""
    if prev is None or prev["status"] is None:
        return np.zeros(0 if prev is None else len(prev["tracks"]), bool)
    return prev["status"]["placed_by"].to_numpy() == "transform"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def finalize(work: Path, served: Path | None, prev: dict[str, Any] | None, mode: str,
             cfg: PipelineConfig, reason: str | None = None) -> dict:
    """Align a refit, write track_status.parquet and changes.json into ``work``; return
    the manifest's lineage record."""
    today = time.strftime("%Y-%m-%d")
    tracks = io.read_parquet(work / "tracks.parquet")
    diff = diff_tracks(prev["tracks"], tracks) if prev is not None else None
    lineage = dict((prev or {}).get("manifest", {}).get("lineage", {}))
    before = (prev["clusters"]["cluster"].to_numpy() if prev is not None
              and prev["clusters"] is not None else np.zeros(0, np.int64))
    max_id = max(int(lineage.get("max_cluster_id", -1)), int(before.max(initial=-1)))
    alignment, map_refit = None, True
    if mode == "refit" and prev is not None:
        map_refit = not _same_file(work / "map2d.npy", served / "map2d.npy")
        clusters_refit = not _same_file(work / "clusters.parquet", served / "clusters.parquet")
        if (map_refit and prev["map2d"] is not None) or (clusters_refit and len(before)):
            alignment = _align(work, prev, diff, max_id, cfg, map_refit, clusters_refit)
    labels = io.read_parquet(work / "clusters.parquet")["cluster"].to_numpy()
    status = track_status(tracks, diff, prev["status"] if prev is not None else None,
                          mode, map_refit, today, _built_on(prev))
    share = float((status["placed_by"] == "transform").mean()) if len(status) else 0.0
    names = {int(k): v for k, v in io.read_json(work / "cluster_names.json").items()}
    clusters, vanished = cluster_changes(before, labels,
                                         {**(prev or {}).get("names", {}), **names})
    advised = mode == "update" and share > cfg.update.advise_transform_share
    changes = {
        "mode": mode,
        "previous": {"generation": prev["generation"] if prev else None,
                     "built_at": prev["manifest"].get("built_at") if prev else None,
                     "n_tracks": int(len(prev["tracks"])) if prev else None},
        "tracks": diff.counts() if diff is not None else
        {"added": int(len(tracks)), "removed": 0, "edited": 0, "kept": 0},
        "placed_by_transform_share": round(share, 4),
        "refit_advised": bool(advised),
        "refit_reason": (f"{share:.1%} of the tracks were placed by transform since the "
                         f"last full fit (advice from {cfg.update.advise_transform_share:.0%}"
                         "); `python -m pipeline build --refit` fits the map again"
                         if advised else None),
        "alignment": alignment, "clusters": clusters, "vanished_ids": vanished,
        "decision": reason}
    io.write_parquet(work / "track_status.parquet", status)
    io.write_json(work / "changes.json", changes)
    last_fit = (lineage.get("last_fit") if mode == "update" else
                {"generation": work.name, "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return {"mode": mode, "base_generation": prev["generation"] if prev else None,
            "last_fit": last_fit, "counts": changes["tracks"],
            "placed_by_transform_share": changes["placed_by_transform_share"],
            "max_cluster_id": max(max_id, int(labels.max(initial=-1))), "decision": reason}


def _built_on(prev: dict[str, Any] | None) -> str | None:
    """The date of the previous build (for tracks it held before track_status existed)."""
    if prev is None:
        return None
    at = prev["manifest"].get("built_at") or max(
        (s.get("built_at", "") for s in prev["manifest"].get("stages", {}).values()
         if s.get("built_at", "")[:1].isdigit()), default="")
    return at[:10] or None


def track_status(tracks: pd.DataFrame, diff: TrackDiff | None, prev_status: pd.DataFrame | None,
                 mode: str, map_refit: bool, today: str, prev_date: str | None) -> pd.DataFrame:
    """track_id, status (kept/new/edited), placed_by (fit/transform), first_seen (date).

    A full fit of the map places every track by fit; an update places new and edited
    tracks by transform and keeps the others' origin.
    """
    n = len(tracks)
    if diff is None:
        return pd.DataFrame({"track_id": tracks["track_id"].to_numpy(), "status": "new",
                             "placed_by": "fit", "first_seen": today})
    new = diff.prev_row < 0
    status = np.where(new, "new", np.where(diff.edited, "edited", "kept"))
    rows = np.where(new, 0, diff.prev_row)
    if prev_status is not None and len(prev_status):
        first = np.where(new, today, prev_status["first_seen"].to_numpy(object)[rows])
        before = prev_status["placed_by"].to_numpy(object)[rows]
    else:
        first = np.where(new, today, prev_date or today)
        before = np.full(n, "fit", object)
    if mode == "update":
        placed = np.where(new | diff.edited, "transform", before)
    else:
        placed = np.full(n, "fit", object) if map_refit else before
    return pd.DataFrame({"track_id": tracks["track_id"].to_numpy(), "status": status,
                         "placed_by": placed.astype(str), "first_seen": first.astype(str)})


def cluster_changes(before: np.ndarray, after: np.ndarray, names: dict[int, str]
                    ) -> tuple[list[dict], list[int]]:
    """Per cluster id: sizes before and after and whether it grew, shrank, stayed the
    same, appeared or vanished (noise left out); and the vanished ids."""
    b = pd.Series(before[before != NOISE]).value_counts()
    a = pd.Series(after[after != NOISE]).value_counts()
    out, vanished = [], []
    for cid in sorted(set(b.index) | set(a.index)):
        nb, na = int(b.get(cid, 0)), int(a.get(cid, 0))
        status = ("appeared" if nb == 0 else "vanished" if na == 0 else
                  "grew" if na > nb else "shrank" if na < nb else "same")
        if status == "vanished":
            vanished.append(int(cid))
        out.append({"id": int(cid), "name": names.get(int(cid), f"cluster {cid}"),
                    "before": nb, "after": na, "status": status})
    return out, vanished


def _align(work: Path, prev: dict[str, Any], diff: TrackDiff, max_id: int,
           cfg: PipelineConfig, map_refit: bool, clusters_refit: bool) -> dict:
    """Align a refit to the previous build in place (map2d, cluster_space, the cluster
    artifacts and names); returns changes.json's ``alignment``."""
    from pipeline.map import displacement_share, procrustes

    _fresh_outputs(work)
    shared = np.flatnonzero(diff.prev_row >= 0)
    old_rows = diff.prev_row[shared]
    map2d = io.read_npy(work / "map2d.npy")
    old_map = prev["map2d"] if prev["map2d"] is not None else map2d[:0]
    if map_refit and len(old_map) and len(shared) >= 3:
        tf = procrustes(map2d[shared], prev["map2d"][old_rows])
        dense = io.read_npy(work / "cluster_space.npy")
        if dense.shape == map2d.shape and np.array_equal(dense, map2d):
            io.write_npy(work / "cluster_space.npy", tf.apply(dense))
        map2d = tf.apply(map2d)
        io.write_npy(work / "map2d.npy", map2d)
    old_labels = (prev["clusters"]["cluster"].to_numpy()[old_rows]
                  if prev["clusters"] is not None else np.full(len(shared), NOISE))
    ids = {}
    if clusters_refit and prev["clusters"] is not None:
        ids = hand_over_ids(work, prev["names"], shared, old_labels, max_id, cfg)
    labels = io.read_parquet(work / "clusters.parquet")["cluster"].to_numpy()
    moved = (displacement_share(old_map[old_rows], map2d[shared]) if len(old_map) else None)
    return {"shared_tracks": int(len(shared)),
            "mean_displacement_share": None if moved is None else round(moved, 4),
            "kept_cluster_share": round(float((labels[shared] == old_labels).mean())
                                        if len(shared) else 1.0, 4),
            "map_refit": bool(map_refit), "clusters_refit": bool(clusters_refit),
            "warm_start": (work / PRIOR).is_dir(), **ids}
