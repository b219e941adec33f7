"""Retrain the serving rankers with user feedback: ``python -m pipeline retrain-ranker``.

Each seed with votes becomes an extra LambdaRank group over the current top candidates:
liked tracks (label 2) above the ranker's current top 20 (label 1) above disliked tracks
(label 0). Appended to the playlist-labelled groups of the ranker stage; same seed, same
split, so without feedback the result equals the build's ranker.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import store as io
from pipeline.config import PipelineConfig, RankerConfig, stage_seed

from .feedback import FeedbackStore, default_url
from .rank_features import Signals, pair_features
from .ranker import model_texts, score_pairs, train_rankers
from .serving import load_signals

log = logging.getLogger(__name__)
TOP_AS_NEUTRAL = 20


def feedback_groups(sig: Signals, booster, votes: pd.DataFrame, row_of: dict[str, int],
                    cfg: RankerConfig) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(features, labels (n_pairs,), group sizes (n_groups,)) from the latest votes.

    Args:
        votes: columns seed_id, track_id, value (+1/-1); unknown ids are skipped.
    """
    feats, labels, sizes = [], [], []
    for seed_id, grp in votes.groupby("seed_id", sort=True):
        if seed_id not in row_of:
            continue
        seed = row_of[seed_id]
        voted = {row_of[t]: int(v) for t, v in zip(grp["track_id"], grp["value"]) if t in row_of}
        _, cand, score, _ = score_pairs(booster, sig, np.array([seed]), cfg, False)
        top = [int(c) for c in cand[np.argsort(-score, kind="stable")] if c not in voted]
        rows = np.array(top[:TOP_AS_NEUTRAL] + list(voted), np.int64)
        y = np.array([1] * len(top[:TOP_AS_NEUTRAL]) + [2 if v > 0 else 0 for v in voted.values()])
        if len(np.unique(y)) < 2:
            continue
        group = np.zeros(len(rows), np.int64)
        feats.append(pair_features(sig, np.array([seed]), group, rows, False))
        labels.append(y)
        sizes.append(len(rows))
    if not feats:
        return pd.DataFrame(), np.zeros(0, int), np.zeros(0, int)
    return pd.concat(feats, ignore_index=True), np.concatenate(labels), np.array(sizes)


def retrain_from_feedback(cache: Path, feedback_url: str | None = None) -> dict:
    """Refit both rankers with the feedback groups and serve them: a new build generation
    with the new ranker files (the served build stays whole if this is interrupted)."""
    import lightgbm as lgb

    from pipeline.generations import publish_update, resolve

    link, cache = cache, resolve(Path(cache))
    cfg = PipelineConfig.model_validate(io.read_json(cache / "config.json"))
    tracks = io.read_parquet(cache / "tracks.parquet")
    memberships = io.read_parquet(cache / "memberships.parquet")
    x = io.read_npy(cache / "features.npy")
    names = io.read_json(cache / "feature_scaler.json")["names"]
    votes = FeedbackStore(feedback_url or default_url(link)).latest()
    sig = load_signals(cache, tracks, memberships, io.read_npy(cache / "embedding.npy"),
                       cfg.neighbors)
    report = io.read_json(cache / "ranker_report.json")
    current = lgb.Booster(model_file=str(cache / "ranker.txt")) if report.get("trained") else None
    row_of = {t: i for i, t in enumerate(tracks["track_id"])}
    extra = feedback_groups(sig, current, votes, row_of, cfg.ranker)
    models = train_rankers(tracks, x, names, memberships, cfg.embedding, cfg.ranker,
                           stage_seed(cfg.seed, "ranker"), extra_groups=extra)
    models.report["feedback"] = {"votes": int(len(votes)), "groups": int(len(extra[2])),
                                 "pairs": int(len(extra[1]))}
    publish_update(link, {**model_texts(models), "ranker_report.json": models.report},
                   note=f"rankers retrained with {len(extra[2])} feedback groups")
    log.info("ranker retrained with %d feedback groups", len(extra[2]))
    return models.report
