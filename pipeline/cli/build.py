"""``python -m pipeline build``: build (or refresh) the cache for a catalog."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.config import PipelineConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build (or refresh) the cache for a catalog")
    p.add_argument("--catalog", help="CSV/parquet file or folder (default: $CATALOG, "
                   "data/raw/spotify_songs.csv, else download)")
    p.add_argument("--cache", default="cache", help="artifact directory (default: cache)")
    p.add_argument("--config", help="JSON file with PipelineConfig overrides")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.add_argument("--force", action="store_true", help="recompute every stage")
    p.add_argument("--workers", type=int, default=2,
                   help="processes for independent stages (default 2; 1 = all in one process)")
    p.set_defaults(func=run)


def load_config(path: str | None, seed: int | None) -> PipelineConfig:
    cfg = PipelineConfig.from_file(path) if path else PipelineConfig()
    return cfg.model_copy(update={"seed": seed}) if seed is not None else cfg


def run(args: argparse.Namespace) -> int:
    from pipeline.build import build
    from pipeline.catalog import resolve_catalog

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
    nb = metrics.get("neighbors")
    if nb:
        print(f"nbrs    : {nb['method']}, k={nb['k']}, recall@10 {nb['recall_at_10']} "
              f"({nb['recall_note']})")
    print(f"clusters: {cl['n_clusters']} in {cl['space']}, noise {cl['noise_share']:.1%}, "
          f"silhouette {cl['silhouette']} (KMeans k={cl['kmeans_baseline']['k']}: "
          f"{cl['kmeans_baseline']['silhouette']}), DBCV {cl['dbcv']}")
    print("timings : " + json.dumps(metrics["timings_s"]))
    return 0
