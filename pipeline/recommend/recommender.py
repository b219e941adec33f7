"""Serving: per-track recommendations from a built cache, keyed by ``track_id``.

``Recommender.load(cache)`` reads artifacts only (no training): the embedding, the
co-occurrence of the catalog's playlists, the LightGBM rankers (text format), the genre
predictions and the feedback store. Modes:

- ``hybrid``: embedding neighbours + co-occurring tracks + same artist/album, ranked by
  the LambdaRank model.
- ``content``: the seed treated as a new track (audio, year, popularity only).
- ``by_genre``: candidates restricted to the seed's genre (known, else predicted),
  ranked by the content ranker.

Every list (each mode, each comparison method) holds one release per song: ingest marks
releases of one song (``song_group``); the best-ranked release stays, the others and the
seed's own other releases go. Votes (per profile) apply to the serving modes only; the
comparison methods stay pure, so they can be compared.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from pipeline import store as io
from pipeline.api import load as load_index
from pipeline.config import PipelineConfig, RankerConfig
from pipeline.errors import CacheError

from .cooccurrence import lookup
from .explain import (
    STEER_RANGES,
    feature_gaps,
    feedback_shift,
    standardise,
    steer_penalty,
    steering_words,
    validate_steer,
    why_text,
)
from .feedback import FeedbackStore, default_url
from .rank_features import RowGroups, feature_columns, pair_matrix
from .ranker import score_pairs
from .search import TrackSearch
from .serving import SIGNAL_FILES, load_signals

log = logging.getLogger(__name__)
MODES = ("hybrid", "content", "by_genre")
COMPARE_METHODS = ("hybrid", "content", "by_genre", "embedding_knn", "cosine_raw",
                   "cooccurrence", "popularity")
COLUMNS = ["rank", "track_id", "track_name", "artist", "year", "genre", "score",
           "content_similarity", "shared_playlists", "same_artist", "same_album",
           "close_features", "apart_features", "feedback", "feedback_shift", "unsteered_rank",
           "why", "spotify_url"]
SEARCH_COLUMNS = ["track_id", "track_name", "artist", "year", "score"]
COMPARE_POOL = 300   # candidates of the comparison baselines


def _build_config(cache: Path, manifest: dict) -> PipelineConfig:
    """The config the cache was built with (its manifest), or a CacheError to rebuild."""
    from pydantic import ValidationError

    try:
        return PipelineConfig.model_validate(manifest.get("config", {}))
    except ValidationError as err:
        raise CacheError(f"{cache}/manifest.json: its config does not match this version "
                         f"({err.error_count()} problems, first: {err.errors()[0]['msg']}); "
                         f"rebuild with `python -m pipeline build --cache {cache}`.") from None


def _booster(path: Path, trained: bool, n_features: int, cache_dir: Path):
    """The ranker in ``path``, or a CacheError when it was trained on other columns than
    this version computes (a cache built by an older ranker: rebuild, do not mis-score)."""
    if not trained:
        return None
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(path))
    if booster.num_feature() != n_features:
        raise CacheError(f"{path}: this ranker was trained on {booster.num_feature()} features, "
                         f"this version computes {n_features} (the cache was built by an "
                         f"older version); rebuild with `python -m pipeline build --cache "
                         f"{cache_dir}` (unchanged stages are reused).")
    return booster


class Recommender:
    """Recommendations, search, side-by-side comparison and feedback over one cache."""

    def __init__(self, index, signals, hybrid, content, genres: pd.DataFrame,
                 cfg: RankerConfig, store: FeedbackStore, report: dict):
        self.index, self.sig, self.hybrid, self.content = index, signals, hybrid, content
        self.tracks = index.tracks
        self.genre = genres["genre_filled"].astype(object).to_numpy()
        codes, _ = pd.factorize(genres["genre_filled"])       # -1: no genre
        self._genre_code = codes.astype(np.int64)
        self._by_genre_rows = RowGroups.of(self._genre_code + 1)  # group 0: no genre
        self._genre_emb = signals.emb[self._by_genre_rows.order]  # contiguous per genre
        self._popular = np.argsort(-signals.popularity, kind="stable")[:COMPARE_POOL + 1]
        self.cfg, self.store, self.report = cfg, store, report
        self._spread = {k: float(np.nanstd(self.tracks[k].to_numpy(float))) or 1.0
                        for k in STEER_RANGES if k in self.tracks}
        self._search: TrackSearch | None = None
        self._song = (self.tracks["song_group"].to_numpy(np.int64) if "song_group" in self.tracks
                      else np.arange(len(self.tracks), dtype=np.int64))   # caches before groups
        self._columns = {c: self.tracks[c].to_numpy() for c in
                         ("track_id", "track_name", "artist", "year", "spotify_url")}

    @classmethod
    def load(cls, cache_dir: str | Path, feedback_url: str | None = None,
             index: object | None = None) -> Recommender:
        """Load a built cache (``python -m pipeline build``); nothing is trained or
        recomputed here: the serving signals and the neighbour index are artifacts.

        Args:
            index: a ``pipeline.load`` of the same build to share (the dashboard holds
                one already: a second copy is 1.5 GB at 1M tracks); ignored when it
                belongs to another build generation.
        """
        from pipeline.generations import resolve

        cache = resolve(Path(cache_dir))  # one build generation for every file
        need = ["ranker.txt", "ranker_content.txt", "ranker_report.json", *SIGNAL_FILES,
                "neighbors_index.npy", "genre_pred.parquet"]
        missing = [f for f in need if not (cache / f).exists()]
        if missing:
            raise CacheError(f"{cache}: the recommender needs {', '.join(missing)}; rebuild "
                             f"with `python -m pipeline build --cache {cache}`.")
        t0 = time.perf_counter()
        if index is None or Path(getattr(index, "cache_dir", "")) != cache:
            index = load_index(cache)
        report = io.read_json(cache / "ranker_report.json")
        pcfg = _build_config(cache, index.manifest)
        sig = load_signals(cache, index.tracks, index.memberships, index.embedding,
                           pcfg.neighbors)
        trained = bool(report.get("trained"))
        # Votes live beside the build generations (cache_dir), so that a rebuild keeps them.
        store = FeedbackStore(feedback_url or default_url(cache_dir))
        width = {c: len(feature_columns(sig.feature_names, c)) for c in (False, True)}
        rec = cls(index, sig, _booster(cache / "ranker.txt", trained, width[False], cache_dir),
                  _booster(cache / "ranker_content.txt", trained, width[True], cache_dir),
                  io.read_parquet(cache / "genre_pred.parquet"), pcfg.ranker,
                  store, report)
        score_pairs(rec.hybrid, sig, np.array([0]), pcfg.ranker, False)  # warm-up
        log.info("recommender: %d tracks loaded in %.1f s", sig.n, time.perf_counter() - t0)
        return rec

    # ----------------------------------------------------------------- search
    def search(self, query: str, limit: int = 10) -> pd.DataFrame:
        """Fuzzy lookup by "name", "name, artist", "artist" or an exact track id.

        Returns:
            DataFrame (<= limit rows) with columns track_id, track_name, artist, year,
            score (0-100, best first).
        """
        q = str(query).strip()
        if not q:
            raise ValueError("search: the query is empty; give a track name, artist or id.")
        t = self.tracks
        if q in self.index._row:
            hits = [(self.index.row(q), 100.0)]
        else:
            hits = self._fuzzy(q, limit)
        rows = [h[0] for h in hits]
        out = t.iloc[rows][["track_id", "track_name", "artist", "year"]].copy()
        out["year"] = out["year"].astype("Int64")
        out["score"] = [round(h[1], 1) for h in hits]
        return out.reset_index(drop=True)[SEARCH_COLUMNS]

    def _fuzzy(self, q: str, limit: int) -> list[tuple[int, float]]:
        """(row, score) of the best fuzzy matches (see :class:`TrackSearch`)."""
        if self._search is None:
            t = self.tracks
            self._search = TrackSearch(t["track_name"], t["artist"], t["popularity"].to_numpy())
        return self._search.top(q, limit)

    # -------------------------------------------------------------- recommend
    def recommend(self, track_id: str, k: int = 10, mode: str = "hybrid",
                  steer: dict[str, Any] | None = None, exclude: Iterable[str] = (),
                  user: str | None = None, votes: dict[str, int] | None = None) -> pd.DataFrame:
        """The k best tracks for a seed, one release per song, with scores and explanations.

        Args:
            track_id: the seed's catalog id.
            mode: "hybrid", "content" or "by_genre".
            steer: targets, e.g. {"energy": 0.8, "tempo": 120, "year_range": (2010, 2019)}.
            exclude: track ids never to return.
            user: whose votes apply (default: the shared "everyone" profile).
            votes: track_id -> +1/-1 to apply instead of reading ``user``'s from the store.
        Returns:
            DataFrame (k rows, fewer if the pool is smaller) with columns ``COLUMNS``, then
            one column per steered feature (its value for each row).
        """
        if mode not in MODES:
            raise ValueError(f"The 'mode' parameter of recommend must be one of "
                             f"{', '.join(MODES)}. Got {mode!r} instead.")
        if votes is None:
            votes = self.store.for_seed(track_id, user)
        return self._recommend(track_id, k, mode, steer, exclude, votes)

    def _recommend(self, track_id: str, k: int, mode: str, steer, exclude,
                   votes: dict[str, int]) -> pd.DataFrame:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"The 'k' parameter of recommend must be a positive int. "
                             f"Got {k!r} instead.")
        seed = self.index.row(track_id)
        steer = validate_steer(steer)
        cand, score = self._candidates(seed, mode)
        voted = {self.index._row[t]: int(v) for t, v in votes.items()
                 if v in (1, -1) and t in self.index._row and t != track_id}
        cand, base = self._with_liked(cand, standardise(score), voted)
        rows, vals = np.array(list(voted), np.int64), np.array(list(voted.values()), np.int64)
        shift, main = feedback_shift(self.sig.emb, cand, rows, vals)
        drop = set(exclude) | {t for t, v in votes.items() if v < 0}
        keep = ~np.isin(self._columns["track_id"][cand], list(drop))
        cand, base, shift, main = cand[keep], base[keep], shift[keep], main[keep]
        z = base + shift - steer_penalty(self.tracks, cand, steer, self._spread)
        top = self._ranked(seed, cand, z)[:k]
        unsteered = np.arange(1, len(top) + 1)
        if steer:   # where each shown song stood without steering
            order = self._ranked(seed, cand, base + shift)
            place = dict(zip(self._song[cand[order]], range(1, len(order) + 1)))
            unsteered = np.array([place[g] for g in self._song[cand[top]]])
        moved_by = [None if j < 0 else (self._columns["track_name"][rows[j]], int(vals[j]))
                    for j in main[top]]
        vote = np.array([max(voted.get(int(r), 0), 0) for r in cand[top]], np.int8)
        return self._frame(seed, cand[top], z[top], {
            "feedback": vote, "feedback_shift": shift[top], "moved_by": moved_by,
            "unsteered_rank": unsteered}, steer)

    def _ranked(self, seed: int, cand: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Positions in ``cand``, best first (ties by row), one per song: a song's
        best-scored release stays; the seed's own song is left out."""
        order = np.lexsort((cand, -z))
        song = self._song[cand[order]]
        order, song = order[song != self._song[seed]], song[song != self._song[seed]]
        _, first = np.unique(song, return_index=True)
        return order[np.sort(first)]

    def _candidates(self, seed: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """(candidate rows, raw scores) of one seed in one mode or comparison method.

        Every pool is bounded: the ranker's candidates, the seed's genre, the index's
        neighbours, the seed's co-occurring tracks; only ``cosine_raw`` scans the audio
        features of the whole catalog (a comparison baseline, not a serving mode).
        """
        s = np.array([seed])
        if mode in ("hybrid", "content"):
            model = self.hybrid if mode == "hybrid" else self.content
            _, cand, score, _ = score_pairs(model, self.sig, s, self.cfg, mode == "content")
            return cand, score
        if mode == "by_genre":
            return self._by_genre(seed)
        if mode == "embedding_knn":
            idx, sim = self.sig.index.search(self.sig.emb[s], COMPARE_POOL + 1)
            keep = (idx[0] != seed) & (idx[0] >= 0)
            return idx[0][keep].astype(np.int64), sim[0][keep].astype(float)
        if mode == "cooccurrence":
            c = self.sig.cooc.counts(s)
            rows, shared = c.indices[c.indices != seed], c.data[c.indices != seed]
            pop = self._popular[~np.isin(self._popular, np.append(rows, seed))]
            cand = np.concatenate([rows, pop[:COMPARE_POOL]]).astype(np.int64)
            shared = np.concatenate([shared, np.zeros(len(cand) - len(rows))])
            score = shared * 1000.0 + self.sig.popularity[cand]
            top = np.argpartition(-score, min(COMPARE_POOL, len(score)) - 1)[:COMPARE_POOL]
            return cand[top], score[top]
        if mode == "popularity":
            cand = self._popular[self._popular != seed][:COMPARE_POOL]
            return cand, self.sig.popularity[cand].astype(float)
        if mode == "cosine_raw":
            x = self._audio()
            sims = (x @ x[seed]) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(x[seed]),
                                              1e-9)
            sims[seed] = -np.inf
            cand = np.argpartition(-sims, min(COMPARE_POOL, len(sims) - 1))[:COMPARE_POOL]
            return cand[np.isfinite(sims[cand])], sims[cand][np.isfinite(sims[cand])]
        raise ValueError(f"compare: unknown method {mode!r}; use one of "
                         f"{', '.join(COMPARE_METHODS)}.")

    def _audio(self) -> np.ndarray:
        keep = [i for i, n in enumerate(self.sig.feature_names) if n not in ("year", "popularity")]
        return self.sig.x[:, keep]

    def _by_genre(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Candidates of the seed's genre (known or predicted), content-ranked.

        The genre's rows are one contiguous block of a genre-sorted copy of the
        embedding, so the scan costs the genre's size, with no gather."""
        code = self._genre_code[seed]
        groups = self._by_genre_rows
        if code >= 0:
            lo, hi = groups.start[code + 1], groups.start[code + 2]
            pool, emb = groups.order[lo:hi], self._genre_emb[lo:hi]
        else:
            pool, emb = np.arange(self.sig.n), self.sig.emb
        # einsum, not BLAS: a single-threaded pass (OpenBLAS threads spin on a busy machine)
        sims = np.einsum("ij,j->i", emb, self.sig.emb[seed])
        sims[pool == seed] = -np.inf
        n_top = min(2 * self.cfg.n_emb, len(pool) - 1)
        if n_top < 1:
            return np.zeros(0, np.int64), np.zeros(0)
        top = np.argpartition(-sims, n_top - 1)[:n_top]
        top = top[np.lexsort((top, -sims[top]))]            # best first, ties by position
        cand = pool[top]
        cand = cand[cand != seed]
        if self.content is None:
            return cand, self.sig.emb[cand] @ self.sig.emb[seed]
        feats = pair_matrix(self.sig, np.array([seed]), np.zeros(len(cand), np.int64), cand, True)
        return cand, self.content.predict(feats, num_threads=1)

    def _with_liked(self, cand: np.ndarray, z: np.ndarray,
                    voted: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Liked tracks the method did not propose join the pool at its median score (0),
        so a like always has a place to act from; their lift comes from the votes."""
        extra = np.array([r for r, v in voted.items() if v > 0 and r not in set(cand)], np.int64)
        if not len(extra):
            return cand, z
        return np.concatenate([cand, extra]), np.concatenate([z, np.zeros(len(extra))])

    def _frame(self, seed: int, rows: np.ndarray, score: np.ndarray, fb: dict,
               steer: dict[str, Any]) -> pd.DataFrame:
        """The output table; built from plain arrays (pandas indexing per column costs
        more than the ranking itself).

        Args:
            fb: per row "feedback" (its own vote), "feedback_shift", "moved_by" (name and
                vote of the track that moved it, or None) and "unsteered_rank".
        """
        sig, col = self.sig, self._columns
        close, apart = feature_gaps(sig.x, sig.feature_names, seed, rows)
        shared = lookup(sig.cooc.counts(np.array([seed])), np.zeros(len(rows), np.int64), rows)
        out = {"rank": np.arange(1, len(rows) + 1),
               **{c: col[c][rows] for c in ("track_id", "track_name", "artist")},
               "year": pd.array(col["year"][rows], dtype="Int64"),
               "genre": self.genre[rows], "score": np.round(score, 4),
               "content_similarity": np.round((sig.emb[rows] @ sig.emb[seed]).astype(float), 4),
               "shared_playlists": shared.astype(int),
               "same_artist": sig.cooc.artist_code[rows] == sig.cooc.artist_code[seed],
               "same_album": sig.album_code[rows] == sig.album_code[seed],
               "close_features": close, "apart_features": apart,
               "feedback": fb["feedback"].astype(int),
               "feedback_shift": np.round(fb["feedback_shift"], 4) + 0.0,   # no -0.0
               "unsteered_rank": np.asarray(fb["unsteered_rank"], int),
               "spotify_url": col["spotify_url"][rows]}
        steered = {k: self.tracks[k].to_numpy()[rows] for k in steer if k != "year_range"}
        keys = ["same_artist", "same_album", "shared_playlists", "content_similarity",
                "close_features", "apart_features", "feedback", "feedback_shift"]
        out["why"] = []
        for i in range(len(rows)):
            row = {k: out[k][i] for k in keys}
            row["moved_by"] = fb["moved_by"][i]
            if steer:
                values = {"year": out["year"][i], **{k: v[i] for k, v in steered.items()}}
                row["steering"] = steering_words(values, steer, i + 1,
                                                 int(out["unsteered_rank"][i]))
            out["why"].append(why_text(row))
        return pd.DataFrame({**out, **steered}, columns=[*COLUMNS, *steered])

    # ---------------------------------------------------------------- compare
    def compare(self, track_id: str, k: int = 10,
                methods: Iterable[str] = ("hybrid", "content", "by_genre", "embedding_knn",
                                          "cosine_raw")) -> dict[str, pd.DataFrame]:
        """The same seed under several methods: method name -> DataFrame like recommend().

        Each method as it is: no votes and no steering, so the baselines stay baselines
        (one release per song, as everywhere).
        """
        unknown = [m for m in methods if m not in COMPARE_METHODS]
        if unknown:
            raise ValueError(f"compare: unknown method(s) {unknown}; use any of "
                             f"{', '.join(COMPARE_METHODS)}.")
        return {m: self._recommend(track_id, k, m, None, (), {}) for m in methods}

    # --------------------------------------------------------------- feedback
    def feedback(self, seed_id: str, track_id: str, value: int, user: str | None = None) -> None:
        """Record a profile's +1 / -1 for a recommended track, or 0 to undo its vote;
        applied at once to that profile's ranking for this seed."""
        for name, tid in (("seed_id", seed_id), ("track_id", track_id)):
            if tid not in self.index._row:
                raise KeyError(f"feedback: {name} {tid!r} is not in the catalog at "
                               f"{self.index.cache_dir}")
        self.store.add(seed_id, track_id, int(value), user)

    def votes(self, seed_id: str, user: str | None = None) -> dict[str, int]:
        """track_id -> standing vote (+1/-1) of ``user`` for this seed."""
        return self.store.for_seed(seed_id, user)
