"""Ranker settings under the evaluation protocol: hybrid and (warm) content P@10 and the
candidate pool's recall for each RankerConfig variant, on the same split and signals as
``python -m pipeline evaluate``. Usage:

    .venv/bin/python bench/ranker_ablation.py --cache cache \
        '[{}, {"seeds_per_playlist": 30, "max_negatives": 40}, {"n_emb": 300, "n_cooc": 300}]'
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
from pipeline.evaluation.protocol import EvalConfig, per_seed_metrics, protocol_split  # noqa: E402
from pipeline.recommend.rank_features import candidates  # noqa: E402
from pipeline.recommend.ranker import fit_signals, rank_rows, train_rankers  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="cache")
    ap.add_argument("variants", nargs="?", default="[{}]", help="JSON list of RankerConfig updates")
    args = ap.parse_args()
    c = Path(args.cache)
    tracks, mem = io.read_parquet(c / "tracks.parquet"), io.read_parquet(c / "memberships.parquet")
    x, names = io.read_npy(c / "features.npy"), io.read_json(c / "feature_scaler.json")["names"]
    cfg = PipelineConfig.model_validate(io.read_json(c / "config.json"))
    seed = stage_seed(cfg.seed, "evaluate")
    train_m, _, seeds = protocol_split(tracks, mem, seed, EvalConfig())
    sig = fit_signals(tracks, x, names, train_m, cfg.embedding, cfg.ranker, seed)
    for update in json.loads(args.variants):
        rc = cfg.ranker.model_copy(update=update)
        t0 = time.perf_counter()
        g, cand = candidates(sig, seeds.rows, rc.n_emb, rc.n_cooc, rc.n_same, False)
        recall = np.mean([np.isin(rel, cand[g == i]).mean()
                          for i, rel in enumerate(seeds.relevant)])
        models = train_rankers(tracks, x, names, train_m, cfg.embedding, rc, seed)
        p = {name: per_seed_metrics(rank_rows(model, sig, seeds.rows, rc, name == "content", 100),
                                    seeds.relevant, 10)["precision_at_10"].mean()
             for name, model in (("hybrid", models.hybrid), ("content", models.content))}
        print(f"{json.dumps(update):60s} pool {len(cand) / len(seeds.rows):5.0f} tracks, "
              f"recall {recall:.3f} | hybrid P@10 {p['hybrid']:.4f} | content P@10 "
              f"{p['content']:.4f} | {time.perf_counter() - t0:5.1f} s", flush=True)


if __name__ == "__main__":
    main()
