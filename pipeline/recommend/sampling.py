"""Bounded samples for training: playlist splits, labelled seeds and the training universe.

Ranker training must not grow with the catalog: it draws at most ``max_seeds`` labelled
seeds (spread over every label playlist) and, for catalogs above ``max_tracks``, trains on
a universe of that many tracks made of whole playlists. Everything is seeded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


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


def fold_playlists(memberships: pd.DataFrame, k: int, rng: np.random.Generator
                   ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Cross-fitting folds: playlists dealt at random into ``k`` folds; per fold
    (memberships of the other folds, memberships of this fold). Never more folds than
    playlists, so no fold is empty."""
    pls = np.sort(memberships["playlist_id"].astype(str).unique())
    k = max(1, min(k, len(pls)))
    fold_of = pd.Series(np.arange(len(pls)) % k, index=rng.permutation(pls))
    fold = fold_of.reindex(memberships["playlist_id"].astype(str).to_numpy()).to_numpy()
    return [(memberships[fold != f].reset_index(drop=True),
             memberships[fold == f].reset_index(drop=True)) for f in range(k)]


def seeds_per_playlist(sizes: np.ndarray, per_playlist: int, max_seeds: int | None) -> int:
    """The largest p <= ``per_playlist`` with sum(min(p, size)) <= ``max_seeds``.

    Args:
        sizes: (n_playlists,) tracks of each eligible playlist.
    Returns:
        Seeds to draw per playlist (at least 1, so a tiny cap still yields seeds).
    """
    if max_seeds is None or np.minimum(sizes, per_playlist).sum() <= max_seeds:
        return per_playlist
    lo, hi = 1, per_playlist
    while lo < hi:                               # water-filling by bisection
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if np.minimum(sizes, mid).sum() <= max_seeds else (lo, mid - 1)
    return lo


def sample_seeds(tracks: pd.DataFrame, held_out: pd.DataFrame, per_playlist: int,
                 min_size: int, rng: np.random.Generator,
                 max_seeds: int | None = None) -> LabelledSeeds:
    """Up to ``per_playlist`` seeds from each held-out playlist with ``min_size``+ tracks.

    The other tracks of the seed's playlist are its relevant set. With ``max_seeds``,
    the per-playlist count is lowered evenly so that every eligible playlist still gives
    seeds, then the result is cut to ``max_seeds`` at random (seeded).
    """
    row_of = pd.Series(np.arange(len(tracks)), index=tracks["track_id"].to_numpy())
    groups = []
    for pid, grp in held_out.groupby("playlist_id", sort=True):
        members = np.unique(row_of.reindex(grp["track_id"].to_numpy()).dropna().to_numpy(int))
        if len(members) >= min_size:
            groups.append((str(pid), members))
    sizes = np.array([len(m) for _, m in groups], np.int64)
    per = seeds_per_playlist(sizes, per_playlist, max_seeds)
    rows, pls, rel = [], [], []
    for pid, members in groups:
        for s in rng.choice(members, min(per, len(members)), replace=False):
            rows.append(int(s))
            pls.append(pid)
            rel.append(members[members != s])
    seeds = LabelledSeeds(np.array(rows, np.int64), np.array(pls, object), rel)
    if max_seeds is not None and len(seeds.rows) > max_seeds:
        keep = np.sort(rng.choice(len(seeds.rows), max_seeds, replace=False))
        seeds = LabelledSeeds(seeds.rows[keep], seeds.playlist[keep],
                              [seeds.relevant[i] for i in keep])
    return seeds


def training_universe(tracks: pd.DataFrame, memberships: pd.DataFrame, max_tracks: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame]:
    """At most ``max_tracks`` track rows to train on, made of whole playlists.

    Playlists are taken in a seeded random order until their tracks fill the labelled
    part of the universe (the catalog's share of tracks with a playlist); tracks without
    playlists fill the rest at random. Memberships are kept for the playlists taken, so
    co-occurrence and labels inside the universe are those of complete playlists.

    Returns:
        (rows (n_universe,) sorted track rows, memberships of the universe's playlists).
    """
    n = len(tracks)
    if n <= max_tracks:
        return np.arange(n), memberships
    row_of = pd.Series(np.arange(n), index=tracks["track_id"].to_numpy())
    rows = row_of.reindex(memberships["track_id"].to_numpy()).to_numpy()
    ok = ~np.isnan(rows)
    rows = rows[ok].astype(np.int64)
    pl_code, pl_ids = pd.factorize(memberships["playlist_id"].astype(str).to_numpy()[ok])
    rank = rng.permutation(len(pl_ids))[pl_code]           # each membership's playlist rank
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, rows, rank)                         # a track's earliest playlist
    labelled = np.flatnonzero(first < np.iinfo(np.int64).max)
    n_lab = int(round(max_tracks * len(labelled) / n))
    taken = labelled[np.lexsort((labelled, first[labelled]))[:n_lab]]
    cutoff = first[taken].max() if len(taken) else -1
    others = np.setdiff1d(np.arange(n), labelled)
    extra = rng.choice(others, min(max_tracks - len(taken), len(others)), replace=False)
    universe = np.sort(np.concatenate([taken, extra]).astype(np.int64))
    in_universe = np.zeros(n, bool)
    in_universe[universe] = True
    keep = np.zeros(len(memberships), bool)
    keep[np.flatnonzero(ok)] = (rank <= cutoff) & in_universe[rows]
    return universe, memberships[keep].reset_index(drop=True)
