"""Candidates and (seed, candidate) features for the hybrid ranker.

:class:`Signals` holds everything a recommender may know: catalog attributes (audio
features, artist, album, year, popularity), an embedding and the co-occurrence of tracks
in *training* playlists. Playlist labels (genre, subgenre) enter only through the
memberships passed to :func:`build_signals`, so held-out playlists stay invisible.

Two feature sets: ``hybrid`` uses the seed's playlist and artist history; ``content``
treats the seed as a new track (cold start) and uses only its audio features, year and
popularity (the candidate's own catalog statistics are still allowed).

Artist profiles (ranker v3): the mean embedding, audio features and year of each artist's
catalog tracks (content only, no playlist enters them), compared between the seed's and the
candidate's artists. Playlists are drawn artist by artist, so two artists' typical sound
says more about a shared playlist than two single tracks do (hybrid P@10 0.225 -> 0.242,
docs/EVALUATION.md).

No feature describes the *candidate's* own playlists (its playlist count, its genre from
playlists): under a held-out-playlist protocol a track with no known playlist is by
construction in a held-out one, so such a feature tells the ranker which tracks are hits
(measured: the candidate's playlist count became the top feature and inflated P@10).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import NeighborConfig
from pipeline.map import NeighborIndex, knn

from .cooccurrence import Cooccurrence, lookup
from .labels import label_signals

CONTENT_FEATURES = ["emb_cos", "raw_cos", "year_gap", "pop_c", "pop_s", "pop_diff",
                    "cluster_same", "artist_size_c", "genre_match", "subgenre_match",
                    "artist_genre_match", "artist_subgenre_match"]
HISTORY_FEATURES = ["cooc", "cooc_norm", "artist_cooc", "artist_pair_cooc", "same_artist",
                    "same_album", "deg_s"]
# The seed's artist is artist history, so these are hybrid-only (cold start: a new track).
ARTIST_FEATURES = ["artist_emb_cos", "seed_cartist_cos", "sartist_cand_cos", "artist_raw_cos",
                   "artist_year_gap"]
ARTIST_NEIGHBOURS = 20      # co-occurring artists whose tracks become candidates
TRACKS_PER_ARTIST = 10
GRAPH_K = 50                # graph neighbours searched for the neighbour label estimate
FEW_SEEDS = 16              # up to this many seeds, exact neighbours in one numpy pass


@dataclass
class Signals:
    """What a recommender knows; row ``i`` of each array is track row ``i``.

    Attributes:
        x: (n, n_features) scaled audio features (+ year, popularity).
        feature_names: (n_features,) names of the columns of ``x``.
        emb: (n, dim) unit embedding.
        cooc: co-occurrence in the known playlists.
        genre_vec / subgenre_vec: (n, n_labels) share of a track's known playlists per label;
            all-zero rows for tracks without known playlists.
        genre_nn / subgenre_nn: (n, n_labels) the same, averaged over a track's nearest
            labelled neighbours in the embedding, *never itself*: a content-based label
            estimate computed alike for every track, so it does not reveal whether the
            track's own playlists are known.
        artist_genre / artist_subgenre: (n, n_labels) label shares of the known playlists
            of the *other* tracks by the track's artist (artist history, never the track's
            own playlists, for the same reason).
        cluster: (n,) KMeans cluster of the embedding.
        album_code, year, popularity, artist_size: (n,) catalog attributes.
        artist_rows / album_rows: code -> track rows, for same-artist/album candidates.
        artist_emb: (n_artists, dim) unit mean embedding of each artist's catalog tracks.
        artist_x: (n_artists, n_features) mean of ``x`` over each artist's tracks.
        artist_year: (n_artists,) mean year of each artist's tracks.
        index: neighbour search over ``emb`` (exact, or HNSW for large catalogs).
    """

    x: np.ndarray
    feature_names: list[str]
    emb: np.ndarray
    cooc: Cooccurrence
    genre_vec: np.ndarray
    subgenre_vec: np.ndarray
    genre_nn: np.ndarray
    subgenre_nn: np.ndarray
    artist_genre: np.ndarray
    artist_subgenre: np.ndarray
    cluster: np.ndarray
    album_code: np.ndarray
    year: np.ndarray
    popularity: np.ndarray
    artist_size: np.ndarray
    artist_rows: RowGroups
    album_rows: RowGroups
    artist_emb: np.ndarray
    artist_x: np.ndarray
    artist_year: np.ndarray
    index: NeighborIndex

    @property
    def n(self) -> int:
        return len(self.x)


def kmeans_labels(emb: np.ndarray, n_clusters: int, seed: int,
                  fit_sample: int = 100_000) -> np.ndarray:
    """KMeans cluster of each row of ``emb`` (n, d) -> (n,) int32.

    Fitted on at most ``fit_sample`` rows (a seeded sample; all rows when n is smaller),
    then every row is assigned to its nearest centre.
    """
    from sklearn.cluster import MiniBatchKMeans

    k = max(1, min(n_clusters, len(emb) // 5))
    km = MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=4096)
    if len(emb) <= fit_sample:
        return km.fit_predict(emb).astype(np.int32)
    rows = np.sort(np.random.default_rng(seed).choice(len(emb), fit_sample, replace=False))
    km.fit(emb[rows])
    return np.concatenate([km.predict(emb[i:i + 262_144])
                           for i in range(0, len(emb), 262_144)]).astype(np.int32)


@dataclass
class RowGroups:
    """Track rows grouped by a dense integer code (artist, album), without a dict of
    arrays: the rows of code ``c`` are ``order[start[c]:start[c + 1]]``, in row order.

    Attributes:
        order: (n,) track rows sorted by code (stable).
        start: (n_codes + 1,) offsets into ``order``.
    """

    order: np.ndarray
    start: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray) -> RowGroups:
        """Group the rows of ``codes`` (n,) non-negative ints."""
        counts = np.bincount(codes) if len(codes) else np.zeros(0, np.int64)
        return cls(np.argsort(codes, kind="stable"),
                   np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def __getitem__(self, code: int) -> np.ndarray:
        return self.order[self.start[code]:self.start[code + 1]]


def build_signals(tracks: pd.DataFrame, x: np.ndarray, feature_names: list[str],
                  memberships: pd.DataFrame, emb: np.ndarray, cluster: np.ndarray,
                  labels: dict[str, np.ndarray] | None = None,
                  index: NeighborIndex | None = None,
                  index_cfg: NeighborConfig | None = None) -> Signals:
    """Assemble :class:`Signals` from known memberships only.

    Args:
        tracks: catalog table, n rows; x: (n, n_features); emb: (n, dim); cluster: (n,).
        memberships: the playlists a recommender may learn from (training playlists).
        labels: the label blocks of :func:`label_signals`, when precomputed (a built
            cache's ``rank_labels.npy``); computed here otherwise.
        index: the neighbour index over ``emb`` for candidate search; built here with
            ``index_cfg`` (exact up to ``exact_max`` tracks, HNSW above) otherwise.
    """
    cooc = Cooccurrence.fit(tracks, memberships)
    if index is None:
        index = NeighborIndex.build(emb, index_cfg or NeighborConfig())
    if labels is None:
        graph = None if index.exact else index.graph(GRAPH_K)[0]
        labels = label_signals(tracks, memberships, emb, cooc.artist_code, graph)
    album = tracks["album_id"].astype("string").fillna(tracks["track_id"].astype("string"))
    album_code = pd.factorize(album)[0].astype(np.int64)
    year = tracks["year"].fillna(tracks["decade"] + 5).astype(float).to_numpy()
    year = np.where(np.isnan(year), np.nanmedian(year) if np.isfinite(year).any() else 2000, year)
    pop = tracks["popularity"].astype(float).fillna(0).to_numpy()
    artist_emb, artist_x, artist_year = artist_profiles(cooc.artist_code, emb, x, year)
    return Signals(
        x=np.asarray(x, np.float32), feature_names=list(feature_names),
        emb=np.asarray(emb, np.float32), cooc=cooc, **labels,
        cluster=cluster, album_code=album_code, year=year, popularity=pop,
        artist_size=np.bincount(cooc.artist_code)[cooc.artist_code].astype(np.float32),
        artist_rows=RowGroups.of(cooc.artist_code), album_rows=RowGroups.of(album_code),
        artist_emb=artist_emb, artist_x=artist_x, artist_year=artist_year, index=index)


def artist_profiles(artist: np.ndarray, emb: np.ndarray, x: np.ndarray, year: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per artist, from its catalog tracks only (no playlist): the unit mean embedding
    (n_artists, dim), the mean features (n_artists, n_features) and mean year (n_artists,),
    all float32. One sparse product each: linear in n, no per-track copy."""
    import scipy.sparse as sp

    n_art = int(artist.max()) + 1 if len(artist) else 0
    counts = np.bincount(artist, minlength=n_art).astype(np.float64)
    mean = sp.csr_matrix((1.0 / counts[artist], (artist, np.arange(len(artist)))),
                         shape=(n_art, len(artist)))
    e = np.asarray(mean @ np.asarray(emb, np.float64))
    e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)
    return (e.astype(np.float32), np.asarray(mean @ np.asarray(x, np.float64), np.float32),
            (mean @ np.asarray(year, np.float64)).astype(np.float32))


def embedding_neighbours(sig: Signals, seeds: np.ndarray, k: int) -> np.ndarray:
    """(m, k) rows nearest to each seed, best first (the seed itself usually first).

    HNSW catalogs search the index: never an n-wide scan. Exact catalogs run the blocked
    top-k over the embedding itself for batches (training, evaluation: the index's base
    is re-normalised, which would move near-ties by one ulp), and one single-threaded
    numpy pass for up to ``FEW_SEEDS`` seeds (serving: torch's threaded matmul and the
    per-call normalisation took ~6 ms of a 28k-track query on a busy machine).
    """
    if not sig.index.exact:
        return sig.index.search(sig.emb[seeds], k)[0]
    if len(seeds) > FEW_SEEDS:
        return knn(sig.emb[seeds], sig.emb, k)[0]
    sims = np.einsum("nd,md->mn", sig.emb, sig.emb[seeds])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


def candidates(sig: Signals, seeds: np.ndarray, n_emb: int, n_cooc: int, n_same: int,
               content_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pool per seed: embedding neighbours, co-occurring tracks, same artist/album.

    Args:
        seeds: (m,) seed rows.
    Returns:
        (group (n_pairs,) index into ``seeds``, cand (n_pairs,) track rows); the seed itself
        is never a candidate, and each candidate appears once per seed.
    """
    nn = embedding_neighbours(sig, seeds, min(n_emb + 1, sig.n))
    co = (sig.cooc.top(seeds, n_cooc) if not content_only and sig.cooc.has_playlists
          else [np.zeros(0, np.int64)] * len(seeds))
    arts = (sig.cooc.top_artists(seeds, ARTIST_NEIGHBOURS)
            if not content_only and sig.cooc.has_playlists and n_same
            else [np.zeros(0, np.int64)] * len(seeds))
    groups, cands = [], []
    for i, s in enumerate(seeds):
        parts = [nn[i].astype(np.int64), co[i]]
        if not content_only:
            parts += [sig.artist_rows[int(sig.cooc.artist_code[s])][:n_same],
                      sig.album_rows[int(sig.album_code[s])][:n_same],
                      *[sig.artist_rows[int(a)][:TRACKS_PER_ARTIST] for a in arts[i]]]
        c = np.concatenate(parts)
        c = c[c != s]
        _, first = np.unique(c, return_index=True)
        c = c[np.sort(first)]
        groups.append(np.full(len(c), i, np.int64))
        cands.append(c)
    return np.concatenate(groups), np.concatenate(cands)


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b).astype(np.float32)


def pair_features(sig: Signals, seeds: np.ndarray, group: np.ndarray, cand: np.ndarray,
                  content_only: bool) -> pd.DataFrame:
    """Features of each (seed, candidate) pair.

    Args:
        seeds: (m,) seed rows; group, cand: (n_pairs,) as returned by :func:`candidates`.
    Returns:
        DataFrame (n_pairs, n_feature_columns), columns :func:`feature_columns` order,
        float32.
    """
    return pd.DataFrame(pair_matrix(sig, seeds, group, cand, content_only),
                        columns=feature_columns(sig.feature_names, content_only))


def pair_matrix(sig: Signals, seeds: np.ndarray, group: np.ndarray, cand: np.ndarray,
                content_only: bool) -> np.ndarray:
    """:func:`pair_features` as one float32 matrix (n_pairs, n_feature_columns), columns
    in :func:`feature_columns` order (no DataFrame: training stacks many of these)."""
    s = seeds[group]
    xs, xc = sig.x[s], sig.x[cand]
    unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)  # noqa: E731
    f = {
        "emb_cos": _rowdot(sig.emb[s], sig.emb[cand]),
        "raw_cos": _rowdot(unit(xs), unit(xc)),
        "year_gap": np.abs(sig.year[s] - sig.year[cand]).astype(np.float32),
        "pop_c": sig.popularity[cand], "pop_s": sig.popularity[s],
        "pop_diff": sig.popularity[cand] - sig.popularity[s],
        "cluster_same": (sig.cluster[s] == sig.cluster[cand]).astype(np.float32),
        "artist_size_c": sig.artist_size[cand],
    }
    seed_g, seed_sg = _seed_labels(sig, s, content_only)
    f["genre_match"] = _rowdot(seed_g, sig.genre_nn[cand])
    f["subgenre_match"] = _rowdot(seed_sg, sig.subgenre_nn[cand])
    f["artist_genre_match"] = _rowdot(seed_g, sig.artist_genre[cand])
    f["artist_subgenre_match"] = _rowdot(seed_sg, sig.artist_subgenre[cand])
    for j, name in enumerate(sig.feature_names):
        f[f"d_{name}"] = np.abs(xs[:, j] - xc[:, j])
    if not content_only:
        f.update(_history_features(sig, seeds, group, cand))
    cols = feature_columns(sig.feature_names, content_only)
    out = np.empty((len(cand), len(cols)), np.float32)
    for j, c in enumerate(cols):
        out[:, j] = f[c]
    return out


def _seed_labels(sig: Signals, s: np.ndarray, content_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """The seed's genre and subgenre shares: its own known playlists when history is
    allowed and known, else its artist's other tracks', else the neighbour estimate.
    Each (n_pairs, n_labels)."""
    if content_only:
        return sig.genre_nn[s], sig.subgenre_nn[s]

    def pick(own: np.ndarray, artist: np.ndarray, nn: np.ndarray) -> np.ndarray:
        fallback = np.where(artist.sum(1, keepdims=True) > 0, artist, nn)
        return np.where(own.sum(1, keepdims=True) > 0, own, fallback)

    return (pick(sig.genre_vec[s], sig.artist_genre[s], sig.genre_nn[s]),
            pick(sig.subgenre_vec[s], sig.artist_subgenre[s], sig.subgenre_nn[s]))


def _history_features(sig: Signals, seeds: np.ndarray, group: np.ndarray,
                      cand: np.ndarray) -> dict[str, np.ndarray]:
    """Features that need the seed's known playlists, artist or album (the artist
    profiles: content of the two artists' catalog tracks)."""
    s = seeds[group]
    shared = lookup(sig.cooc.counts(seeds), group, cand)
    deg = sig.cooc.degree
    art = sig.cooc.artist_code
    a_s, a_c = art[s], art[cand]
    ax = sig.artist_x
    unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)  # noqa: E731
    return {
        "artist_emb_cos": _rowdot(sig.artist_emb[a_s], sig.artist_emb[a_c]),
        "seed_cartist_cos": _rowdot(sig.emb[s], sig.artist_emb[a_c]),
        "sartist_cand_cos": _rowdot(sig.artist_emb[a_s], sig.emb[cand]),
        "artist_raw_cos": _rowdot(unit(ax[a_s]), unit(ax[a_c])),
        "artist_year_gap": np.abs(sig.artist_year[a_s] - sig.artist_year[a_c]),
        "cooc": shared,
        "cooc_norm": shared / np.sqrt(np.maximum(deg[s] * deg[cand], 1.0)),
        "artist_cooc": lookup(sig.cooc.artist_counts(seeds), group, art[cand]),
        "artist_pair_cooc": lookup(sig.cooc.artist_artist_counts(seeds), group, art[cand]),
        "same_artist": (art[s] == art[cand]).astype(np.float32),
        "same_album": (sig.album_code[s] == sig.album_code[cand]).astype(np.float32),
        "deg_s": deg[s],
    }


def feature_columns(feature_names: list[str], content_only: bool) -> list[str]:
    """The ranker's input columns, in order."""
    cols = CONTENT_FEATURES + [f"d_{n}" for n in feature_names]
    return cols if content_only else cols + HISTORY_FEATURES + ARTIST_FEATURES
