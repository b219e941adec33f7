"""``python -m pipeline evaluate --cache DIR --out FILE.json [--report docs/EVALUATION.md]``."""
from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path

from pipeline import store as io
from pipeline.config import PipelineConfig
from pipeline.errors import CacheError

log = logging.getLogger(__name__)
NEEDS = ["tracks.parquet", "memberships.parquet", "features.npy", "feature_scaler.json"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="offline evaluation of every recommender on "
                       "held-out playlists (writes JSON, optionally docs/EVALUATION.md)")
    p.add_argument("--cache", default="cache", help="built cache directory (default: cache)")
    p.add_argument("--out", default="evaluation.json", help="output JSON file")
    p.add_argument("--report", help="also write this Markdown report (e.g. docs/EVALUATION.md)")
    p.add_argument("--seed", type=int, help="override the cache config's seed")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.evaluation import EvalConfig, render, run_evaluation

    cache = Path(args.cache)
    missing = [f for f in NEEDS if not (cache / f).exists()]
    if missing:
        raise CacheError(f"{cache}: evaluate needs {', '.join(missing)}; build the cache first "
                         f"with `python -m pipeline build --cache {cache}`.")
    cfg_path = cache / "config.json"
    cfg = (PipelineConfig.model_validate(io.read_json(cfg_path)) if cfg_path.exists()
           else PipelineConfig())
    if args.seed is not None:
        cfg = cfg.model_copy(update={"seed": args.seed})
    result = run_evaluation(io.read_parquet(cache / "tracks.parquet"),
                            io.read_parquet(cache / "memberships.parquet"),
                            io.read_npy(cache / "features.npy"),
                            io.read_json(cache / "feature_scaler.json")["names"], cfg,
                            EvalConfig(n_boot=args.n_boot))
    io.write_json(Path(args.out), result)
    command = " ".join(["python -m pipeline evaluate", "--cache", shlex.quote(str(args.cache)),
                        "--out", shlex.quote(str(args.out)),
                        *(["--report", shlex.quote(args.report)] if args.report else [])])
    if args.report:
        with io._atomic(Path(args.report), ".md") as tmp:
            tmp.write_text(render(result, command))
    m, c = result["methods"], result["cold_start"]
    best_cold = max(c, key=lambda n: c[n]["precision_at_10"])
    h = m["hybrid"]
    print(f"hybrid P@10 {h['precision_at_10']:.3f} {h['ci95']['precision_at_10']}"
          f" | best cold-start {best_cold} {c[best_cold]['precision_at_10']:.3f}"
          f" | genre artist-disjoint {result['genre_classifier'].get('accuracy_artist_disjoint')}"
          f" | {result['protocol']['n_seeds']} seeds, {result['protocol']['seconds']} s"
          f" -> {args.out}")
    return 0
