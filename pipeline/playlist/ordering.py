"""Playlist selection and ordering: rule-checked picking, A->B walks, smooth chains, arcs.

Array-level helpers for :mod:`pipeline.playlist`; no catalog or request objects here.
Selection works on catalog row numbers; ordering functions work on positions ``0..m-1``
in the chosen set and return an *order* (a list of those indices, first track first).

The artist-gap rule is "at least ``gap`` other tracks between two tracks by the same
artist": a track may be placed only if its artist is not among the last ``gap`` placed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from pipeline.map import knn

ARC_START, ARC_PEAK_AT, ARC_END = 0.15, 0.65, 0.35   # energy-arc shape (relative levels)
DURATION_SLACK_MS = 60_000     # a duration target is met within one minute


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


def curve_from_points(at: np.ndarray, values: np.ndarray, lo: float, hi: float,
                      samples: int = 11) -> tuple[float, ...]:
    """A curve drawn as points (positions 0-100 % of the playlist, in any order) as
    ``samples`` evenly spaced targets for :func:`curve_targets`, clipped to ``[lo, hi]``.

    Args:
        at: (k,) positions in percent; values: (k,) targets there (NaN rows are ignored).
    Returns:
        ``samples`` values, or () when fewer than two points are given.
    """
    at, values = np.asarray(at, dtype=float), np.asarray(values, dtype=float)
    ok = ~(np.isnan(at) | np.isnan(values))
    if ok.sum() < 2:
        return ()
    order = np.argsort(at[ok], kind="stable")
    x, y = np.clip(at[ok][order], 0, 100), np.clip(values[ok][order], lo, hi)
    return tuple(float(v) for v in np.interp(np.linspace(0, 100, samples), x, y).round(4))


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


def order_tracks(kind: str, emb: np.ndarray, artists: np.ndarray, gap: int,
                 values: np.ndarray | None = None, start: int | None = None,
                 path_t: np.ndarray | None = None) -> tuple[list[int], list[int]]:
    """Order chosen tracks for ``kind`` in "smooth", "tempo", "energy_arc".

    Args:
        emb: (m, d) unit vectors; artists: (m,) artist keys; gap: artist gap.
        values: (m,) tempo for "tempo", energy for "energy_arc" (NaN placed last).
        start: first track of a smooth chain (default: the set's most outlying track).
        path_t: (m,) position 0..1 on an A->B path; a smooth order then follows the path.
    Returns:
        (order, dropped) as in :func:`place_with_gap`.
    """
    if kind == "smooth" and path_t is not None:
        return place_with_gap(ascending(path_t), artists, gap)
    if kind == "smooth":
        return smooth_chain(emb, artists, gap, chain_start(emb) if start is None else start)
    if kind == "tempo":
        return place_with_gap(ascending(values), artists, gap)
    known = np.flatnonzero(~np.isnan(values))
    pref = known[rank_match(values[known], arc_shape(len(known)))].tolist()
    return place_with_gap(pref + np.flatnonzero(np.isnan(values)).tolist(), artists, gap)


def place_with_gap(preferred: list[int], artists: np.ndarray, gap: int
                   ) -> tuple[list[int], list[int]]:
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


def smooth_chain(emb: np.ndarray, artists: np.ndarray, gap: int, start: int
                 ) -> tuple[list[int], list[int]]:
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


# --- selection -------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackKeys:
    """Per catalog row: ``artist`` key (case-folded), ``song`` group, ``dur`` in ms. (n,)."""

    artist: np.ndarray
    song: np.ndarray
    dur: np.ndarray


class Budget:
    """When a playlist is full: ``length`` tracks, or a total within a minute of ``target_ms``.

    With a duration target ``length`` is only a safety cap.
    """

    def __init__(self, length: int, target_ms: float | None, median_ms: float):
        self.length, self.target, self.median = length, target_ms, median_ms
        self.count, self.total = 0, 0.0

    def estimate(self) -> int:
        """Expected number of tracks (for a duration: target / median track duration)."""
        if self.target is None:
            return self.length
        return int(min(self.length, max(1, round(self.target / self.median))))

    def fits(self, duration_ms: float) -> bool:
        return self.target is None or self.total + duration_ms <= self.target + DURATION_SLACK_MS

    def add(self, duration_ms: float) -> None:
        self.count += 1
        self.total += 0.0 if math.isnan(duration_ms) else duration_ms

    def full(self) -> bool:
        if self.target is not None and self.total >= self.target - DURATION_SLACK_MS:
            return True
        return self.count >= self.length


class Source(Protocol):
    def take(self, accept: Callable[[int], bool]) -> int | None: ...


class Queue:
    """Candidate rows in preference order; ``take`` returns the next acceptable one."""

    def __init__(self, rows: np.ndarray):
        self.rows, self.pos = [int(r) for r in rows], 0

    def take(self, accept: Callable[[int], bool]) -> int | None:
        while self.pos < len(self.rows):
            r = self.rows[self.pos]
            self.pos += 1
            if accept(r):
                return r
        return None


class PathQueue:
    """A walk from A to B: step ``s`` takes the nearest acceptable track to point ``s``.

    After the last step it keeps offering the walk's other candidates (in step order),
    so a path can still fill a playlist when the other sources run dry.

    Args:
        nbrs: per step, the catalog rows nearest to that interpolated point, best first.
    """

    def __init__(self, nbrs: list[list[int]]):
        self.nbrs, self.step = nbrs, 0
        self.step_of: dict[int, float] = {}     # row -> position 0..1 on the path
        self.rest = Queue(np.array([r for row in nbrs for r in row], dtype=int))

    def take(self, accept: Callable[[int], bool]) -> int | None:
        while self.step < len(self.nbrs):
            s, self.step = self.step, self.step + 1
            r = next((int(r) for r in self.nbrs[s] if accept(int(r))), None)
            if r is not None:
                self.step_of[r] = s / max(len(self.nbrs) - 1, 1)
                return r
        return self.rest.take(accept)


def gumbel_order(scores: np.ndarray, tau: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded weighted random order, weights exp(score / tau). scores: (m,) -> (m,)."""
    keys = scores / tau + rng.gumbel(size=len(scores))
    return np.lexsort((np.arange(len(scores)), -keys))


def select_round_robin(queues: list[Source], keys: TrackKeys, allowed: np.ndarray,
                       max_per_artist: int, budget: Budget) -> tuple[list[int], dict[str, int]]:
    """Take one acceptable row from each source in turn until the budget is full.

    Args:
        queues: candidate sources; allowed: (n,) rows passing every filter.
    Returns:
        (chosen rows, counts of candidates refused by "same_song" / "max_per_artist").
    """
    chosen: list[int] = []
    used, songs, per_artist, refused = set(), set(), {}, {}

    def accept(r: int) -> bool:
        if not allowed[r] or r in used:
            return False
        if keys.song[r] in songs:
            refused.setdefault(r, "same_song")
            return False
        if per_artist.get(keys.artist[r], 0) >= max_per_artist:
            refused.setdefault(r, "max_per_artist")
            return False
        return budget.fits(keys.dur[r])

    active = list(queues)
    while active and not budget.full():
        for q in list(active):
            r = q.take(accept)
            if r is None:
                active.remove(q)
                continue
            chosen.append(r)
            used.add(r)
            songs.add(keys.song[r])
            per_artist[keys.artist[r]] = per_artist.get(keys.artist[r], 0) + 1
            budget.add(keys.dur[r])
            if budget.full():
                break
    vals = list(refused.values())
    return chosen, {k: vals.count(k) for k in ("same_song", "max_per_artist")}


def select_by_curve(pool: np.ndarray, x: np.ndarray, targets: np.ndarray, prior: np.ndarray,
                    keys: TrackKeys, max_per_artist: int, gap: int, budget: Budget
                    ) -> tuple[list[int], dict[str, int]]:
    """Pick and order at once: each position takes the rule-abiding candidate whose
    feature is closest to that position's target.

    Args:
        pool: (p,) catalog rows passing the filters; x: (p,) their feature values (no NaN).
        targets: (m,) target value per position; prior: (p,) small cost added to break
            near-ties in favour of relevant candidates.
    Returns:
        (rows in playlist order, counts of leftover candidates blocked by each rule).
    """
    a_codes, a_uni = _factorize(keys.artist[pool])
    s_codes, s_uni = _factorize(keys.song[pool])
    dur = keys.dur[pool]
    scale = max(float(np.ptp(targets)), float(np.ptp(x)) if len(x) else 0.0, 1e-9)
    used, song_used = np.zeros(len(pool), bool), np.zeros(len(s_uni), bool)
    per_artist = np.zeros(len(a_uni), int)
    order: list[int] = []
    for tau in targets:
        if budget.full():
            break
        recent = a_codes[order[-gap:]] if gap and order else []
        ok = ~used & ~song_used[s_codes] & (per_artist[a_codes] < max_per_artist)
        ok &= ~np.isin(a_codes, recent)
        if budget.target is not None:
            ok &= budget.total + np.nan_to_num(dur) <= budget.target + DURATION_SLACK_MS
        if not ok.any():
            break
        j = int(np.argmin(np.where(ok, np.abs(x - tau) / scale + prior, np.inf)))
        order.append(j)
        used[j], song_used[s_codes[j]] = True, True
        per_artist[a_codes[j]] += 1
        budget.add(dur[j])
    blocked_song = ~used & song_used[s_codes]
    blocked_artist = ~used & ~blocked_song & (per_artist[a_codes] >= max_per_artist)
    return pool[order].tolist(), {"same_song": int(blocked_song.sum()),
                                  "max_per_artist": int(blocked_artist.sum())}


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uni, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), uni


PATH_NEIGHBOURS = 60      # embedding neighbours of each point on an A->B walk
PATH_FEATURE_POOL = 200   # tracks nearest to each point's feature targets
PATH_EMB_WEIGHT = 1.0     # cost of (1 - cosine) against the feature deviation (in sds)


def path_walk(emb: np.ndarray, ra: int, rb: int, steps: int, score: np.ndarray,
              feats: np.ndarray | None = None, blocked: np.ndarray | None = None
              ) -> tuple[PathQueue, Callable[[np.ndarray], np.ndarray]]:
    """A walk of ``steps`` points from track A to track B that ramps.

    Point ``s`` (``u = s / (steps - 1)``) has an embedding target on the straight line from
    A to B and, with ``feats``, feature targets ``(1 - u) * feats[A] + u * feats[B]``. Its
    candidates are the ``PATH_NEIGHBOURS`` nearest tracks to the embedding target and the
    ``PATH_FEATURE_POOL`` nearest to the feature targets, ranked by the feature deviation
    (root mean square, in the features' units) plus ``PATH_EMB_WEIGHT * (1 - cosine)``. The
    embedding alone stays in one region and then jumps (ballads, then one step to EDM);
    the feature targets make every step move a bounded amount towards B. A and B are
    reserved for the first and last step.

    Args:
        emb: (n, d) catalog embedding; ra, rb: rows of A and B.
        score: (n,) relevance per row, raised in place to each candidate's best similarity.
        feats: (n, k) features to ramp, scaled to comparable units (NaN allowed), or None.
        blocked: (n,) rows never taken between A and B (other releases of A's and B's songs).
    Returns:
        (the queue, a function mapping rows (k,) to their position 0..1 along the path).
    """
    a, b = emb[ra], emb[rb]
    u = np.linspace(0, 1, max(steps, 2))[:, None]
    points = (1 - u) * a + u * b                          # (steps, d); knn unit-normalises
    idx, sim = knn(points, emb, min(len(emb), PATH_NEIGHBOURS))
    np.maximum.at(score, idx.ravel(), sim.ravel().astype(float))
    lists = [[r for r in row if r not in (ra, rb)] for row in idx.tolist()]
    if feats is not None:
        lists = _ramp_lists(emb, feats, ra, rb, points, u[:, 0], lists, score)
    if blocked is not None:
        lists = [[r for r in row if not blocked[r]] for row in lists]
    lists[0], lists[-1] = [ra] + lists[0], [rb] + lists[-1]
    queue = PathQueue(lists)
    d = b - a
    denom = max(float(d @ d), 1e-12)

    def t_of(rows: np.ndarray) -> np.ndarray:
        proj = np.clip((emb[rows] - a) @ d / denom, 0, 1)
        return np.array([queue.step_of.get(int(r), p) for r, p in zip(rows, proj)])
    return queue, t_of


def _ramp_lists(emb: np.ndarray, feats: np.ndarray, ra: int, rb: int, points: np.ndarray,
                u: np.ndarray, lists: list[list[int]], score: np.ndarray) -> list[list[int]]:
    """Per point, its candidates (embedding neighbours + feature-nearest tracks) ranked by
    feature deviation from the point's targets plus the embedding distance."""
    f = np.nan_to_num(feats, nan=np.nanmean(feats, axis=0))
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    out = []
    for s, (p, w) in enumerate(zip(points, u)):
        target = (1 - w) * f[ra] + w * f[rb]
        dev = np.sqrt(((f - target) ** 2).mean(axis=1))            # (n,)
        k = min(PATH_FEATURE_POOL, len(f) - 1)
        near = np.argpartition(dev, k)[:k + 1] if k < len(f) else np.arange(len(f))
        cand = np.unique(np.concatenate([np.asarray(lists[s], dtype=int), near]))
        cand = cand[(cand != ra) & (cand != rb)]
        pn = p / max(float(np.linalg.norm(p)), 1e-12)
        cos = unit[cand] @ pn
        score[cand] = np.maximum(score[cand], cos)
        cost = dev[cand] + PATH_EMB_WEIGHT * (1 - cos)
        out.append(cand[np.lexsort((cand, cost))].tolist())
    return out
