"""Command line: ``python -m pipeline <command>``. Logging is configured only here."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import PipelineConfig
from .errors import CacheError, CatalogError

log = logging.getLogger("pipeline")


def _add_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build (or refresh) the cache for a catalog")
    p.add_argument("--catalog", help="CSV/parquet file or folder (default: $CATALOG, "
                   "data/raw/spotify_songs.csv, else download)")
    p.add_argument("--cache", default="cache", help="artifact directory (default: cache)")
    p.add_argument("--config", help="JSON file with PipelineConfig overrides")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.add_argument("--force", action="store_true", help="recompute every stage")
    p.add_argument("--workers", type=int, default=2,
                   help="processes for independent stages (default 2; 1 = all in one process)")
    p.set_defaults(func=_cmd_build)


def load_config(path: str | None, seed: int | None) -> PipelineConfig:
    cfg = PipelineConfig.from_file(path) if path else PipelineConfig()
    return cfg.model_copy(update={"seed": seed}) if seed is not None else cfg


def _cmd_build(args: argparse.Namespace) -> int:
    from .orchestrator import build
    from .sources import resolve_catalog

    files = resolve_catalog(args.catalog)
    metrics = build(files, Path(args.cache), load_config(args.config, args.seed), args.force,
                    workers=args.workers)
    c, cl, e = metrics["catalog"], metrics["clusters"], metrics["embedding"]
    print(f"catalog : {c['tracks']} tracks from {c['rows_read']} rows "
          f"({c['rejected_rows']} rejected -> {args.cache}/rejects.csv, "
          f"{c['duplicate_ids_merged']} duplicate rows merged, "
          f"{c['same_song_groups']} same-song groups)")
    print(f"embed   : {e['dim']}-d, {e['validation']['name']} = {e['validation']['value']} "
          f"(raw features {e['validation']['raw_features_baseline']})")
    print(f"clusters: {cl['n_clusters']} in {cl['space']}, noise {cl['noise_share']:.1%}, "
          f"silhouette {cl['silhouette']} (KMeans k={cl['kmeans_baseline']['k']}: "
          f"{cl['kmeans_baseline']['silhouette']}), DBCV {cl['dbcv']}")
    print("timings : " + json.dumps(metrics["timings_s"]))
    return 0


COMMANDS = [_add_build]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline",
                                     description="Catalog Explorer offline pipeline")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    _register_optional(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (CatalogError, CacheError, KeyError, ValueError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2


def _register_optional(sub: argparse._SubParsersAction) -> None:
    """Commands that live in their own modules (evaluate, recommend, playlist)."""
    import importlib

    for mod in ("pipeline.evaluate_cli", "pipeline.recommend_cli", "pipeline.playlist_cli"):
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
            continue
        module.add_parser(sub)
