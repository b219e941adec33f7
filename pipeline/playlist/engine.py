"""Playlist engine: sources -> candidates -> filters -> rules -> ordering -> result + recipe.

``generate_playlist(index, PlaylistRequest(...))`` is pure given the index and the request:
the same request (seed included) on the same cache gives the same playlist, and
``request_from_recipe(result.recipe)`` rebuilds the request. Candidate sources are unioned:
clusters, an explicit list of track ids, a seed track's embedding neighbourhood, and a path
from track A to track B (points interpolated between their embeddings; at each point the
nearest unused track). Similarity is always computed in the full embedding space.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.api import CatalogIndex
from pipeline.map import knn

from . import ordering as po

log = logging.getLogger(__name__)

RECIPE_VERSION = 1
MAX_LENGTH = 1000
GAP_RETRIES = 4                # re-selections when the artist gap drops tracks
SEED_TAU, CLUSTER_TAU = 0.02, 0.25   # sampling temperatures: similarity / cluster probability
OUTPUT_COLUMNS = ["track_id", "track_name", "artist", "album_name", "year", "genre", "cluster",
                  "energy", "tempo", "valence", "danceability", "popularity", "duration_ms",
                  "spotify_url", "uri"]
ORDERINGS = ("smooth", "energy_arc", "tempo", "curve")
CURVE_FEATURES = ("energy", "tempo")
# Stages whose artifacts a playlist reads (each key already hashes its upstream keys).
PLAYLIST_STAGES = ("ingest", "features", "embedding", "neighbors", "projection", "clusters")
# Features a path from A to B ramps (the playlist table and chart show them), in catalog sds,
# with their weights: energy most (the playlist's chart), tempo least (double-time readings).
RAMP_FEATURES = {"energy": 2.0, "valence": 1.0, "danceability": 1.0, "acousticness": 1.0,
                 "tempo": 0.5}
SEED_POOL_MIN, SEED_POOL_PER_TRACK = 200, 8   # a seed's neighbourhood: tracks per wanted track
POOL_GROWTH, POOL_TRIES = 4, 3                 # a duration target short of tracks: widen x4
FILTERS = [("year_range", "year"), ("popularity_range", "popularity"),
           ("tempo_range", "tempo"), ("energy_range", "energy")]

Range = tuple[float, float] | None


class PlaylistRequest(BaseModel):
    """Everything that defines a playlist. Frozen; validated on construction.

    ``target_minutes``, when set, replaces ``length`` (tracks are added until the total
    duration is within a minute of it). ``min_artist_gap`` is the minimum number of other
    tracks between two tracks by the same artist. ``curve`` holds target values of
    ``curve_feature`` (energy 0-1 or tempo in BPM), spread evenly over the playlist.

    Orderings: "smooth" chains nearest neighbours in the embedding (with a ``path`` it
    follows the walk from A to B); "energy_arc" rises to a peak at ~65 % then cools down;
    "tempo" ascends; "curve" picks, position by position, the candidate whose feature is
    closest to the curve there (so it also chooses which candidates play). The other
    orderings draw candidates from the sources in turn (one each), sampling clusters by
    membership probability and a seed's neighbourhood by similarity, under ``seed``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    clusters: tuple[int, ...] = ()
    track_ids: tuple[str, ...] = ()
    seed_track: str | None = None
    path: tuple[str, str] | None = None
    length: int = Field(25, ge=1, le=MAX_LENGTH)
    target_minutes: float | None = Field(None, gt=0, le=24 * 60)
    year_range: Range = None
    popularity_range: Range = None
    tempo_range: Range = None
    energy_range: Range = None
    exclude_explicit: bool = False
    max_per_artist: int = Field(2, ge=1)
    min_artist_gap: int = Field(3, ge=0)
    ordering: Literal["smooth", "energy_arc", "tempo", "curve"] = "smooth"   # ORDERINGS
    curve_feature: Literal["energy", "tempo"] = "energy"
    curve: tuple[float, ...] = ()
    seed: int = Field(42, ge=0)

    @field_validator("year_range", "popularity_range", "tempo_range", "energy_range")
    @classmethod
    def _ordered(cls, v: Range, info: Any) -> Range:
        if v is not None and not (math.isfinite(v[0]) and math.isfinite(v[1]) and v[0] <= v[1]):
            raise ValueError(f"The '{info.field_name}' parameter of PlaylistRequest must be "
                             f"(low, high) with finite low <= high. Got {v} instead.")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "PlaylistRequest":
        if not (self.clusters or self.track_ids or self.seed_track or self.path):
            raise ValueError("PlaylistRequest needs at least one source: clusters, track_ids, "
                             "seed_track or path. Got none.")
        if self.ordering == "curve":
            if len(self.curve) < 2 or not all(math.isfinite(c) for c in self.curve):
                raise ValueError("The 'curve' parameter of PlaylistRequest must hold at least "
                                 f"two finite values when ordering='curve'. Got {self.curve}.")
            if self.curve_feature == "energy" and not all(0 <= c <= 1 for c in self.curve):
                raise ValueError("An energy curve's values must lie in [0, 1]. "
                                 f"Got {self.curve}.")
        return self


@dataclass(frozen=True)
class PlaylistResult:
    """A generated playlist.

    Attributes:
        tracks: one row per track in order; ``position`` starts at 1 and
            ``transition_similarity`` is the cosine to the previous track (NaN first).
        smoothness: mean cosine similarity between consecutive tracks (NaN if < 2 tracks).
        report: JSON-safe dict: ``candidates`` (union of the sources), ``removed_by``
            (reason -> count: each active filter in order year_range, popularity_range,
            tempo_range, energy_range, explicit, duration_unknown, then the rules
            same_song, max_per_artist, min_artist_gap, and duplicate_id /
            curve_feature_unknown when they apply), ``requested``, ``delivered``,
            ``delivered_minutes``, ``smoothness``, ``seconds`` and ``notes`` (why it is
            short, if it is).
        recipe: JSON-serialisable dict; ``request_from_recipe`` turns it back into a request.
    """

    tracks: pd.DataFrame
    smoothness: float
    report: dict
    recipe: dict
    request: PlaylistRequest


def generate_playlist(index: CatalogIndex, req: PlaylistRequest) -> PlaylistResult:
    """Build the playlist ``req`` describes from a loaded catalog.

    Args:
        index: a loaded cache (``pipeline.load``).
        req: the request; unknown track or cluster ids raise ``ValueError`` naming them.
    Returns:
        The playlist; if constraints allow fewer tracks than requested it holds what is
        possible and ``report`` says which filter or rule removed how many candidates.
    """
    t0 = time.perf_counter()
    _check_ids(index, req)
    tracks = index.tracks
    dur = tracks["duration_ms"].to_numpy(dtype=float, na_value=np.nan)
    wanted = _budget(req, dur).estimate()
    seed_pool = _seed_pool(req, dur, wanted, len(tracks))
    for attempt in range(POOL_TRIES):
        order, pool, removed = _attempt(index, req, dur, wanted, seed_pool)
        minutes = float(np.nansum(dur[order])) / 60_000 if len(order) else 0.0
        # A duration target the seed's neighbourhood could not fill (no track left that
        # fits the last minutes): widen the neighbourhood and try again.
        if (req.target_minutes is None or not req.seed_track or seed_pool >= len(tracks)
                or not _short(req, len(order), minutes)):
            break
        seed_pool = min(len(tracks), seed_pool * POOL_GROWTH)
    if len(req.track_ids) > len(set(req.track_ids)):
        removed["duplicate_id"] = len(req.track_ids) - len(set(req.track_ids))
    return _result(index, req, np.asarray(order, dtype=int), len(pool), removed,
                   time.perf_counter() - t0)


def _seed_pool(req: PlaylistRequest, dur: np.ndarray, wanted: int, n: int) -> int:
    """How many of a seed's neighbours are candidates: ``SEED_POOL_PER_TRACK`` per track
    the request needs; for a duration, as many tracks as fit the minutes if they were all
    as short as the catalog's shortest quarter (so a pool that runs dry is rare)."""
    need = wanted
    if req.target_minutes is not None and np.isfinite(dur).any():
        need = math.ceil(req.target_minutes * 60_000 / float(np.nanquantile(dur, 0.25)))
    return min(n, max(SEED_POOL_MIN, SEED_POOL_PER_TRACK * need))


def _attempt(index: CatalogIndex, req: PlaylistRequest, dur: np.ndarray, wanted: int,
             seed_pool: int) -> tuple[list[int], np.ndarray, dict[str, int]]:
    """One selection: (rows in order, candidate pool rows, removal counts)."""
    tracks = index.tracks
    queues, score, path_t = _sources(index, req, wanted, _rng(req), seed_pool)
    pool = np.flatnonzero(score > -np.inf)
    keys = _keys(tracks, pool, dur)
    allowed, removed = _filters(tracks, pool, req)
    if req.ordering == "curve":
        order, rule_counts = _curve_playlist(index, req, pool[allowed[pool]], score, keys,
                                             _budget(req, dur), removed)
        dropped: list[int] = []
    else:
        order, rule_counts, dropped = _select_and_order(index, req, keys, allowed, queues,
                                                        path_t, wanted, seed_pool)
    removed.update(rule_counts)
    removed["min_artist_gap"] = len(dropped)
    return list(order), pool, removed


def _rng(req: PlaylistRequest) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(req.seed))


def _budget(req: PlaylistRequest, dur: np.ndarray) -> po.Budget:
    median = float(np.nanmedian(dur)) if np.isfinite(dur).any() else 200_000.0
    if req.target_minutes is None:
        return po.Budget(req.length, None, median)
    return po.Budget(MAX_LENGTH, req.target_minutes * 60_000, median)


def _keys(tracks: pd.DataFrame, pool: np.ndarray, dur: np.ndarray) -> po.TrackKeys:
    """Rule keys per catalog row; artist keys (case-folded) only for the pool's rows."""
    artist = np.full(len(tracks), None, dtype=object)
    artist[pool] = tracks["artist"].iloc[pool].astype(str).str.strip().str.casefold().to_numpy()
    return po.TrackKeys(artist=artist, song=tracks["song_group"].to_numpy(), dur=dur)


def _select_and_order(index: CatalogIndex, req: PlaylistRequest, keys: po.TrackKeys,
                      allowed: np.ndarray, queues: list[Any],
                      path_t: Callable[[np.ndarray], np.ndarray] | None, wanted: int,
                      seed_pool: int) -> tuple[list[int], dict[str, int], list[int]]:
    """Select round-robin, then order; when the artist gap drops tracks, select again
    without them (up to ``GAP_RETRIES`` times) and keep the longest playlist (most
    tracks, or for a duration target the most minutes).

    Returns:
        (rows in order, rule refusal counts, rows dropped by the artist gap).
    """
    best: tuple[list[int], dict[str, int]] = ([], {})
    banned: list[int] = []

    def size(rows: list[int]) -> float:
        if req.target_minutes is None:
            return len(rows)
        return float(np.nansum(keys.dur[np.asarray(rows, dtype=int)])) if rows else 0.0

    for attempt in range(GAP_RETRIES + 1):
        chosen, counts = po.select_round_robin(queues, keys, allowed, req.max_per_artist,
                                               _budget(req, keys.dur))
        order, dropped = _order(index, req, keys, np.asarray(chosen, dtype=int), path_t)
        if size(order) > size(best[0]):
            best = (order, counts)
        banned += [r for r in dropped if r not in banned]
        if not dropped or attempt == GAP_RETRIES:
            break
        allowed = allowed.copy()
        allowed[dropped] = False
        queues, _, path_t = _sources(index, req, wanted, _rng(req), seed_pool)
    return best[0], best[1], [r for r in banned if r not in set(best[0])]


def _curve_playlist(index: CatalogIndex, req: PlaylistRequest, pool: np.ndarray,
                    score: np.ndarray, keys: po.TrackKeys, budget: po.Budget,
                    removed: dict[str, int]) -> tuple[list[int], dict[str, int]]:
    """Curve ordering: candidates with a known feature value, matched to the curve."""
    x = index.tracks[req.curve_feature].to_numpy(dtype=float, na_value=np.nan)[pool]
    known = ~np.isnan(x)
    removed["curve_feature_unknown"] = int((~known).sum())
    rng = np.random.default_rng(np.random.SeedSequence([req.seed, 1]))
    prior = 0.05 * (1 - np.clip(score[pool[known]], 0, 1)) + 1e-9 * rng.random(int(known.sum()))
    targets = po.curve_targets(req.curve, budget.estimate())
    return po.select_by_curve(pool[known], x[known], targets, prior, keys, req.max_per_artist,
                              req.min_artist_gap, budget)


# --- sources ---------------------------------------------------------------------------

def _check_ids(index: CatalogIndex, req: PlaylistRequest) -> None:
    """``ValueError`` naming every unknown track id and cluster id in the request."""
    ids = list(req.track_ids) + ([req.seed_track] if req.seed_track else []) + list(req.path or ())
    unknown = sorted({t for t in ids if not _known(index, t)})
    known = set(np.unique(index.labels).tolist())
    bad = sorted(set(req.clusters) - known)
    problems = []
    if unknown:
        more = " ..." if len(unknown) > 10 else ""
        problems.append(f"{len(unknown)} track id(s) are not in the catalog: "
                        + ", ".join(map(repr, unknown[:10])) + more)
    if bad:
        problems.append(f"cluster id(s) {bad} do not exist; valid ids are {sorted(known)} "
                        "(-1 = unclustered)")
    if problems:
        raise ValueError(f"playlist request on the cache at {index.cache_dir}: "
                         + "; ".join(problems) + ".")


def _known(index: CatalogIndex, track_id: str) -> bool:
    try:
        index.row(track_id)
        return True
    except KeyError:
        return False


def _sources(index: CatalogIndex, req: PlaylistRequest, wanted: int, rng: np.random.Generator,
             seed_pool: int = SEED_POOL_MIN) -> tuple[list[Any], np.ndarray, Callable[[np.ndarray], np.ndarray] | None]:
    """Candidate queues per source, a relevance score per catalog row (-inf = not a
    candidate), and for a path the function mapping rows to their position 0..1 on it."""
    n, emb = len(index.tracks), index.embedding
    score = np.full(n, -np.inf)
    queues: list[Any] = []
    if req.track_ids:
        rows = np.array([index.row(t) for t in dict.fromkeys(req.track_ids)])
        score[rows] = 1.0
        queues.append(po.Queue(rows[rng.permutation(len(rows))]))
    if req.seed_track:
        i = index.row(req.seed_track)
        idx, sim = knn(emb[i:i + 1], emb, min(n, seed_pool))
        idx, sim = idx[0][idx[0] != i], sim[0][idx[0] != i]
        score[idx] = np.maximum(score[idx], sim)
        score[i] = 1.0
        queues.append(po.Queue(np.concatenate([[i], idx[po.gumbel_order(sim, SEED_TAU, rng)]])))
    path_t = None
    if req.path:
        n_sources = len(req.clusters) + sum(map(bool, (req.track_ids, req.seed_track, req.path)))
        queue, path_t = po.path_walk(emb, index.row(req.path[0]), index.row(req.path[1]),
                                     math.ceil(wanted / n_sources), score,
                                     feats=_ramp_features(index.tracks),
                                     blocked=_path_blocked(index, req.path))
        queues.append(queue)
    prob = np.nan_to_num(index.tracks["cluster_probability"].to_numpy(dtype=float), nan=0.0)
    for c in dict.fromkeys(req.clusters):
        rows = np.flatnonzero(index.labels == c)
        score[rows] = np.maximum(score[rows], prob[rows])
        queues.append(po.Queue(rows[po.gumbel_order(prob[rows], CLUSTER_TAU, rng)]))
    return queues, score, path_t


def _path_blocked(index: CatalogIndex, ends: tuple[str, str]) -> np.ndarray:
    """(n,) rows a path never puts between its ends: other releases of A's and B's songs,
    and tracks by A's or B's artist (the artist-gap rule would otherwise drop B itself when
    another track by B's artist lands just before it)."""
    t = index.tracks
    rows = [index.row(x) for x in ends]
    groups = t["song_group"].to_numpy()
    artist = t["artist"].astype(str).str.strip().str.casefold().to_numpy()
    return np.isin(groups, groups[rows]) | np.isin(artist, artist[rows])


def _ramp_features(tracks: pd.DataFrame) -> np.ndarray:
    """(n, k) ``RAMP_FEATURES`` in catalog standard deviations times their weights (NaN
    where unknown)."""
    cols = [c for c in RAMP_FEATURES if c in tracks.columns]
    x = tracks[cols].to_numpy(dtype=float, na_value=np.nan)
    sd = np.nanstd(x, axis=0)
    w = np.array([RAMP_FEATURES[c] for c in cols])
    return (x - np.nanmean(x, axis=0)) / np.where(sd > 0, sd, 1.0) * w


# --- filters and rules -----------------------------------------------------------------

def _filters(tracks: pd.DataFrame, pool: np.ndarray, req: PlaylistRequest
             ) -> tuple[np.ndarray, dict[str, int]]:
    """Catalog-wide mask of rows passing every filter, and per-filter removal counts
    over the candidate pool (applied in order; a row counts under the first it fails)."""
    ok = np.ones(len(tracks), dtype=bool)
    removed: dict[str, int] = {}
    checks: list[tuple[str, np.ndarray]] = []
    for name, col in FILTERS:
        rng_ = getattr(req, name)
        if rng_ is not None:
            v = tracks[col].to_numpy(dtype=float, na_value=np.nan)
            checks.append((name, (v >= rng_[0]) & (v <= rng_[1])))
    if req.exclude_explicit:
        checks.append(("explicit", ~tracks["explicit"].fillna(False).to_numpy(dtype=bool)))
    if req.target_minutes is not None:
        checks.append(("duration_unknown", tracks["duration_ms"].notna().to_numpy()))
    in_pool = np.zeros(len(tracks), dtype=bool)
    in_pool[pool] = True
    for name, passed in checks:
        removed[name] = int((in_pool & ok & ~passed).sum())
        ok &= passed
    return ok, removed


# --- ordering and result ---------------------------------------------------------------

def _order(index: CatalogIndex, req: PlaylistRequest, keys: po.TrackKeys, chosen: np.ndarray,
           path_t: Callable[[np.ndarray], np.ndarray] | None) -> tuple[list[int], list[int]]:
    """Order the chosen rows; returns (ordered rows, rows dropped by the artist gap)."""
    if len(chosen) == 0:
        return [], []
    col = {"tempo": "tempo", "energy_arc": "energy"}.get(req.ordering)
    values = index.tracks[col].to_numpy(dtype=float, na_value=np.nan)[chosen] if col else None
    start = None
    if req.seed_track and (chosen == index.row(req.seed_track)).any():
        start = int(np.flatnonzero(chosen == index.row(req.seed_track))[0])
    placed, dropped = po.order_tracks(
        req.ordering, index.embedding[chosen], keys.artist[chosen], req.min_artist_gap,
        values=values, start=start, path_t=None if path_t is None else path_t(chosen))
    return chosen[placed].tolist(), chosen[dropped].tolist()


def _result(index: CatalogIndex, req: PlaylistRequest, rows: np.ndarray, n_candidates: int,
            removed: dict[str, int], seconds: float) -> PlaylistResult:
    out = index.tracks.iloc[rows].reindex(columns=OUTPUT_COLUMNS).reset_index(drop=True)
    emb = index.embedding[rows]
    out.insert(0, "position", np.arange(1, len(rows) + 1))
    out["transition_similarity"] = po.transition_similarities(emb)
    smooth = po.smoothness(emb)
    minutes = float(np.nansum(out["duration_ms"].to_numpy(dtype=float, na_value=np.nan))) / 60_000
    requested = (f"{req.target_minutes:g} minutes" if req.target_minutes is not None
                 else f"{req.length} tracks")
    report = {"candidates": n_candidates, "removed_by": {k: v for k, v in removed.items()},
              "requested": requested, "delivered": len(rows),
              "delivered_minutes": round(minutes, 2),
              "smoothness": None if math.isnan(smooth) else round(smooth, 4),
              "seconds": round(seconds, 3), "notes": _notes(req, len(rows), minutes,
                                                            n_candidates, removed)}
    log.info("playlist: %d tracks from %d candidates in %.2fs (smoothness %s)", len(rows),
             n_candidates, seconds, report["smoothness"])
    return PlaylistResult(tracks=out, smoothness=smooth, report=report,
                          recipe=make_recipe(index, req, out["track_id"].tolist()), request=req)


def _short(req: PlaylistRequest, delivered: int, minutes: float) -> bool:
    if req.target_minutes is not None:
        return minutes < req.target_minutes - po.DURATION_SLACK_MS / 60_000
    return delivered < req.length


RULE_ADVICE = {"max_per_artist": "raise Max per artist",
               "min_artist_gap": "lower Min artist gap",
               "same_song": None, "duplicate_id": None,
               "duration_unknown": None, "curve_feature_unknown": None}


def _notes(req: PlaylistRequest, delivered: int, minutes: float, candidates: int,
           removed: dict[str, int]) -> list[str]:
    """Why a playlist is short, and only the advice that would help: widen a filter only
    if that filter removed candidates, relax a rule only if it did; else add sources."""
    if not _short(req, delivered, minutes):
        return []
    want = (f"{req.target_minutes:g} minutes" if req.target_minutes is not None
            else f"{req.length} tracks")
    got = f"{delivered} tracks ({minutes:.1f} min)"
    if candidates == 0:
        return [f"Only {got} of {want}: the sources gave no candidates."]
    hit = {k: v for k, v in sorted(removed.items(), key=lambda kv: -kv[1]) if v}
    why = ", ".join(f"{v} by {k.replace('_', ' ')}" for k, v in hit.items())
    advice = [f"widen the {k.replace('_range', '').replace('_', ' ')} filter"
              for k, _ in FILTERS if hit.get(k)]
    advice += ["allow explicit tracks"] if hit.get("explicit") else []
    advice += [RULE_ADVICE[k] for k in hit if RULE_ADVICE.get(k)]
    if req.target_minutes is not None:
        advice.append("add sources (no candidate left fits the remaining minutes)")
    else:
        advice.append("add sources")
    return [f"Only {got} of {want} from {candidates:,} candidates"
            + (f"; removed: {why}" if why else "; nothing was filtered out")
            + ". To get more: " + "; ".join(dict.fromkeys(advice)) + "."]


# --- recipes ---------------------------------------------------------------------------

def cache_version(index: CatalogIndex) -> dict:
    """What identifies the cache a playlist was made from: the catalog md5s, the pipeline
    version and the keys of the stages a playlist reads (``PLAYLIST_STAGES``), so a rebuild
    of an unrelated stage (a ranker, say) does not flag a recipe as stale."""
    man = index.manifest or {}
    stages = man.get("stages", {})
    return {"catalog_md5": [f.get("md5") for f in man.get("catalog", [])],
            "pipeline_version": man.get("pipeline_version"),
            "stage_keys": {k: stages[k].get("key") for k in PLAYLIST_STAGES if k in stages}}


def make_recipe(index: CatalogIndex, req: PlaylistRequest, track_ids: list[str]) -> dict:
    """The JSON-serialisable recipe: request, cache version and the resulting track ids."""
    return {"recipe_version": RECIPE_VERSION, "request": req.model_dump(mode="json"),
            "cache": cache_version(index), "track_ids": list(track_ids)}


def request_from_recipe(recipe: dict) -> PlaylistRequest:
    """Rebuild the request a recipe was made from; ``ValueError`` says what is wrong."""
    if not isinstance(recipe, dict) or "request" not in recipe:
        raise ValueError("playlist recipe: expected a JSON object with a 'request' key "
                         f"(as written by to_recipe_json). Got {type(recipe).__name__} "
                         f"with keys {sorted(recipe) if isinstance(recipe, dict) else []}.")
    version = recipe.get("recipe_version")
    if version != RECIPE_VERSION:
        raise ValueError(f"playlist recipe: recipe_version {version!r} is not supported; "
                         f"this pipeline reads version {RECIPE_VERSION}.")
    return PlaylistRequest.model_validate(recipe["request"])


def recipe_mismatch(recipe: dict, index: CatalogIndex) -> list[str]:
    """How the recipe's cache differs from ``index`` (empty: same cache, same playlist)."""
    mine, theirs = cache_version(index), recipe.get("cache", {})
    return [f"{k}: recipe has {theirs.get(k)!r}, cache at {index.cache_dir} has {mine[k]!r}"
            for k in mine if theirs.get(k) != mine[k]]
