"""Offline evaluation: held-out playlists, every method refitted without them.

Protocol (see docs/EVALUATION.md): hold out ``holdout_share`` of playlists (seeded). From
each held-out playlist with ``min_playlist``+ tracks take up to ``seeds_per_playlist``
seeds; each method ranks the whole catalog (seed excluded); a hit is another track of the
same held-out playlist. Everything learnt - embedding, co-occurrence, genre labels, the
ranker - sees the training playlists only. Cold start repeats it with the seeds' own
memberships removed from training (new tracks) for content-only methods.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from pipeline.config import PipelineConfig, stage_seed
from pipeline.recommend import (
    LabelledSeeds,
    fit_signals,
    rank_rows,
    sample_seeds,
    split_playlists,
    train_rankers,
)

from . import baselines as bl

log = logging.getLogger(__name__)
METRICS = ("precision_at_10", "ndcg_at_10", "r_precision", "hit_rate_at_10")


class EvalConfig(BaseModel):
    """The evaluation protocol's knobs (defaults are the documented protocol)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    holdout_share: float = Field(0.2, gt=0, lt=1)
    min_playlist: int = Field(5, ge=2)
    seeds_per_playlist: int = Field(5, ge=1)
    k: int = Field(10, ge=1)
    depth: int = Field(100, ge=10)      # ranking depth; R-precision uses R <= depth
    n_boot: int = Field(1000, ge=10)


def per_seed_metrics(ranked: np.ndarray, relevant: list[np.ndarray],
                     k: int) -> dict[str, np.ndarray]:
    """Per-seed metrics of rankings (m, depth) against relevant row sets. Each value (m,)."""
    hits = np.stack([np.isin(r, rel) & (r >= 0) for r, rel in zip(ranked, relevant)])
    n_rel = np.array([len(r) for r in relevant])
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.array([disc[:min(n, k)].sum() for n in n_rel])
    r_cap = np.minimum(n_rel, ranked.shape[1])
    return {
        "precision_at_10": hits[:, :k].mean(1),
        "ndcg_at_10": (hits[:, :k] * disc).sum(1) / np.maximum(ideal, 1e-12),
        "r_precision": np.array([h[:r].sum() / max(r, 1) for h, r in zip(hits, r_cap)]),
        "hit_rate_at_10": hits[:, :k].any(1).astype(float),
    }


def summarise(values: dict[str, np.ndarray], clusters: np.ndarray, n_boot: int,
              seed: int) -> dict:
    """Means with 95% bootstrap intervals, resampling whole playlists (seeds of one
    playlist are correlated). ``clusters``: (m,) playlist of each seed."""
    codes, uniq = pd.factorize(pd.Series(clusters))
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, len(uniq), (n_boot, len(uniq)))
    count = np.bincount(codes, minlength=len(uniq))[draw].sum(1)
    out: dict = {"n_seeds": int(len(codes)), "ci95": {}}
    for name, v in values.items():
        sums = np.bincount(codes, weights=v, minlength=len(uniq))[draw].sum(1) / count
        out[name] = round(float(v.mean()), 4)
        out["ci95"][name] = [round(float(np.percentile(sums, 2.5)), 4),
                             round(float(np.percentile(sums, 97.5)), 4)]
    return out


def method_table(tracks, x, names, sig, models, rcfg, depth: int, seed: int,
             cold: bool) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Method name -> function(seed rows) -> (m, depth) ranked rows."""
    audio = x[:, bl.audio_columns(names)]
    pop = tracks["popularity"].astype(float).fillna(0).to_numpy()
    ae = bl.autoencoder_embedding(audio, seed)
    m = {
        "random": lambda s: bl.random_method(len(x), s, depth, seed),
        "popularity": lambda s: bl.popularity_method(pop, s, depth),
        "cosine_raw": lambda s: bl.cosine_method(audio, s, depth),
        "kmeans_nn": lambda s: bl.kmeans_nn_method(audio, s, depth, seed),
        "autoencoder": lambda s: bl.cosine_method(ae, s, depth),
        "embedding_knn": lambda s: bl.cosine_method(sig.emb, s, depth),
        "content": lambda s: rank_rows(models.content, sig, s, rcfg, True, depth),
    }
    if not cold:
        m["cooccurrence"] = lambda s: bl.cooccurrence_method(sig.cooc, pop, s, depth)
        m["artist_then_cosine"] = lambda s: bl.artist_then_cosine_method(
            sig.emb, sig.cooc.artist_code, s, depth)
        m["hybrid"] = lambda s: rank_rows(models.hybrid, sig, s, rcfg, False, depth)
    return m


def _score_methods(methods: dict, seeds: LabelledSeeds, ecfg: EvalConfig, seed: int,
                   known_artist: np.ndarray, artist: np.ndarray) -> tuple[dict, dict, dict]:
    """Run each method; return (summaries, artist audit, seconds per method).

    Args:
        known_artist: (m,) seed's artist has another track in training playlists.
        artist: (n_tracks,) artist code of every track row.
    """
    out, audit, secs = {}, {}, {}
    for name, fn in methods.items():
        t0 = time.perf_counter()
        ranked = fn(seeds.rows)
        secs[name] = round(time.perf_counter() - t0, 2)
        check_rankings(ranked, seeds.rows, ecfg.k, name)
        vals = per_seed_metrics(ranked, seeds.relevant, ecfg.k)
        out[name] = summarise(vals, seeds.playlist, ecfg.n_boot, seed)
        top = ranked[:, :ecfg.k]
        hit = np.stack([np.isin(r, rel) for r, rel in zip(top, seeds.relevant)])
        same = artist[top] == artist[seeds.rows][:, None]
        audit[name] = {
            "same_artist_share_of_hits": round(float((hit & same).sum() / max(hit.sum(), 1)), 4),
            "artist_in_training": round(float(vals["precision_at_10"][known_artist].mean()), 4)
            if known_artist.any() else None,
            "artist_not_in_training": round(float(vals["precision_at_10"][~known_artist].mean()), 4)
            if (~known_artist).any() else None}
        log.info("evaluate %-14s P@10 %.4f (%.1f s)", name, out[name]["precision_at_10"],
                 secs[name])
    return out, audit, secs


def protocol_split(tracks: pd.DataFrame, memberships: pd.DataFrame, seed: int,
                   ecfg: EvalConfig) -> tuple[pd.DataFrame, pd.DataFrame, LabelledSeeds]:
    """(training memberships, held-out memberships, evaluation seeds), seeded.

    The split looks at playlist ids only, so changing the labels of a playlist never
    changes which side it falls on.
    """
    rng = np.random.default_rng(seed)
    train_m, test_m = split_playlists(memberships, ecfg.holdout_share, rng)
    seeds = sample_seeds(tracks, test_m, ecfg.seeds_per_playlist, ecfg.min_playlist, rng)
    if len(seeds.rows) == 0:
        raise ValueError(f"evaluate: no held-out playlist has {ecfg.min_playlist}+ tracks; "
                         "the protocol needs larger playlists (or a lower min_playlist).")
    return train_m, test_m, seeds


def validation_split(tracks: pd.DataFrame, train_m: pd.DataFrame, seed: int,
                     ecfg: EvalConfig, share: float = 0.2
                     ) -> tuple[pd.DataFrame, LabelledSeeds]:
    """(inner training memberships, validation seeds) carved from the *training*
    playlists only: ``share`` of them held out (seeded), seeds drawn from them as in
    :func:`protocol_split`. Variants are chosen on these seeds, so the test seeds judge
    the chosen one once instead of choosing it."""
    rng = np.random.default_rng([seed, 7])
    inner, val_m = split_playlists(train_m, share, rng)
    seeds = sample_seeds(tracks, val_m, ecfg.seeds_per_playlist, ecfg.min_playlist, rng)
    if len(seeds.rows) == 0:
        raise ValueError(f"evaluate: no validation playlist has {ecfg.min_playlist}+ tracks.")
    return inner, seeds


def check_rankings(ranked: np.ndarray, seeds: np.ndarray, k: int, name: str) -> None:
    """The contract: k distinct catalog rows per seed, never the seed itself."""
    top = ranked[:, :k]
    if (top < 0).any():
        raise ValueError(f"method {name!r} returned fewer than {k} recommendations")
    if (top == seeds[:, None]).any():
        raise ValueError(f"method {name!r} recommended a seed to itself")
    if any(len(np.unique(r)) != k for r in top):
        raise ValueError(f"method {name!r} returned duplicate recommendations")


def _known_artist(tracks: pd.DataFrame, sig, seeds: np.ndarray) -> np.ndarray:
    """(m,) True when another track of the seed's artist is in a training playlist."""
    codes = sig.cooc.artist_code
    in_train = sig.cooc.degree > 0
    per_artist = np.bincount(codes, weights=in_train, minlength=codes.max() + 1)
    return (per_artist[codes[seeds]] - in_train[seeds]) > 0


def run_evaluation(tracks: pd.DataFrame, memberships: pd.DataFrame, x: np.ndarray,
                   feature_names: list[str], cfg: PipelineConfig,
                   ecfg: EvalConfig = EvalConfig()) -> dict:
    """The whole protocol; returns the JSON-ready result (see module docstring).

    Args:
        tracks: catalog (n rows); x: (n, n_features) scaled features, rows aligned.
    """
    if memberships.empty:
        raise ValueError("evaluate: this catalog has no playlists; the protocol holds out "
                         "playlists and scores hits within them, so it needs a catalog with "
                         "playlist_id (e.g. spotify_songs.csv).")
    t_start = time.perf_counter()
    seed = stage_seed(cfg.seed, "evaluate")
    train_m, test_m, seeds = protocol_split(tracks, memberships, seed, ecfg)
    leak = leakage_checks(train_m, test_m)
    sig = fit_signals(tracks, x, feature_names, train_m, cfg.embedding, cfg.ranker, seed)
    models = train_rankers(tracks, x, feature_names, train_m, cfg.embedding, cfg.ranker, seed)
    known = _known_artist(tracks, sig, seeds.rows)
    warm = method_table(tracks, x, feature_names, sig, models, cfg.ranker, ecfg.depth, seed, False)
    methods, audit, secs = _score_methods(warm, seeds, ecfg, seed, known, sig.cooc.artist_code)
    keep = ~np.isin(np.arange(len(tracks)), seeds.rows)
    cold_m = train_m[~train_m["track_id"].isin(tracks["track_id"].to_numpy()[seeds.rows])]
    sig_c = fit_signals(tracks, x, feature_names, cold_m, cfg.embedding, cfg.ranker, seed, keep)
    cold_fns = method_table(tracks, x, feature_names, sig_c, models, cfg.ranker, ecfg.depth,
                            seed, True)
    cold, cold_audit, cold_secs = _score_methods(cold_fns, seeds, ecfg, seed, known,
                                                  sig.cooc.artist_code)
    from pipeline.recommend import evaluate_genre
    genre = evaluate_genre(tracks, train_m, seed)
    return {
        "methods": methods, "cold_start": cold, "genre_classifier": genre,
        "artist_overlap_audit": {"seeds": int(len(known)),
                                 "seed_artist_in_training": int(known.sum()),
                                 "precision_at_10_by_group": audit,
                                 "cold_start": cold_audit},
        "ranker": models.report,
        "protocol": {"seed": cfg.seed, "evaluate_seed": int(seed), **ecfg.model_dump(),
                     "playlists": int(memberships["playlist_id"].nunique()),
                     "heldout_playlists": leak["heldout_playlists"],
                     "eval_playlists": int(len(set(seeds.playlist))),
                     "n_seeds": int(len(seeds.rows)), "leakage": leak,
                     "bootstrap": "resample held-out playlists, 95% percentile interval",
                     "seconds": round(time.perf_counter() - t_start, 1),
                     "seconds_per_method": secs, "seconds_per_cold_method": cold_secs},
    }


def leakage_checks(train_m: pd.DataFrame, test_m: pd.DataFrame) -> dict:
    """Assert the split is clean; returned figures go into the report."""
    overlap = set(train_m["playlist_id"]) & set(test_m["playlist_id"])
    if overlap:
        raise AssertionError(f"playlists on both sides of the split: {sorted(overlap)[:5]}")
    return {"heldout_playlists": int(test_m["playlist_id"].nunique()),
            "train_playlists": int(train_m["playlist_id"].nunique()),
            "playlist_overlap": 0,
            "labels_from": "training playlists only (genre, subgenre, co-occurrence)"}
