"""Ranker settings under the evaluation protocol: hybrid P@10 / NDCG@10 (and optionally the
content ranker's) for each RankerConfig variant, on the same splits and signals as
``python -m pipeline evaluate``. Usage:

    .venv/bin/python bench/ranker_ablation.py --cache cache --split validation \
        '[{}, {"label_folds": 3}, {"num_leaves": 63}]'

``--split validation`` (the default) holds out a seeded 20% of the *training* playlists
(``pipeline.evaluation.validation_split``), trains on the rest and scores the seeds of the
held-out fifth: choose variants there. ``--split test`` scores the protocol's test seeds
(the figure of docs/EVALUATION.md); run it once for the chosen variant. ``both`` runs both.

A variant is a JSON object of RankerConfig fields, plus optionally ``"bag": k`` (k hybrid
rankers on seeds seed..seed+k-1, scores summed: a bagged ensemble).
Signals fitted once per playlist set are reused across variants (same seed, same result).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from pipeline import store as io  # noqa: E402
from pipeline.config import PipelineConfig, stage_seed  # noqa: E402
from pipeline.evaluation.protocol import (  # noqa: E402
    EvalConfig,
    per_seed_metrics,
    protocol_split,
    validation_split,
)
from pipeline.recommend import ranker as ranker_mod  # noqa: E402
from pipeline.recommend.rank_features import candidates  # noqa: E402


def memoised_fit_signals():
    """``fit_signals`` with a memo keyed by its playlist set and settings: variants that
    leave the signals alone reuse them (the function is deterministic under the seed)."""
    fit, memo = ranker_mod.fit_signals, {}

    def wrapper(tracks, x, names, memberships, emb_cfg, cfg, seed, keep=None):
        key = (tuple(sorted(memberships["playlist_id"].astype(str).unique())),
               emb_cfg.model_dump_json(), cfg.n_clusters, seed, keep is None)
        if key not in memo:
            memo[key] = fit(tracks, x, names, memberships, emb_cfg, cfg, seed, keep)
        return memo[key]

    return wrapper


def ranked_hybrid(update: dict, tracks, x, names, train_m, cfg, seed, sig, seeds,
                  content: bool) -> dict[str, np.ndarray]:
    """Train the variant on ``train_m``; its rankings of ``seeds`` under ``sig``."""
    update = dict(update)
    bag = int(update.pop("bag", 1))
    rc = cfg.ranker.model_copy(update=update)
    kinds = ("hybrid", "content") if content else ("hybrid",)
    out = {}
    scores = None
    for b in range(bag):
        models = ranker_mod.train_rankers(tracks, x, names, train_m, cfg.embedding, rc,
                                          seed + b, kinds=kinds)
        group, cand, score, _ = ranker_mod.score_pairs(models.hybrid, sig, seeds, rc, False)
        scores = score if scores is None else scores + score
        if content and b == 0:
            out["content"] = ranker_mod.rank_rows(models.content, sig, seeds, rc, True, 100)
    out["hybrid"] = ranker_mod.top_per_group(group, cand, scores, len(seeds), 100)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--split", choices=("validation", "test", "both"), default="validation")
    ap.add_argument("--content", action="store_true", help="also train and score the content ranker")
    ap.add_argument("variants", nargs="?", default="[{}]", help="JSON list of RankerConfig updates")
    args = ap.parse_args()
    c = Path(args.cache)
    tracks, mem = io.read_parquet(c / "tracks.parquet"), io.read_parquet(c / "memberships.parquet")
    x, names = io.read_npy(c / "features.npy"), io.read_json(c / "feature_scaler.json")["names"]
    cfg = PipelineConfig.model_validate(io.read_json(c / "config.json"))
    seed = stage_seed(cfg.seed, "evaluate")
    ranker_mod.fit_signals = memoised_fit_signals()
    train_m, _, test_seeds = protocol_split(tracks, mem, seed, EvalConfig())
    splits = []
    if args.split in ("validation", "both"):
        inner, val_seeds = validation_split(tracks, train_m, seed, EvalConfig())
        splits.append(("validation", inner, val_seeds))
    if args.split in ("test", "both"):
        splits.append(("test", train_m, test_seeds))
    for split, fit_m, seeds in splits:
        sig = ranker_mod.fit_signals(tracks, x, names, fit_m, cfg.embedding, cfg.ranker, seed)
        print(f"{split}: {len(seeds.rows)} seeds from {len(set(seeds.playlist))} playlists, "
              f"training on {fit_m['playlist_id'].nunique()} playlists", flush=True)
        for update in json.loads(args.variants):
            t0, c0 = time.perf_counter(), time.process_time()
            rc = cfg.ranker.model_copy(update={k: v for k, v in update.items()
                                                if k != "bag"})
            g, cand = candidates(sig, seeds.rows, rc.n_emb, rc.n_cooc, rc.n_same, False)
            recall = np.mean([np.isin(rel, cand[g == i]).mean()
                              for i, rel in enumerate(seeds.relevant)])
            ranked = ranked_hybrid(update, tracks, x, names, fit_m, cfg, seed, sig,
                                   seeds.rows, args.content)
            m = {k: per_seed_metrics(r, seeds.relevant, 10) for k, r in ranked.items()}
            line = (f"{split:10s} {json.dumps(update):50s} pool {len(cand) / len(seeds.rows):4.0f}"
                    f" recall {recall:.3f} | hybrid P@10 {m['hybrid']['precision_at_10'].mean():.4f}"
                    f" NDCG@10 {m['hybrid']['ndcg_at_10'].mean():.4f}")
            if "content" in m:
                line += f" | content P@10 {m['content']['precision_at_10'].mean():.4f}"
            print(f"{line} | {time.perf_counter() - t0:5.1f} s wall, "
                  f"{time.process_time() - c0:5.1f} s CPU", flush=True)


if __name__ == "__main__":
    main()
