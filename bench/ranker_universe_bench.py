"""Does a bounded training universe cost ranking quality? (a benchmark, not a test)

    .venv/bin/python bench/ranker_universe_bench.py --cache /tmp/c200k --universe 50000 200000

The evaluation protocol's split (held-out playlists, 5 seeds each) on a built cache; the
evaluation signals are fitted once on the training playlists, then the rankers are trained
once per ``--universe`` value (``ranker.max_train_tracks``) and scored on the same seeds.
Prints JSON: P@10 / nDCG@10 of the hybrid and content rankers, training seconds and the
training report per universe size.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import store as io  # noqa: E402
from pipeline.config import PipelineConfig, stage_seed  # noqa: E402
from pipeline.evaluation import EvalConfig, per_seed_metrics, protocol_split  # noqa: E402
from pipeline.recommend import fit_signals, rank_rows, train_rankers  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--universe", type=int, nargs="+", default=[50_000])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cache = Path(args.cache)
    tracks = io.read_parquet(cache / "tracks.parquet")
    mem = io.read_parquet(cache / "memberships.parquet")
    x = io.read_npy(cache / "features.npy")
    names = io.read_json(cache / "feature_scaler.json")["names"]
    cfg, ecfg = PipelineConfig(), EvalConfig()
    seed = stage_seed(cfg.seed, "evaluate")
    train_m, _, seeds = protocol_split(tracks, mem, seed, ecfg)
    t0 = time.perf_counter()
    sig = fit_signals(tracks, x, names, train_m, cfg.embedding, cfg.ranker, seed)
    out: dict = {"cache": str(cache), "tracks": len(tracks), "seeds": int(len(seeds.rows)),
                 "eval_signals_seconds": round(time.perf_counter() - t0, 1), "runs": {}}
    for size in args.universe:
        rcfg = cfg.ranker.model_copy(update={"max_train_tracks": size})
        t0 = time.perf_counter()
        models = train_rankers(tracks, x, names, train_m, cfg.embedding, rcfg, seed)
        run: dict = {"train_seconds": round(time.perf_counter() - t0, 1),
                     "report": {k: v for k, v in models.report.items()
                                if k in ("label_seeds", "universe")}}
        for name, booster, content in (("hybrid", models.hybrid, False),
                                       ("content", models.content, True)):
            ranked = rank_rows(booster, sig, seeds.rows, cfg.ranker, content, ecfg.depth)
            m = per_seed_metrics(ranked, seeds.relevant, ecfg.k)
            run[name] = {"precision_at_10": round(float(m["precision_at_10"].mean()), 4),
                         "ndcg_at_10": round(float(m["ndcg_at_10"].mean()), 4)}
        out["runs"][str(size)] = run
        logging.info("universe %d: %s", size, run)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
