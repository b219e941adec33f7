"""``python -m pipeline build``: build (or refresh) the cache for a catalog."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

from pipeline.config import PipelineConfig
from pipeline.errors import BuildError, CacheError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build (or refresh) the cache for a catalog")
    p.add_argument("--catalog", help="CSV/parquet file or folder (default: $CATALOG, "
                   "data/raw/spotify_songs.csv, else download)")
    p.add_argument("--cache", default="cache", help="artifact directory (default: cache)")
    p.add_argument("--config", help="JSON file with PipelineConfig overrides")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.add_argument("--force", action="store_true", help="recompute every stage")
    p.add_argument("--refit", action="store_true",
                   help="fit the map, clusters and models again even when the catalog "
                   "changed little enough to update them (docs/UPDATES.md); the refit is "
                   "aligned to the previous build")
    p.add_argument("--workers", type=int, default=2,
                   help="processes for independent stages (default 2; 1 = all in one "
                   "process); with --engine dask and no scheduler: the local cluster's "
                   "worker processes (at most the machine's cores)")
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local: this machine's process pool (default); dask: the stages as "
                   "Dask tasks (docs/DASK.md)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --engine dask: a running scheduler, e.g. tcp://HOST:8786 "
                   "(default: $DASK_SCHEDULER_ADDRESS, else a local cluster for the build)")
    p.set_defaults(func=run)


def load_config(path: str | None, seed: int | None) -> PipelineConfig:
    cfg = PipelineConfig.from_file(path) if path else PipelineConfig()
    return cfg.model_copy(update={"seed": seed}) if seed is not None else cfg


def run(args: argparse.Namespace) -> int:
    from pipeline.build import build
    from pipeline.catalog import preflight, resolve_catalog

    if args.scheduler and args.engine != "dask":
        raise ValueError(f"--scheduler {args.scheduler} needs --engine dask.")
    files = resolve_catalog(args.catalog)
    cache = Path(args.cache)
    # Whole-file problems and a bad cache path in about a second, before any worker starts.
    preflight(files, cache)
    try:
        metrics = build(files, cache, load_config(args.config, args.seed), args.force,
                        workers=args.workers, engine=args.engine, scheduler=args.scheduler,
                        refit=args.refit, **_progress_printer())
    except BuildError as exc:  # the cluster, not the input: say so in one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions changed mid-build: say which file
        raise CacheError(f"{exc.filename or cache}: {exc.strerror or exc}. Check that the "
                         "cache folder is writable and the disk has space, then build "
                         "again.") from None
    _print_summary(metrics, args.cache)
    return 0


def _progress_printer() -> dict[str, Callable]:
    """``progress`` and ``stage_done`` callbacks that print each stage's start, reuse and
    finish with its wall seconds (any engine: both run on this side)."""
    started: dict[str, tuple[float, str]] = {}

    def progress(stage: str, i: int, n: int, cached: bool) -> None:
        label = f"stage {i + 1}/{n} {stage:<12}"
        if cached:
            print(f"{label} cached", flush=True)
        else:
            started[stage] = (time.perf_counter(), label)
            print(f"{label} started", flush=True)

    def stage_done(stage: str) -> None:
        t0, label = started.get(stage, (time.perf_counter(), f"stage {stage:<12}"))
        print(f"{label} done in {time.perf_counter() - t0:.1f} s", flush=True)

    return {"progress": progress, "stage_done": stage_done}


def _print_summary(metrics: dict, cache: str) -> None:
    c, cl, e = metrics["catalog"], metrics["clusters"], metrics["embedding"]
    print(f"catalog : {c['tracks']} tracks from {c['rows_read']} rows "
          f"({c['rejected_rows']} rejected -> {cache}/rejects.csv, "
          f"{c['duplicate_ids_merged']} duplicate rows merged, "
          f"{c['same_song_groups']} same-song groups)")
    for line in _input_notes(c):
        print(f"input   : {line}")
    print(f"embed   : {e['dim']}-d, {e['validation']['name']} = {e['validation']['value']} "
          f"(raw features {e['validation']['raw_features_baseline']})")
    nb = metrics.get("neighbors")
    if nb:
        print(f"nbrs    : {nb['method']}, k={nb['k']}, recall@10 {nb['recall_at_10']} "
              f"({nb['recall_note']})")
    print(f"clusters: {cl['n_clusters']} in {cl['space']}, noise {cl['noise_share']:.1%}, "
          f"silhouette {cl['silhouette']} (KMeans k={cl['kmeans_baseline']['k']}: "
          f"{cl['kmeans_baseline']['silhouette']}), DBCV {cl['dbcv']}")
    for line in _change_notes(metrics.get("changes")):
        print(line)
    print("timings : " + json.dumps(metrics["timings_s"]))


def _change_notes(ch: dict | None) -> list[str]:
    """The build's mode, why, and what changed since the previous build."""
    if not ch:
        return []
    t = ch["tracks"]
    lines = [f"mode    : {ch['mode']}" + (f" ({ch['decision']})" if ch.get("decision") else "")]
    if ch["previous"]["generation"]:
        lines.append(f"changes : {t['added']} added, {t['removed']} removed, {t['edited']} "
                     f"edited, {t['kept']} kept; {ch['placed_by_transform_share']:.1%} of "
                     "the tracks placed by transform since the last full fit")
    al = ch.get("alignment")
    if al:
        lines.append(f"aligned : {al['shared_tracks']} shared tracks moved "
                     f"{al['mean_displacement_share']:.1%} of the map on average, "
                     f"{al['kept_cluster_share']:.1%} kept their cluster id; vanished "
                     f"clusters: {ch['vanished_ids'] or 'none'}"
                     + ("; the refit started from the previous build's map and clusters"
                        if al.get("warm_start") else ""))
    if ch.get("refit_advised"):
        lines.append(f"advice  : {ch['refit_reason']}")
    return lines


def _input_notes(catalog: dict) -> list[str]:
    """What the reader had to work out (anything but plain UTF-8 CSV), dates, conflicts."""
    notes = []
    for f in catalog.get("input", []):
        parts = [f"{k} {f[k]}" for k in ("encoding", "separator", "compression")
                 if f.get(k) and f[k] not in ("utf-8", ",")]
        if f.get("columns_renamed"):
            parts.append("columns read as " + ", ".join(
                f"{old!r} -> {new}" for old, new in f["columns_renamed"].items()))
        if parts:
            notes.append(f"{f['file']}: " + "; ".join(parts))
    dates = catalog.get("release_date_unknown", {})
    if dates.get("rows"):
        notes.append(f"{dates['rows']} rows kept with an unknown year (release date not "
                     f"readable, e.g. {', '.join(map(repr, dates['examples'][:3]))})")
    conflicts = catalog.get("duplicate_ids_conflicting", {})
    if conflicts.get("ids"):
        notes.append(f"{conflicts['ids']} duplicate ids with conflicting values: first row "
                     f"kept ({', '.join(conflicts['columns'])})")
    return notes
