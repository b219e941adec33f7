"""Build-stage runners for the recommender: ``genre`` and ``ranker``.

Thin adapters between the orchestrator's :class:`Context` (artifacts by name) and the pure
functions in :mod:`pipeline.genre` and :mod:`pipeline.ranker`.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
NO_MODEL = "# no model: {reason}\n"


def run_genre(ctx) -> dict[str, Any]:
    """genre_model.txt (LightGBM text), genre_pred.parquet, genre_report.json."""
    from .genre import build_genre

    res = build_genre(ctx.get("tracks.parquet"), ctx.get("memberships.parquet"),
                      ctx.seed("genre"), evaluate=False)
    text = (res.model.model_to_string() if res.model is not None
            else NO_MODEL.format(reason=res.report["reason"]))
    res.report["note"] = ("accuracy on random and artist-disjoint splits: see "
                          "`python -m pipeline evaluate` (docs/EVALUATION.md)")
    return {"genre_model.txt": text, "genre_pred.parquet": res.predictions,
            "genre_report.json": res.report}


def run_ranker(ctx) -> dict[str, Any]:
    """ranker.txt + ranker_content.txt (LightGBM text), rank_clusters.npy, ranker_report.json."""
    from .rank_features import kmeans_labels
    from .ranker import train_rankers

    cfg = ctx.cfg
    names = ctx.get("feature_scaler.json")["names"]
    models = train_rankers(ctx.get("tracks.parquet"), ctx.get("features.npy"), names,
                           ctx.get("memberships.parquet"), cfg.embedding, cfg.ranker,
                           ctx.seed("ranker"))
    clusters = kmeans_labels(ctx.get("embedding.npy"), cfg.ranker.n_clusters, ctx.seed("ranker"))
    return {**model_texts(models), "rank_clusters.npy": clusters.astype(np.int32),
            "ranker_report.json": models.report}


def model_texts(models) -> dict[str, str]:
    """LightGBM text of both rankers (a comment line when a ranker could not be trained)."""
    reason = models.report.get("reason", "")

    def as_text(booster) -> str:
        return booster.model_to_string() if booster is not None else NO_MODEL.format(reason=reason)

    return {"ranker.txt": as_text(models.hybrid), "ranker_content.txt": as_text(models.content)}
