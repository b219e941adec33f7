"""Catalog update figures (issue 12, docs/UPDATES.md): build from 95% of the default catalog,
update with the whole catalog, and refit the whole catalog over the 95% build.

    .venv/bin/python bench/update_bench.py [--catalog data.csv] [--work /tmp/update_bench]
    .venv/bin/python bench/update_bench.py --base /tmp/update_bench/cache95 --work DIR

``--base``: the refit only, over a copy of an earlier run's 95% build (its ``cache95``
copy): a first build is the same with or without a previous one, so a change to the
refit is measured without building the 95% again.

Deterministic: the 95% is a seeded sample of track ids (every row of a kept track is kept),
written with the whole catalog as two CSVs under --work. Prints JSON: wall times (measured
on whatever load the machine carries: say so when quoting them), the share of existing
tracks that keep their cluster id after the update and after the refit, the refit's mean
displacement, the refit's final partition against HDBSCAN's fresh one (cluster count,
noise, silhouette, ids kept), and the updated build against the refit (clusters, noise, and the playlist
precision@10 of the new tracks' nearest neighbours in each build's embedding).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipeline  # noqa: E402
from pipeline import generations as gens  # noqa: E402
from pipeline.build import build  # noqa: E402
from pipeline.map import knn  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "spotify_songs.csv"
GOALS = {"update_ratio": 0.10, "kept_ids_update": 1.0, "kept_ids_refit": 0.95,
         "displacement_refit": 0.05}


def write_catalogs(catalog: Path, work: Path, share: float = 0.95, seed: int = 0
                   ) -> tuple[Path, Path]:
    """(the 95% catalog, the whole catalog) as CSVs under ``work``."""
    df = pd.read_csv(catalog)
    ids = np.sort(df["track_id"].dropna().unique())
    keep = np.random.default_rng(seed).choice(ids, int(len(ids) * share), replace=False)
    part, whole = work / "catalog_95.csv", work / "catalog_100.csv"
    df[df["track_id"].isin(set(keep))].to_csv(part, index=False)
    df.to_csv(whole, index=False)
    return part, whole


def timed_build(catalog: Path, cache: Path, **kw) -> float:
    t0 = time.perf_counter()
    build([catalog], cache, workers=2, **kw)
    return round(time.perf_counter() - t0, 1)


def playlist_precision(index, rows: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's k nearest tracks (embedding, itself excluded) that share
    a playlist with it."""
    m = index.memberships
    lists = m.groupby("track_id")["playlist_id"].agg(set)
    ids = index.tracks["track_id"].to_numpy()
    idx, _ = knn(index.embedding[rows], index.embedding, k + 1)
    hits = []
    for r, nb in zip(rows, idx):
        own = lists.get(ids[r], set())
        nb = [j for j in nb if j != r][:k]
        hits.append(np.mean([bool(own & lists.get(ids[j], set())) for j in nb]))
    return round(float(np.mean(hits)), 4)


def kept_id_share(before, after) -> float:
    b = pd.Series(before.labels, index=before.tracks["track_id"])
    a = pd.Series(after.labels, index=after.tracks["track_id"])
    shared = b.index.intersection(a.index)
    return round(float((b[shared].to_numpy() == a[shared].to_numpy()).mean()), 4)


def quality(index) -> dict:
    clu = index.metrics["clusters"]
    return {"tracks": int(len(index.tracks)), "n_clusters": clu["n_clusters"],
            "noise_share": clu["noise_share"]}


def refit_ids(al: dict) -> dict:
    """The refit's cluster ids (changes.json's alignment): the final partition against
    HDBSCAN's fresh one (ids carried or fresh, docs/UPDATES.md)."""
    return {"cluster_ids": al.get("cluster_ids"),
            "kept_share": {"final": al["kept_cluster_share"],
                           "fresh": al.get("fresh_kept_cluster_share",
                                           al["kept_cluster_share"])},
            "final_partition": al.get("final_partition"),
            "fresh_partition": al.get("fresh_partition"),
            "carried_share": al.get("carried_share"), "carry": al.get("carry")}


def refit_only(base: Path, whole: Path, refit_cache: Path) -> dict:
    """Refit the whole catalog over a copy of ``base`` (a 95% build): the refit's figures."""
    shutil.copytree(gens.resolve(base), refit_cache)
    before = pipeline.load(refit_cache)
    refit_s = timed_build(whole, refit_cache, refit=True)
    refitted = pipeline.load(refit_cache)
    al = refitted.changes["alignment"]
    out = {"machine_load_1min": round(os.getloadavg()[0], 2), "base": str(base),
           "wall_s": {"refit_100": refit_s}, "refit_mode": refitted.changes["mode"],
           "kept_ids_refit": al["kept_cluster_share"],
           "displacement_refit": al["mean_displacement_share"],
           "refit_ids": refit_ids(al),
           "quality": {"base": quality(before), "refit": quality(refitted)},
           "params": {"base": before.metrics["clusters"]["params"],
                      "refit": refitted.metrics["clusters"]["params"]},
           "warm_start": {s: m.get("warm_start", {}).get("generation")
                          for s, m in refitted.manifest["stages"].items()
                          if s in ("projection", "clusters")},
           "vanished_ids_refit": refitted.changes["vanished_ids"]}
    out["goals"] = {k: {"goal": GOALS[k], "value": out[k],
                        "met": out[k] <= GOALS[k] if k == "displacement_refit"
                        else out[k] >= GOALS[k]}
                    for k in ("kept_ids_refit", "displacement_refit")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", type=Path, default=DEFAULT)
    ap.add_argument("--work", type=Path, default=Path("/tmp/update_bench"))
    ap.add_argument("--base", type=Path, help="an earlier run's cache95: refit only")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)  # --base: the refit's work folder only
    part, whole = write_catalogs(args.catalog, args.work)
    cache, refit_cache = args.work / "cache", args.work / "refit"
    if args.base:
        print(json.dumps(refit_only(args.base, whole, refit_cache), indent=1))
        return
    full_s = timed_build(part, cache)
    base = pipeline.load(cache)
    shutil.copytree(gens.resolve(cache), refit_cache)        # the 95% build, for the refit
    shutil.copytree(gens.resolve(cache), args.work / "cache95")  # for --base runs
    update_s = timed_build(whole, cache)
    updated = pipeline.load(cache)
    refit_s = timed_build(whole, refit_cache, refit=True)
    refitted = pipeline.load(refit_cache)
    new_rows = np.flatnonzero(updated.track_status["status"].to_numpy() == "new")
    new_in_refit = np.array([refitted.row(t) for t in updated.tracks["track_id"].iloc[new_rows]])
    al = refitted.changes["alignment"]
    out = {
        "machine_load_1min": round(os.getloadavg()[0], 2),
        "catalog": str(args.catalog),
        "tracks": {"base": int(len(base.tracks)), "whole": int(len(updated.tracks)),
                   "update_counts": updated.changes["tracks"]},
        "wall_s": {"full_build_95": full_s, "update_to_100": update_s, "refit_100": refit_s},
        "update_ratio": round(update_s / full_s, 4),
        "update_mode": updated.changes["mode"], "refit_mode": refitted.changes["mode"],
        "kept_ids_update": kept_id_share(base, updated),
        "kept_ids_refit": al["kept_cluster_share"],
        "displacement_refit": al["mean_displacement_share"],
        "refit_ids": refit_ids(al),
        "update_stage_seconds": updated.metrics["timings_s"],
        "quality": {"updated": {**quality(updated),
                                "new_tracks_playlist_p_at_10": playlist_precision(updated,
                                                                                  new_rows)},
                    "refit": {**quality(refitted),
                              "new_tracks_playlist_p_at_10": playlist_precision(
                                  refitted, new_in_refit)}},
        "vanished_ids_refit": refitted.changes["vanished_ids"],
        "params": {"base": base.metrics["clusters"]["params"],
                   "refit": refitted.metrics["clusters"]["params"]},
    }
    out["goals"] = {k: {"goal": g, "value": out[k],
                        "met": (out[k] <= g if k in ("update_ratio", "displacement_refit")
                                else out[k] >= g)} for k, g in GOALS.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
