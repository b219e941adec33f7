"""Aggregations behind the Trends page: features over release years, shares, correlations.

Pure functions over the track table (``CatalogIndex.tracks``); every function takes the
already filtered table, and :func:`filter_tracks` applies the page's year / genre / cluster
filters. Years with fewer than ``min_tracks`` tracks are dropped so that a band is never
drawn from a handful of songs.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TREND_FEATURES: tuple[str, ...] = (
    "danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness",
    "liveness", "valence", "tempo", "duration_ms", "popularity")
KEY_NAMES = ("C", "C♯/D♭", "D", "D♯/E♭", "E", "F", "F♯/G♭", "G", "G♯/A♭", "A", "A♯/B♭", "B")
BANDS = ("ci95", "iqr")
GROUPINGS = (None, "genre", "cluster")


def filter_tracks(tracks: pd.DataFrame, year_range: tuple[int, int] | None = None,
                  genres: Sequence[str] | None = None,
                  clusters: Sequence[int] | None = None) -> pd.DataFrame:
    """Tracks released in ``year_range`` (inclusive), of one of ``genres``, in one of ``clusters``.

    ``None`` or an empty sequence means "no filter". Tracks without a year are dropped only
    when a year range is given.
    """
    mask = np.ones(len(tracks), dtype=bool)
    if year_range is not None:
        lo, hi = year_range
        if lo > hi:
            raise ValueError(f"filter_tracks: year_range must be (first, last). Got {year_range}.")
        year = tracks["year"]
        mask &= (year >= lo).fillna(False).to_numpy(bool) & (year <= hi).fillna(False).to_numpy(bool)
    if genres:
        mask &= tracks["genre"].isin(list(genres)).fillna(False).to_numpy(bool)
    if clusters:
        mask &= tracks["cluster"].isin(list(clusters)).to_numpy(bool)
    return tracks.loc[mask]


def _check_feature(tracks: pd.DataFrame, feature: str) -> None:
    if feature not in tracks.columns:
        raise KeyError(f"trends: the track table has no column {feature!r}; "
                       f"choose one of {', '.join(TREND_FEATURES)}")


def feature_by_year(tracks: pd.DataFrame, feature: str, by: str | None = None,
                    band: str = "ci95", min_tracks: int = 10) -> pd.DataFrame:
    """Yearly mean of ``feature`` with a band, overall or per ``by`` group ("genre"/"cluster").

    Args:
        band: "ci95" (mean ± 1.96 standard errors) or "iqr" (25th to 75th percentile).
        min_tracks: years (per group) with fewer tracks are left out.

    Returns:
        DataFrame(year, group, mean, lo, hi, n); ``group`` is "all" when ``by`` is None.
    """
    _check_feature(tracks, feature)
    if band not in BANDS:
        raise ValueError(f"feature_by_year: band must be one of {BANDS}. Got {band!r}.")
    if by not in GROUPINGS:
        raise ValueError(f"feature_by_year: by must be one of {GROUPINGS}. Got {by!r}.")
    df = pd.DataFrame({"year": tracks["year"], "value": tracks[feature].astype(float),
                       "group": tracks[by].astype(str) if by else "all"}).dropna()
    df["year"] = df["year"].astype(int)
    g = df.groupby(["year", "group"])["value"]
    out = g.agg(mean="mean", sd="std", n="size", q25=lambda v: v.quantile(0.25),
                q75=lambda v: v.quantile(0.75)).reset_index()
    out = out[out["n"] >= min_tracks]
    if band == "ci95":
        half = 1.96 * out["sd"].fillna(0) / np.sqrt(out["n"])
        out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    else:
        out["lo"], out["hi"] = out["q25"], out["q75"]
    return out[["year", "group", "mean", "lo", "hi", "n"]].reset_index(drop=True)


def normalised_trends(tracks: pd.DataFrame, features: Sequence[str],
                      min_tracks: int = 10) -> pd.DataFrame:
    """Several features on one scale: each yearly mean as a z-score against the filtered tracks.

    Returns:
        Long DataFrame(year, feature, z, mean, n): ``z`` = (yearly mean - overall mean) / sd.
    """
    frames = []
    for feat in features:
        _check_feature(tracks, feature=feat)
        values = tracks[feat].astype(float)
        sd = values.std()
        yearly = feature_by_year(tracks, feat, min_tracks=min_tracks)
        z = (yearly["mean"] - values.mean()) / (sd if sd and np.isfinite(sd) else 1.0)
        frames.append(pd.DataFrame({"year": yearly["year"], "feature": feat, "z": z,
                                    "mean": yearly["mean"], "n": yearly["n"]}))
    if not frames:
        return pd.DataFrame(columns=["year", "feature", "z", "mean", "n"])
    return pd.concat(frames, ignore_index=True)


def cluster_share_by_year(tracks: pd.DataFrame, min_tracks: int = 10) -> pd.DataFrame:
    """Share of each year's tracks in each cluster (noise included as cluster -1).

    Returns:
        DataFrame(year, cluster, tracks, share); shares of a year sum to 1.
    """
    df = tracks[["year", "cluster"]].dropna()
    df = df.assign(year=df["year"].astype(int))
    counts = df.groupby(["year", "cluster"]).size().rename("tracks").reset_index()
    totals = counts.groupby("year")["tracks"].transform("sum")
    counts["share"] = counts["tracks"] / totals
    return counts[totals >= min_tracks].reset_index(drop=True)


def feature_distribution(tracks: pd.DataFrame, feature: str, by: str = "genre",
                         max_points: int = 20000, seed: int = 0) -> pd.DataFrame:
    """Values of ``feature`` per group for histograms / box / violin plots (sampled if large)."""
    _check_feature(tracks, feature)
    df = pd.DataFrame({"group": tracks[by].astype("string").fillna("unknown"),
                       feature: tracks[feature].astype(float)}).dropna(subset=[feature])
    if len(df) > max_points:
        df = df.sample(max_points, random_state=seed)
    return df.reset_index(drop=True)


def correlation_matrix(tracks: pd.DataFrame,
                       features: Sequence[str] = TREND_FEATURES) -> pd.DataFrame:
    """Pearson correlations between features, (n_features, n_features)."""
    cols = [f for f in features if f in tracks.columns]
    return tracks[cols].astype(float).corr()


def key_mode_distribution(tracks: pd.DataFrame) -> pd.DataFrame:
    """Tracks per musical key and mode; unknown keys (NaN) are left out.

    Returns:
        DataFrame(key, key_name, mode, tracks, share) with mode "major" / "minor".
    """
    df = tracks[["key", "mode"]].dropna()
    df = df[(df["key"] >= 0) & (df["key"] <= 11)]
    out = df.groupby(["key", "mode"]).size().rename("tracks").reset_index()
    out["key"] = out["key"].astype(int)
    out["key_name"] = [KEY_NAMES[k] for k in out["key"]]
    out["mode"] = np.where(out["mode"].astype(int) == 1, "major", "minor")
    out["share"] = out["tracks"] / max(int(out["tracks"].sum()), 1)
    return out[["key", "key_name", "mode", "tracks", "share"]]


def popularity_by_group(tracks: pd.DataFrame, by: str = "genre",
                        min_tracks: int = 20) -> pd.DataFrame:
    """Popularity summary per genre or subgenre (list columns are exploded: a track that is
    in two subgenres counts in both).

    Returns:
        DataFrame(group, tracks, mean, median, q25, q75) sorted by median, highest first.
    """
    if by not in ("genre", "subgenre", "genres", "subgenres"):
        raise ValueError(f"popularity_by_group: by must be 'genre' or 'subgenre'. Got {by!r}.")
    col = {"subgenre": "subgenres", "genres": "genres", "genre": "genre"}.get(by, by)
    df = pd.DataFrame({"group": tracks[col], "popularity": tracks["popularity"].astype(float)})
    if col.endswith("s"):
        df = df.explode("group")
    df = df.dropna()
    df["group"] = df["group"].astype(str)
    g = df.groupby("group")["popularity"]
    out = g.agg(tracks="size", mean="mean", median="median",
                q25=lambda v: v.quantile(0.25), q75=lambda v: v.quantile(0.75)).reset_index()
    out = out[out["tracks"] >= min_tracks]
    return out.sort_values("median", ascending=False).reset_index(drop=True)
