"""Steering, feedback re-ranking and explanations for served recommendations.

Steering works like the ``target_*`` seeds of Spotify's recommendation API: each target
adds a penalty proportional to the candidate's distance from it (in catalog standard
deviations); ``year_range`` penalises the years outside the range. Feedback is applied at
once: a -1 removes the track for that seed, a +1 lifts it to the top.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

STEER_RANGES: dict[str, tuple[float, float]] = {
    "energy": (0.0, 1.0), "valence": (0.0, 1.0), "danceability": (0.0, 1.0),
    "acousticness": (0.0, 1.0), "tempo": (0.0, 300.0), "popularity": (0.0, 100.0)}
STEER_WEIGHT = 1.5        # penalty per catalog standard deviation away from a target
YEAR_WEIGHT = 0.5         # penalty per year outside ``year_range``
FEEDBACK_BOOST = 10.0     # a +1 lifts a track above any unvoted candidate
EXPLAIN = ["danceability", "energy", "valence", "acousticness", "speechiness",
           "instrumentalness", "liveness", "tempo", "loudness", "year", "popularity"]


def validate_steer(steer: dict[str, Any] | None) -> dict[str, Any]:
    """Check keys and value ranges; an error names the key and the accepted values."""
    if not steer:
        return {}
    out: dict[str, Any] = {}
    for key, val in steer.items():
        if val is None:
            continue
        if key == "year_range":
            try:
                lo, hi = (float(v) for v in val)
            except (TypeError, ValueError):
                raise ValueError(f"steer['year_range'] must be a pair (first_year, last_year). "
                                 f"Got {val!r} instead.") from None
            if lo > hi:
                raise ValueError(f"steer['year_range'] starts after it ends: {val!r}.")
            out[key] = (lo, hi)
            continue
        if key not in STEER_RANGES:
            raise ValueError(f"steer: unknown target {key!r}; use one of "
                             f"{', '.join([*STEER_RANGES, 'year_range'])}.")
        lo, hi = STEER_RANGES[key]
        if not isinstance(val, (int, float)) or not lo <= float(val) <= hi:
            raise ValueError(f"steer[{key!r}] must be a number in [{lo:g}, {hi:g}]. "
                             f"Got {val!r} instead.")
        out[key] = float(val)
    return out


def steer_penalty(tracks: pd.DataFrame, rows: np.ndarray, steer: dict[str, Any],
                  spread: dict[str, float]) -> np.ndarray:
    """Penalty (n_rows,) to subtract from standardised scores; 0 without targets."""
    pen = np.zeros(len(rows))
    for key, target in steer.items():
        if key == "year_range":
            year = tracks["year"].to_numpy(float)[rows]
            lo, hi = target
            gap = np.where(year < lo, lo - year, np.where(year > hi, year - hi, 0.0))
            pen += YEAR_WEIGHT * np.nan_to_num(gap, nan=10.0)
            continue
        v = tracks[key].to_numpy(float)[rows]
        pen += STEER_WEIGHT * np.nan_to_num(np.abs(v - target), nan=spread[key]) / spread[key]
    return pen


def standardise(score: np.ndarray) -> np.ndarray:
    """Scores as z-values within the candidate pool, so steering weights mean the same
    thing for every seed and every mode."""
    sd = score.std()
    return (score - score.mean()) / (sd if sd > 1e-9 else 1.0)


def feature_gaps(x: np.ndarray, names: list[str], seed: int,
                 rows: np.ndarray) -> tuple[list[str], list[str]]:
    """Per candidate, the two features closest to the seed and the one furthest apart.

    Args:
        x: (n, n_features) standardised features; names: their column names.
    Returns:
        (close, apart) lists of short strings, one per row of ``rows``.
    """
    cols = [i for i, n in enumerate(names) if n in EXPLAIN]
    d = np.abs(x[rows][:, cols] - x[seed, cols])
    order = np.argsort(d, axis=1, kind="stable")
    label = [names[i] for i in cols]
    close = [", ".join(label[j] for j in o[:2]) for o in order]
    apart = [label[o[-1]] if d[r, o[-1]] > 1.0 else "" for r, o in enumerate(order)]
    return close, apart


def why_text(row: dict[str, Any]) -> str:
    """A one-line human explanation of one recommendation."""
    parts = []
    if row["same_artist"]:
        parts.append("same artist")
    if row["same_album"]:
        parts.append("same album")
    if row["shared_playlists"] > 0:
        n = int(row["shared_playlists"])
        parts.append(f"together on {n} playlist{'s' * (n != 1)}")
    parts.append(f"sound {row['content_similarity']:.2f} similar, close in {row['close_features']}")
    if row["apart_features"]:
        parts.append(f"differs in {row['apart_features']}")
    if row.get("feedback", 0) > 0:
        parts.append("you liked it for this seed")
    return "; ".join(parts)
