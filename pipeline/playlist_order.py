"""Playlist ordering: smooth chains, energy arcs, tempo ramps, user curves, artist gaps.

Pure functions over small arrays for the tracks already chosen for a playlist; no catalog
access here (see :mod:`pipeline.playlist`). Indices are positions in the chosen set
``0..m-1``; every function returns an *order* (a list of those indices, first track first).

The artist-gap rule is "at least ``gap`` other tracks between two tracks by the same
artist": a track may be placed only if its artist is not among the last ``gap`` placed.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

ARC_START, ARC_PEAK_AT, ARC_END = 0.15, 0.65, 0.35   # energy-arc shape (relative levels)


def arc_shape(m: int) -> np.ndarray:
    """Relative energy targets for an arc: rise, peak at 65 % of the length, cool down.

    Args:
        m: number of positions.
    Returns:
        (m,) levels in [0, 1]; only their ranks matter to :func:`rank_match`.
    """
    u = np.linspace(0.0, 1.0, m) if m > 1 else np.zeros(1)
    up = ARC_START + (1 - ARC_START) * u / ARC_PEAK_AT
    down = 1 - (1 - ARC_END) * (u - ARC_PEAK_AT) / (1 - ARC_PEAK_AT)
    return np.where(u <= ARC_PEAK_AT, up, down)


def curve_targets(curve: tuple[float, ...] | list[float], m: int) -> np.ndarray:
    """A user curve of target values, linearly interpolated over ``m`` positions.

    Args:
        curve: (k,) control values, evenly spaced from the first to the last position.
        m: number of positions.
    Returns:
        (m,) target values in the curve's own units (energy 0-1 or tempo in BPM).
    """
    pts = np.asarray(curve, dtype=float)
    if len(pts) == 1 or m == 1:
        return np.full(m, pts[0])
    return np.interp(np.linspace(0, 1, m), np.linspace(0, 1, len(pts)), pts)


def rank_match(values: np.ndarray, targets: np.ndarray) -> list[int]:
    """Order tracks so that the k-th lowest value sits at the k-th lowest target.

    For one feature and a convex cost such as ``|value - target|`` this assignment is
    optimal. NaN values go to the highest targets' positions last (sorted to the end).

    Args:
        values: (m,) feature value per track.
        targets: (m,) target per position.
    Returns:
        order: position -> track index, length m.
    """
    m = len(values)
    pos_sorted = np.lexsort((np.arange(m), targets))
    val_sorted = np.lexsort((np.arange(m), np.nan_to_num(values, nan=np.inf)))
    order = np.empty(m, dtype=int)
    order[pos_sorted] = val_sorted
    return order.tolist()


def ascending(values: np.ndarray) -> list[int]:
    """Indices sorted by value, ties by index, NaN last. values: (m,)."""
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=np.inf)
    return np.lexsort((np.arange(len(v)), v)).tolist()


def place_with_gap(preferred: list[int], artists: np.ndarray, gap: int) -> tuple[list[int], list[int]]:
    """Follow a preferred order, deferring a track while its artist played too recently.

    Args:
        preferred: (m,) track indices in the wanted order.
        artists: (m,) artist key per track index.
        gap: minimum number of other tracks between two tracks by one artist.
    Returns:
        (order, dropped): the placed indices, and those that could never be placed.
    """
    def rank_next(placed: list[int], remaining: list[int]) -> list[int]:
        return remaining          # ``remaining`` keeps the preferred order
    return _greedy(list(preferred), artists, gap, rank_next)


def smooth_chain(emb: np.ndarray, artists: np.ndarray, gap: int, start: int) -> tuple[list[int], list[int]]:
    """Greedy nearest-neighbour chain: each next track is the closest unplaced one.

    Args:
        emb: (m, d) unit embedding vectors of the chosen tracks.
        artists: (m,) artist key per track.
        gap: artist gap (see module docstring).
        start: index of the first track.
    Returns:
        (order, dropped) as in :func:`place_with_gap`.
    """
    sims = emb @ emb.T

    def rank_next(placed: list[int], remaining: list[int]) -> list[int]:
        if not placed:
            return [start] + [r for r in remaining if r != start]
        s = sims[placed[-1], remaining]
        return [remaining[i] for i in np.lexsort((remaining, -s))]
    return _greedy(list(range(len(emb))), artists, gap, rank_next)


def chain_start(emb: np.ndarray) -> int:
    """The track farthest from the set's mean direction: chains work best from an end.

    Args:
        emb: (m, d) unit vectors.
    """
    centre = emb.mean(axis=0)
    return int(np.argmin(emb @ centre))


def _greedy(remaining: list[int], artists: np.ndarray, gap: int,
            rank_next: Callable[[list[int], list[int]], list[int]]) -> tuple[list[int], list[int]]:
    placed: list[int] = []
    while remaining:
        recent = {artists[i] for i in placed[-gap:]} if gap > 0 else set()
        pick = next((i for i in rank_next(placed, remaining) if artists[i] not in recent), None)
        if pick is None:
            break
        placed.append(pick)
        remaining.remove(pick)
    return placed, remaining


def transition_similarities(emb: np.ndarray) -> np.ndarray:
    """Cosine similarity of each track to the one before it.

    Args:
        emb: (m, d) unit vectors in playlist order.
    Returns:
        (m,) values; the first is NaN (no track before it).
    """
    out = np.full(len(emb), np.nan)
    if len(emb) > 1:
        a, b = emb[:-1], emb[1:]
        norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
        out[1:] = (a * b).sum(axis=1) / norms
    return out


def smoothness(emb: np.ndarray) -> float:
    """Mean cosine similarity between consecutive tracks; NaN for fewer than two.

    Args:
        emb: (m, d) unit vectors in playlist order.
    """
    t = transition_similarities(emb)[1:]
    return float(t.mean()) if len(t) else float("nan")
