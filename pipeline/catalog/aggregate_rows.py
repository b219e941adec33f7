"""The aggregates that are rows of the track table, not sums: each cluster's most typical
tracks and the Distributions view's samples (docs/AGGREGATES.md). Both need a first pass
over the chunks (the clusters' centres; each feature's count of values per chunk), then
per-chunk candidates merged in chunk order. Pure functions; no I/O.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .trends import TREND_FEATURES

REP_COLUMNS: tuple[str, ...] = ("track_id", "track_name", "artist", "year", "genre",
                                "popularity", "cluster_probability", "spotify_url")
# The features of a cluster's "most typical tracks" (pipeline.map.PROFILE_FEATURES; the
# catalog package does not import the map's: a test checks they are the same).
REP_FEATURES: tuple[str, ...] = ("danceability", "energy", "loudness", "speechiness",
                                 "acousticness", "instrumentalness", "liveness", "valence",
                                 "tempo", "popularity")
DIST_GROUPS: tuple[str, ...] = ("genre", "decade")   # the Distributions view's groupings
SAMPLE_SEED = 0   # pipeline.catalog.feature_distribution's default seed


def rep_candidates(chunk: pd.DataFrame, centres: dict, n: int) -> pd.DataFrame:
    """Per cluster, the chunk's ``n`` tracks nearest the cluster's centre, one per song
    (as :func:`pipeline.map.representative_tracks` ranks them): the catalog's ``n`` are
    among the chunks' candidates, since a song's nearest release beaten by ``n`` other
    songs in its own chunk is beaten by them in the catalog too.

    Args:
        centres: ``features``, their catalog ``sd0``, ``clusters`` and their ``means``.
    """
    cols = [c for c in REP_COLUMNS if c in chunk.columns]
    feats = centres["features"]
    x = chunk[feats].astype(float)
    sd = pd.Series(centres["sd0"], index=feats).replace(0, np.nan)
    frames = []
    for cid, mean in zip(centres["clusters"], centres["means"]):
        members = chunk["cluster"].to_numpy() == cid
        if not members.any():
            continue
        xs = ((x[members] - pd.Series(mean, index=feats)) / sd).fillna(0.0)
        sub = chunk.loc[members, cols].assign(distance=np.sqrt((xs ** 2).mean(axis=1)).to_numpy())
        sub = sub.sort_values(["distance", "track_id"] if "track_id" in sub else "distance")
        if "song_group" in chunk.columns:
            sub = sub[~chunk.loc[sub.index, "song_group"].duplicated().to_numpy()]
            sub = sub.assign(song_group=chunk.loc[sub.index, "song_group"].to_numpy())
        frames.append(sub.head(n).assign(cluster=cid))
    if not frames:
        return pd.DataFrame(columns=[*cols, "distance", "cluster"])
    return pd.concat(frames, ignore_index=True)


def representatives(frames: Sequence[pd.DataFrame], n: int) -> pd.DataFrame:
    """The chunks' candidates merged: per cluster, nearest first (ties by track id), one
    track per song, at most ``n``; the columns of :func:`pipeline.map.representative_tracks`
    plus ``cluster`` first."""
    df = pd.concat(frames, ignore_index=True)
    order = ["cluster", "distance", "track_id"] if "track_id" in df else ["cluster", "distance"]
    df = df.sort_values(order, kind="stable")
    if "song_group" in df.columns:
        df = df[~df.duplicated(["cluster", "song_group"])].drop(columns="song_group")
    df = df.groupby("cluster", sort=False).head(n)
    cols = [c for c in REP_COLUMNS if c in df.columns and c != "spotify_url"]
    tail = ["spotify_url"] if "spotify_url" in df.columns else []
    return df[["cluster", *cols, "distance", *tail]].reset_index(drop=True)


def sample_positions(n_valid: dict[str, int], points: Sequence[int],
                     seed: int = SAMPLE_SEED) -> dict[str, np.ndarray]:
    """Which of a feature's rows with a value :func:`pipeline.catalog.feature_distribution`
    samples, in its order: ``df.sample(k, random_state=seed)`` draws
    ``RandomState(seed).choice(len(df), k, replace=False)``. Keyed ``"feature|k"``; a
    feature with at most ``k`` values is not sampled (no key)."""
    return {f"{f}|{k}": np.random.RandomState(seed).choice(n, size=k, replace=False)
            .astype(np.int64) for f, n in n_valid.items() for k in points if n > k}


def dist_rows(chunk: pd.DataFrame, offsets: dict[str, int], positions: dict[str, np.ndarray],
              points: Sequence[int]) -> pd.DataFrame:
    """The chunk's rows of each sample (or of each whole feature, when not sampled), with
    their place in it (``order``).

    Args:
        offsets: per feature, the count of values in the chunks before this one.
        positions: :func:`sample_positions`.
    """
    frames = []
    for feature in [f for f in TREND_FEATURES if f in chunk.columns and f in offsets]:
        value = chunk[feature].astype(float)
        idx = np.flatnonzero(value.notna().to_numpy())  # this chunk's rows with a value
        off = offsets[feature]
        for by in [g for g in DIST_GROUPS if g in chunk.columns]:
            group = chunk[by].astype("string").fillna("unknown").to_numpy(dtype=object)
            for k in points:
                pos = positions.get(f"{feature}|{k}")
                if pos is None:
                    order, rows = off + np.arange(len(idx)), idx
                else:
                    inside = (pos >= off) & (pos < off + len(idx))
                    order, rows = np.flatnonzero(inside), idx[pos[inside] - off]
                frames.append(pd.DataFrame({
                    "feature": feature, "by": by, "points": k, "order": order.astype(np.int64),
                    "group": pd.array(group[rows], dtype="str"),
                    "value": value.to_numpy()[rows]}))
    if not frames:
        return pd.DataFrame({"feature": [], "by": [], "points": [], "order": [], "group": [],
                             "value": []})
    return pd.concat(frames, ignore_index=True)


def distributions(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The chunks' sample rows in each sample's order."""
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values(["feature", "by", "points", "order"], kind="stable").reset_index(
        drop=True)
