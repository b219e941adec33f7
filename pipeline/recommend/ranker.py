"""Hybrid ranker: LightGBM LambdaRank over (seed, candidate) pairs, saved as LightGBM text.

Training without leakage: the known playlists are split once more. The *fit* part trains
an embedding and the co-occurrence counts; the *label* part supplies seeds and the truth
(a candidate is relevant when it shares the seed's label playlist). The label playlists
are never seen by the signals the ranker is trained on. At serving or evaluation time the
same ranker scores pairs whose signals come from all known playlists.

Two rankers come out: ``hybrid`` (seed history allowed) and ``content`` (cold start: the
seed is treated as a new track without playlists or artist history).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.config import EmbeddingConfig, RankerConfig

from .rank_features import (
    Signals,
    build_signals,
    candidates,
    feature_columns,
    kmeans_labels,
    pair_features,
)

log = logging.getLogger(__name__)
NO_MODEL = "# no model: {reason}\n"  # the model file when a model could not be trained


@dataclass
class LabelledSeeds:
    """Seeds drawn from playlists, with the rows that count as hits for each."""

    rows: np.ndarray                 # (m,) seed track rows
    playlist: np.ndarray             # (m,) playlist id of each seed
    relevant: list[np.ndarray] = field(default_factory=list)  # per seed, hit rows (sorted)


def split_playlists(memberships: pd.DataFrame, share: float,
                    rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept memberships, held-out memberships): ``share`` of playlists held out at random."""
    pls = np.sort(memberships["playlist_id"].astype(str).unique())
    n_out = int(round(len(pls) * share))
    out = set(rng.choice(pls, n_out, replace=False)) if n_out else set()
    mask = memberships["playlist_id"].astype(str).isin(out).to_numpy()
    return memberships[~mask].reset_index(drop=True), memberships[mask].reset_index(drop=True)


def sample_seeds(tracks: pd.DataFrame, held_out: pd.DataFrame, per_playlist: int,
                 min_size: int, rng: np.random.Generator) -> LabelledSeeds:
    """Up to ``per_playlist`` seeds from each held-out playlist with ``min_size``+ tracks.

    The other tracks of the seed's playlist are its relevant set.
    """
    row_of = pd.Series(np.arange(len(tracks)), index=tracks["track_id"].to_numpy())
    rows, pls, rel = [], [], []
    for pid, grp in held_out.groupby("playlist_id", sort=True):
        members = np.unique(row_of.reindex(grp["track_id"].to_numpy()).dropna().to_numpy(int))
        if len(members) < min_size:
            continue
        for s in rng.choice(members, min(per_playlist, len(members)), replace=False):
            rows.append(int(s))
            pls.append(str(pid))
            rel.append(members[members != s])
    return LabelledSeeds(np.array(rows, np.int64), np.array(pls, object), rel)


def _group_table(sig: Signals, seeds: LabelledSeeds, cfg: RankerConfig, content_only: bool,
                 rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, labels (n_pairs,) and group sizes (n_groups,) of groups with a hit.

    Each group keeps its hits and at most ``cfg.max_negatives`` sampled non-hits, so
    more seeds fit in the same training time.
    """
    group, cand = candidates(sig, seeds.rows, cfg.n_emb, cfg.n_cooc, cfg.n_same, content_only)
    y = np.zeros(len(cand), np.int32)
    keep = np.zeros(len(cand), bool)
    starts = np.searchsorted(group, np.arange(len(seeds.rows) + 1))
    for i, rel in enumerate(seeds.relevant):
        lo, hi = starts[i], starts[i + 1]
        y[lo:hi] = np.isin(cand[lo:hi], rel)
        if y[lo:hi].any():
            neg = lo + np.flatnonzero(y[lo:hi] == 0)
            keep[lo + np.flatnonzero(y[lo:hi])] = True
            keep[rng.choice(neg, min(cfg.max_negatives, len(neg)), replace=False)] = True
    x = pair_features(sig, seeds.rows, group[keep], cand[keep], content_only)
    sizes = np.bincount(group[keep], minlength=len(seeds.rows))
    return x, y[keep], sizes[sizes > 0]


def fit_booster(x: pd.DataFrame, y: np.ndarray, sizes: np.ndarray, cfg: RankerConfig,
                seed: int):
    """LambdaRank on grouped pairs; deterministic under ``seed``. Returns a ``lgb.Booster``."""
    import lightgbm as lgb

    params = {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10],
              "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
              "min_data_in_leaf": cfg.min_child_samples, "feature_fraction": 0.9,
              "bagging_fraction": 0.8, "bagging_freq": 1, "lambdarank_truncation_level": 30,
              "max_bin": 63,
              "seed": seed, "deterministic": True, "force_col_wise": True,
              "num_threads": cfg.threads, "verbose": -1}
    data = lgb.Dataset(x, y, group=sizes, free_raw_data=True)
    return lgb.train(params, data, num_boost_round=cfg.n_estimators)


@dataclass
class RankerModels:
    """The two fitted rankers (``None`` when the catalog has no playlists) and a report."""

    hybrid: object | None
    content: object | None
    report: dict


def train_rankers(tracks: pd.DataFrame, x: np.ndarray, feature_names: list[str],
                  memberships: pd.DataFrame, emb_cfg: EmbeddingConfig, cfg: RankerConfig,
                  seed: int, extra_groups: tuple | None = None) -> RankerModels:
    """Fit the hybrid and content rankers on a fit/label split of ``memberships``.

    Args:
        tracks: catalog (n rows); x: (n, n_features) scaled features.
        memberships: the playlists that may be learnt from (all but held-out ones).
        extra_groups: optional (features, labels, sizes) appended to the hybrid training
            data, e.g. from user feedback.
    """
    if memberships.empty or memberships["playlist_id"].nunique() < 4:
        reason = "catalog has no playlists: no labelled groups, serving falls back to content"
        log.warning("ranker: %s", reason)
        return RankerModels(None, None, {"trained": False, "reason": reason})
    rng = np.random.default_rng(seed)
    fit_m, label_m = split_playlists(memberships, cfg.label_playlist_share, rng)
    fit_cfg = emb_cfg.model_copy(update={"epochs": min(emb_cfg.epochs, cfg.fit_epochs)})
    sig = fit_signals(tracks, x, feature_names, fit_m, fit_cfg, cfg, seed)
    seeds = sample_seeds(tracks, label_m, cfg.seeds_per_playlist, cfg.min_playlist, rng)
    report: dict = {"trained": True, "fit_playlists": int(fit_m["playlist_id"].nunique()),
                    "label_playlists": int(label_m["playlist_id"].nunique()),
                    "label_seeds": int(len(seeds.rows))}
    models = {}
    for name, content_only in (("hybrid", False), ("content", True)):
        xg, y, sizes = _group_table(sig, seeds, cfg, content_only,
                                    np.random.default_rng(seed))
        if name == "hybrid" and extra_groups is not None and len(extra_groups[1]):
            xg = pd.concat([xg, extra_groups[0][xg.columns]], ignore_index=True)
            y = np.concatenate([y, extra_groups[1]])
            sizes = np.concatenate([sizes, extra_groups[2]])
        models[name] = fit_booster(xg, y, sizes, cfg, seed)
        gain = models[name].feature_importance("gain")
        top = np.argsort(-gain)[:8]
        report[name] = {"groups": int(len(sizes)), "pairs": int(len(y)),
                        "positives": int(y.sum()), "features": list(xg.columns),
                        "top_features_by_gain": [xg.columns[i] for i in top]}
        log.info("ranker %s: %d groups, %d pairs", name, len(sizes), len(y))
    return RankerModels(models["hybrid"], models["content"], report)


def fit_signals(tracks: pd.DataFrame, x: np.ndarray, feature_names: list[str],
                memberships: pd.DataFrame, emb_cfg: EmbeddingConfig, cfg: RankerConfig,
                seed: int, keep: np.ndarray | None = None) -> Signals:
    """Train an embedding on ``memberships`` and assemble the :class:`Signals` from them.

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
    return build_signals(tracks, x, feature_names, memberships, emb,
                         kmeans_labels(emb, cfg.n_clusters, seed))


def score_pairs(booster, sig: Signals, seeds: np.ndarray, cfg: RankerConfig,
                content_only: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Candidates of each seed with their ranker score.

    Returns:
        (group (n_pairs,), cand (n_pairs,), score (n_pairs,), features DataFrame).
    """
    group, cand = candidates(sig, seeds, cfg.n_emb, cfg.n_cooc, cfg.n_same, content_only)
    feats = pair_features(sig, seeds, group, cand, content_only)
    if booster is None:  # no ranker: embedding similarity, same artist first
        score = feats["emb_cos"].to_numpy() + (0 if content_only else feats["same_artist"])
        return group, cand, np.asarray(score, float), feats
    return group, cand, booster.predict(feats, num_threads=1), feats


def rank_rows(booster, sig: Signals, seeds: np.ndarray, cfg: RankerConfig, content_only: bool,
              depth: int) -> np.ndarray:
    """Top ``depth`` rows per seed by ranker score: (m, depth) int64, -1 padded."""
    group, cand, score, _ = score_pairs(booster, sig, seeds, cfg, content_only)
    order = np.lexsort((cand, -score, group))
    group, cand = group[order], cand[order]
    out = np.full((len(seeds), depth), -1, np.int64)
    starts = np.searchsorted(group, np.arange(len(seeds)))
    ends = np.searchsorted(group, np.arange(len(seeds)), side="right")
    for i in range(len(seeds)):
        top = cand[starts[i]:ends[i]][:depth]
        out[i, :len(top)] = top
    return out


def columns_of(booster) -> list[str]:
    """Feature names a saved booster expects."""
    return list(booster.feature_name())


__all__ = ["LabelledSeeds", "RankerModels", "split_playlists", "sample_seeds", "fit_booster",
           "train_rankers", "fit_signals", "score_pairs", "rank_rows", "feature_columns"]


def model_texts(models: RankerModels) -> dict[str, str]:
    """LightGBM text of both rankers (a comment line when a ranker could not be trained)."""
    reason = models.report.get("reason", "")

    def as_text(booster) -> str:
        return booster.model_to_string() if booster is not None else NO_MODEL.format(reason=reason)

    return {"ranker.txt": as_text(models.hybrid), "ranker_content.txt": as_text(models.content)}
