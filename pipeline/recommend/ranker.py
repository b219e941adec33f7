"""Hybrid ranker: a LightGBM ranker (XE-NDCG by default, LambdaRank optional) over
(seed, candidate) pairs, saved as LightGBM text.

Training without leakage: the known playlists are split once more. The *fit* part trains
an embedding and the co-occurrence counts; the *label* part supplies seeds and the truth
(a candidate is relevant when it shares the seed's label playlist). The label playlists
are never seen by the signals the ranker is trained on. At serving or evaluation time the
same ranker scores pairs whose signals come from all known playlists.

Cross-fitting (ranker v4, ``RankerConfig.label_folds``): the playlists are dealt into K
folds and every fold labels once, with signals fitted on the other K - 1 folds. Every
playlist then labels groups (30% with the single split), the signals still never see the
labels and come from more playlists (K = 5: 80%), and the groups of all folds train one
ranker, so serving costs what one model does (hybrid P@10 0.235 -> 0.257 on the
validation split, 0.245 -> 0.254 on the test seeds; docs/EVALUATION.md).

Two rankers come out: ``hybrid`` (seed history allowed) and ``content`` (cold start: the
seed is treated as a new track without playlists or artist history).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import EmbeddingConfig, RankerConfig

from .rank_features import (
    Signals,
    build_signals,
    candidates,
    feature_columns,
    kmeans_labels,
    pair_matrix,
)
from .sampling import (
    LabelledSeeds,
    fold_playlists,
    sample_seeds,
    split_playlists,
    training_universe,
)

log = logging.getLogger(__name__)
NO_MODEL = "# no model: {reason}\n"  # the model file when a model could not be trained


PAIR_CHUNK = 1024   # seeds whose candidate pairs are built and featurised at once


def _group_table(sig: Signals, seeds: LabelledSeeds, cfg: RankerConfig, content_only: bool,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (n_pairs, n_columns) float32, labels (n_pairs,) and group sizes
    (n_groups,) of the groups with a hit.

    Each group keeps its hits and at most ``cfg.max_negatives`` sampled non-hits, so
    more seeds fit in the same training time. Seeds are processed ``PAIR_CHUNK`` at a
    time: only the kept pairs of all seeds are ever held together.
    """
    xs, ys, sizes = [], [], []
    for lo in range(0, len(seeds.rows), PAIR_CHUNK):
        rows = seeds.rows[lo:lo + PAIR_CHUNK]
        group, cand = candidates(sig, rows, cfg.n_emb, cfg.n_cooc, cfg.n_same, content_only)
        y, keep = _sample_pairs(group, cand, seeds.relevant[lo:lo + PAIR_CHUNK],
                                cfg.max_negatives, rng)
        xs.append(pair_matrix(sig, rows, group[keep], cand[keep], content_only))
        ys.append(y[keep])
        n = np.bincount(group[keep], minlength=len(rows))
        sizes.append(n[n > 0])
    n_cols = len(feature_columns(sig.feature_names, content_only))
    if not xs:
        return np.zeros((0, n_cols), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(sizes)


def _sample_pairs(group: np.ndarray, cand: np.ndarray, relevant: list[np.ndarray],
                  max_negatives: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(labels (n_pairs,) int32, kept (n_pairs,) bool): hits and sampled non-hits of each
    group that has a hit. ``group`` is sorted, indexing ``relevant``."""
    y = np.zeros(len(cand), np.int32)
    keep = np.zeros(len(cand), bool)
    starts = np.searchsorted(group, np.arange(len(relevant) + 1))
    for i, rel in enumerate(relevant):
        lo, hi = starts[i], starts[i + 1]
        y[lo:hi] = np.isin(cand[lo:hi], rel)
        if y[lo:hi].any():
            neg = lo + np.flatnonzero(y[lo:hi] == 0)
            keep[lo + np.flatnonzero(y[lo:hi])] = True
            keep[rng.choice(neg, min(max_negatives, len(neg)), replace=False)] = True
    return y, keep


def fit_booster(x: np.ndarray, y: np.ndarray, sizes: np.ndarray, cfg: RankerConfig,
                seed: int, columns: list[str]):
    """A LightGBM ranker (``cfg.objective``) on grouped pairs; deterministic under ``seed``.
    Returns a ``lgb.Booster``.

    Args:
        x: (n_pairs, n_columns) float32 (LightGBM reads it without a float64 copy);
        columns: the feature names, in column order.
    """
    import lightgbm as lgb

    params = {"objective": cfg.objective, "metric": "ndcg", "eval_at": [10],
              "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
              "min_data_in_leaf": cfg.min_child_samples,
              "feature_fraction": cfg.feature_fraction,
              "bagging_fraction": cfg.bagging_fraction, "bagging_freq": 1,
              "lambdarank_truncation_level": 30, "max_bin": 63,
              "seed": seed, "deterministic": True, "force_col_wise": True,
              "num_threads": cfg.threads, "verbose": -1}
    data = lgb.Dataset(x, y, group=sizes, feature_name=list(columns), free_raw_data=True)
    return lgb.train(params, data, num_boost_round=cfg.n_estimators)


@dataclass
class RankerModels:
    """The two fitted rankers (``None`` when the catalog has no playlists) and a report."""

    hybrid: object | None
    content: object | None
    report: dict


def train_rankers(tracks: pd.DataFrame, x: np.ndarray, feature_names: list[str],
                  memberships: pd.DataFrame, emb_cfg: EmbeddingConfig, cfg: RankerConfig,
                  seed: int, extra_groups: tuple | None = None,
                  kinds: tuple[str, ...] = ("hybrid", "content")) -> RankerModels:
    """Fit the hybrid and content rankers on a fit/label split of ``memberships``, or
    cross-fitted on ``cfg.label_folds`` folds of it (each fold's groups labelled by its
    playlists, their signals from the other folds; the groups of all folds train one
    ranker).

    Bounded whatever the catalog's size: catalogs above ``cfg.max_train_tracks`` train
    on a universe of whole playlists of that many tracks, and at most
    ``cfg.max_train_seeds`` label seeds form the groups.

    Args:
        tracks: catalog (n rows); x: (n, n_features) scaled features.
        memberships: the playlists that may be learnt from (all but held-out ones).
        extra_groups: optional (features DataFrame, labels, sizes) appended to the hybrid
            training data, e.g. from user feedback.
        kinds: which rankers to fit (the other is None); both by default.
    """
    if memberships.empty or memberships["playlist_id"].nunique() < 4:
        reason = "catalog has no playlists: no labelled groups, serving falls back to content"
        log.warning("ranker: %s", reason)
        return RankerModels(None, None, {"trained": False, "reason": reason})
    rng = np.random.default_rng(seed)
    report: dict = {"trained": True}
    if len(tracks) > cfg.max_train_tracks:
        rows, memberships = training_universe(tracks, memberships, cfg.max_train_tracks, rng)
        report["universe"] = {"catalog_tracks": int(len(tracks)), "tracks": int(len(rows)),
                              "playlists": int(memberships["playlist_id"].nunique())}
        log.info("ranker: training universe of %d of %d tracks", len(rows), len(tracks))
        tracks, x = tracks.iloc[rows].reset_index(drop=True), x[rows]
    fit_cfg = emb_cfg.model_copy(update={"epochs": min(emb_cfg.epochs, cfg.fit_epochs)})
    parts = (fold_playlists(memberships, cfg.label_folds, rng) if cfg.label_folds > 1
             else [split_playlists(memberships, cfg.label_playlist_share, rng)])
    names = [n for n in ("hybrid", "content") if n in kinds]
    tables: dict[str, list] = {n: [] for n in names}
    folds = []
    for f, (fit_m, label_m) in enumerate(parts):
        sig = fit_signals(tracks, x, feature_names, fit_m, fit_cfg, cfg, seed)
        seeds = sample_seeds(tracks, label_m, cfg.seeds_per_playlist, cfg.min_playlist, rng,
                             cfg.max_train_seeds // len(parts))
        for name in names:  # fold 0 samples as the single split always did
            sample_rng = np.random.default_rng(seed if f == 0 else [seed, f])
            tables[name].append(_group_table(sig, seeds, cfg, name == "content", sample_rng))
        folds.append({"fit_playlists": int(fit_m["playlist_id"].nunique()),
                      "label_playlists": int(label_m["playlist_id"].nunique()),
                      "label_seeds": int(len(seeds.rows))})
        del sig   # one fold's signals at a time
    report.update({"fit_playlists": folds[0]["fit_playlists"],
                   "label_playlists": sum(f["label_playlists"] for f in folds),
                   "label_seeds": sum(f["label_seeds"] for f in folds)})
    if len(folds) > 1:
        report["label_folds"] = folds
    models = {}
    for name in names:
        extra = extra_groups if name == "hybrid" else None
        cols = feature_columns(feature_names, name == "content")
        models[name], report[name] = _fit_ranker(tables.pop(name), cols, cfg, seed, extra)
        log.info("ranker %s: %d groups, %d pairs", name, report[name]["groups"],
                 report[name]["pairs"])
    return RankerModels(models.get("hybrid"), models.get("content"), report)


def _fit_ranker(tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]], cols: list[str],
                cfg: RankerConfig, seed: int, extra_groups: tuple | None
                ) -> tuple[object, dict]:
    """One LightGBM ranker on the folds' group tables (+ extra groups); (booster, report)."""
    xg = np.concatenate([t[0] for t in tables])
    y = np.concatenate([t[1] for t in tables])
    sizes = np.concatenate([t[2] for t in tables])
    del tables[:]
    if extra_groups is not None and len(extra_groups[1]):
        xg = np.concatenate([xg, extra_groups[0][cols].to_numpy(np.float32)])
        y = np.concatenate([y, extra_groups[1]])
        sizes = np.concatenate([sizes, extra_groups[2]])
    booster = fit_booster(xg, y, sizes, cfg, seed, cols)
    top = np.argsort(-booster.feature_importance("gain"))[:8]
    return booster, {"groups": int(len(sizes)), "pairs": int(len(y)),
                     "positives": int(y.sum()), "features": cols,
                     "top_features_by_gain": [cols[i] for i in top]}


def fit_signals(tracks: pd.DataFrame, x: np.ndarray, feature_names: list[str],
                memberships: pd.DataFrame, emb_cfg: EmbeddingConfig, cfg: RankerConfig,
                seed: int, keep: np.ndarray | None = None) -> Signals:
    """Train an embedding on ``memberships`` and assemble the :class:`Signals` from them.

    The neighbour index over the new embedding follows ``cfg.index`` (exact up to its
    ``exact_max`` tracks, HNSW above).

    Args:
        keep: (n,) bool, track rows whose playlists and artist may be learnt from
            (default all); cold-start seeds are excluded this way.
    """
    from pipeline.map import encode, train_encoder, training_groups

    keep = np.ones(len(tracks), bool) if keep is None else keep
    pl, ar = training_groups(tracks, memberships, keep)
    emb_cfg = emb_cfg.model_copy(update={"threads": min(emb_cfg.threads, cfg.threads)})
    model = train_encoder(x, pl, ar, emb_cfg, seed, self_supervised=len(pl.members) == 0)
    emb = encode(model, x)
    clusters = kmeans_labels(emb, cfg.n_clusters, seed, cfg.cluster_fit_sample)
    return build_signals(tracks, x, feature_names, memberships, emb, clusters,
                         index_cfg=cfg.index)


def score_pairs(booster, sig: Signals, seeds: np.ndarray, cfg: RankerConfig,
                content_only: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Candidates of each seed with their ranker score.

    Returns:
        (group (n_pairs,), cand (n_pairs,), score (n_pairs,), features DataFrame).
    """
    group, cand = candidates(sig, seeds, cfg.n_emb, cfg.n_cooc, cfg.n_same, content_only)
    mat = pair_matrix(sig, seeds, group, cand, content_only)
    feats = pd.DataFrame(mat, columns=feature_columns(sig.feature_names, content_only),
                         copy=False)
    if booster is None:  # no ranker: embedding similarity, same artist first
        score = feats["emb_cos"].to_numpy() + (0 if content_only else feats["same_artist"])
        return group, cand, np.asarray(score, float), feats
    return group, cand, booster.predict(mat, num_threads=1), feats


def rank_rows(booster, sig: Signals, seeds: np.ndarray, cfg: RankerConfig, content_only: bool,
              depth: int) -> np.ndarray:
    """Top ``depth`` rows per seed by ranker score: (m, depth) int64, -1 padded."""
    group, cand, score, _ = score_pairs(booster, sig, seeds, cfg, content_only)
    return top_per_group(group, cand, score, len(seeds), depth)


def top_per_group(group: np.ndarray, cand: np.ndarray, score: np.ndarray, m: int,
                  depth: int) -> np.ndarray:
    """The ``depth`` best-scored candidates of each of ``m`` groups (ties: lower row):
    (m, depth) int64, -1 padded."""
    order = np.lexsort((cand, -score, group))
    group, cand = group[order], cand[order]
    out = np.full((m, depth), -1, np.int64)
    starts = np.searchsorted(group, np.arange(m))
    ends = np.searchsorted(group, np.arange(m), side="right")
    for i in range(m):
        top = cand[starts[i]:ends[i]][:depth]
        out[i, :len(top)] = top
    return out


def columns_of(booster) -> list[str]:
    """Feature names a saved booster expects."""
    return list(booster.feature_name())


__all__ = ["LabelledSeeds", "RankerModels", "split_playlists", "sample_seeds", "fit_booster",
           "train_rankers", "fit_signals", "score_pairs", "rank_rows", "top_per_group",
           "feature_columns",
           "training_universe"]


def model_texts(models: RankerModels) -> dict[str, str]:
    """LightGBM text of both rankers (a comment line when a ranker could not be trained)."""
    reason = models.report.get("reason", "")

    def as_text(booster) -> str:
        return booster.model_to_string() if booster is not None else NO_MODEL.format(reason=reason)

    return {"ranker.txt": as_text(models.hybrid), "ranker_content.txt": as_text(models.content)}
