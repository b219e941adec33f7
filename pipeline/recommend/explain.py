"""Steering, feedback re-ranking and explanations for served recommendations.

Steering works like the ``target_*`` seeds of Spotify's recommendation API: each target
adds a penalty proportional to the candidate's distance from it (in catalog standard
deviations); ``year_range`` penalises the years outside the range.

Feedback means "more (or fewer) like this", applied at once and bounded: a vote shifts the
``FEEDBACK_NEAR`` candidates of the seed's pool that sound most like the voted track
(embedding cosine, and closer than the pool's median candidate), by ``FEEDBACK_WEIGHT``
for the closest, tapering to 0 for the ``FEEDBACK_NEAR``-th; the total shift of a candidate
is capped at ``FEEDBACK_CAP``. Scores are z-values within the pool (standard deviation 1),
so a vote can move a track past its near neighbours in the ranking, never from the bottom
of the pool to the top. A voted track moves by its own vote alone (a liked track
+FEEDBACK_WEIGHT); a disliked track itself leaves that seed's list.
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
FEEDBACK_WEIGHT = 0.5     # shift (pool standard deviations) of the voted track itself and,
                          # tapering, of the candidates that sound most like it
FEEDBACK_NEAR = 20        # how many of the pool's candidates one vote reaches
FEEDBACK_CAP = 1.0        # most that all of one seed's votes together move a candidate
FEEDBACK_SHOWN = 0.05     # smaller shifts are not worth a word in the reason text
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


def feedback_shift(emb: np.ndarray, cand: np.ndarray, voted: np.ndarray,
                   value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How much a seed's votes move each candidate, and which vote moves it most.

    Args:
        emb: (n, dim) L2-normalised embedding; cand: (m,) candidate rows.
        voted: (v,) rows of the voted tracks; value: (v,) their votes (+1 / -1).
    Returns:
        shift (m,) in [-FEEDBACK_CAP, FEEDBACK_CAP] to add to the z-scores, and the index
        into ``voted`` of the vote with the largest effect per candidate (-1: none).
    """
    if len(voted) == 0 or len(cand) == 0:
        return np.zeros(len(cand)), np.full(len(cand), -1)
    sims = emb[cand] @ emb[voted].T                                   # (m, v)
    order = np.argsort(-sims, axis=0, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(len(cand))[:, None], axis=0)  # 0: most alike
    closeness = np.clip(1.0 - place / FEEDBACK_NEAR, 0.0, 1.0)
    closeness[sims <= np.median(sims, axis=0)] = 0.0       # never the pool's typical or less
    effect = FEEDBACK_WEIGHT * closeness * value.astype(float)        # (m, v)
    own = cand[:, None] == voted[None, :]            # a voted track moves by its own vote only
    effect = np.where(own.any(1, keepdims=True), np.where(own, effect, 0.0), effect)
    shift = np.clip(effect.sum(1), -FEEDBACK_CAP, FEEDBACK_CAP)
    main = np.abs(effect).argmax(1)
    main[np.abs(effect).max(1) < FEEDBACK_SHOWN] = -1
    return shift, main


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
    parts.extend(_feedback_words(row))
    if row.get("steering"):
        parts.append(row["steering"])
    return "; ".join(parts)


def _feedback_words(row: dict[str, Any]) -> list[str]:
    """The vote's part of the reason: the row's own vote, or the vote that moved it."""
    shift = float(row.get("feedback_shift", 0.0))
    if row.get("feedback", 0) > 0:
        return [f"you liked it for this seed (score {shift:+.2f})"]
    voter = row.get("moved_by")
    if not voter or abs(shift) < FEEDBACK_SHOWN:
        return []
    name, vote = voter
    verb = "lifted" if shift > 0 else "pushed down"
    return [f"{verb} {abs(shift):.2f}: sounds like “{name}”, which you "
            f"{'liked' if vote > 0 else 'disliked'}"]


def steering_words(values: dict[str, Any], target: dict[str, Any], rank: int,
                   unsteered: int) -> str:
    """"steering (energy 0.31, target 0.20) moved it up from #14": the row's steered
    feature values and where it stood without steering; "" when steering did not move it.

    Args:
        values: the row's values of the steered features; target: the validated steer.
        rank, unsteered: its 1-based place with and without steering.
    """
    shown = []
    for key, goal in target.items():
        if key == "year_range":
            year = values.get("year")
            shown.append(f"year {'unknown' if year is None or pd.isna(year) else int(year)}, "
                         f"range {int(goal[0])}-{int(goal[1])}")
        else:
            shown.append(f"{key} {format_feature(key, values.get(key))}, "
                         f"target {format_feature(key, goal)}")
    if unsteered == rank:
        return ""
    move = f"{'up' if unsteered > rank else 'down'} from #{unsteered}"
    return f"steering ({'; '.join(shown)}) moved it {move}"


def format_feature(key: str, value: Any) -> str:
    """One format per feature: tempo in whole BPM, popularity 0-100, the rest 0.00-1.00."""
    if value is None or pd.isna(value):
        return "unknown"
    if key == "tempo":
        return f"{float(value):.0f} BPM"
    if key == "popularity":
        return f"{float(value):.0f}"
    return f"{float(value):.2f}"
