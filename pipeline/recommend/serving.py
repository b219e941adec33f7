"""What serving needs, computed at build time (the ``rank_signals`` stage) and read back
by :meth:`Recommender.load` without recomputing anything expensive.

The stage writes, for the catalog's final embedding and all its playlists:

- ``rank_clusters.npy`` (n,) int32: KMeans clusters of the embedding (fitted on a sample).
- ``rank_labels.npy`` (n, n_columns) float32 and ``rank_labels.json``: the label blocks
  of :func:`~pipeline.recommend.labels.label_signals` side by side, and their widths.

The neighbour estimate in the label blocks is exact for catalogs the neighbour stage
searched exactly, and read from its k-nearest-neighbour graph (``neighbors_idx.npy``)
otherwise. Serving searches candidates with the neighbour stage's index
(``neighbors_index.npy``: HNSW for large catalogs), never with an n-wide scan.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import store as io
from pipeline.config import NeighborConfig, RankerConfig
from pipeline.errors import CacheError
from pipeline.map import NeighborIndex, knn

from .cooccurrence import Cooccurrence
from .labels import label_signals, pack_labels, unpack_labels
from .rank_features import Signals, build_signals, kmeans_labels

log = logging.getLogger(__name__)
SIGNAL_FILES = ("rank_clusters.npy", "rank_labels.npy", "rank_labels.json")


def rank_signals(tracks: pd.DataFrame, memberships: pd.DataFrame, emb: np.ndarray,
                 graph: np.ndarray | None, cfg: RankerConfig, seed: int
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """The serving signals of a built catalog.

    Args:
        tracks: catalog (n rows); memberships: all its playlists; emb: (n, dim).
        graph: (n, k) nearest-neighbour rows of the final embedding, or None when the
            catalog is small enough for exact search.
    Returns:
        (clusters (n,) int32, label matrix (n, n_columns) float32, its layout + report).
    """
    t0 = time.perf_counter()
    clusters = kmeans_labels(emb, cfg.n_clusters, seed, cfg.cluster_fit_sample)
    artist = Cooccurrence.fit(tracks, memberships).artist_code
    mat, layout = pack_labels(label_signals(tracks, memberships, emb, artist, graph))
    layout.update(tracks=int(len(tracks)), neighbours="exact" if graph is None else
                  f"first labelled of the {graph.shape[1]}-nearest-neighbour graph",
                  seconds=round(time.perf_counter() - t0, 2))
    log.info("rank signals: %d tracks, %d label columns in %.1f s", len(tracks),
             mat.shape[1], layout["seconds"])
    return clusters.astype(np.int32), mat, layout


def load_signals(cache: Path, tracks: pd.DataFrame, memberships: pd.DataFrame,
                 emb: np.ndarray, neighbors: NeighborConfig) -> Signals:
    """The serving :class:`Signals` of a built cache, from its artifacts.

    Args:
        tracks, memberships, emb: the cache's tables and embedding (n rows), as
            ``pipeline.load`` reads them.
        neighbors: the build's neighbour config (search breadth and threads).
    """
    names = io.read_json(cache / "feature_scaler.json")["names"]
    mat = io.read_npy(cache / "rank_labels.npy")
    clusters = io.read_npy(cache / "rank_clusters.npy")
    for name, arr in (("rank_labels.npy", mat), ("rank_clusters.npy", clusters)):
        if len(arr) != len(tracks):
            raise CacheError(f"{cache / name} has {len(arr)} rows but the catalog has "
                             f"{len(tracks)} tracks; rebuild with "
                             f"`python -m pipeline build --cache {cache}`.")
    labels = unpack_labels(mat, io.read_json(cache / "rank_labels.json"))
    index = NeighborIndex.from_bytes(io.read_npy(cache / "neighbors_index.npy"), emb, neighbors)
    return build_signals(tracks, io.read_npy(cache / "features.npy"), names, memberships, emb,
                         clusters, labels=labels, index=index)


def extend_rank_signals(prev_clusters: np.ndarray, prev_labels: np.ndarray, layout: dict,
                        prev_memberships: pd.DataFrame, tracks: pd.DataFrame,
                        memberships: pd.DataFrame, emb: np.ndarray, prev_rows: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """The serving signals of an updated catalog from the previous build's, without the
    full pass (KMeans and an n x n_labelled search: 17 s at 30k under load).

    Kept rows (``prev_rows >= 0``) keep their KMeans cluster and their neighbour-label
    estimate (from the last full pass, like their embedding); new and edited rows take the
    cluster of the nearest KMeans centre (each centre: its members' mean embedding) and an
    exact neighbour-label estimate. Every track's own and artist label shares are
    recomputed (linear: a kept track may have joined new playlists or gained an artist
    mate).

    Args:
        prev_clusters: (n_prev,) rank_clusters.npy; prev_labels: (n_prev, w) rank_labels.npy;
            layout: rank_labels.json; prev_memberships: the previous build's playlists.
        tracks, memberships, emb: the updated catalog (n rows).
        prev_rows: (n,) each row's row in the previous build, -1 when new or edited.
    Returns:
        (clusters (n,), labels (n, w), layout), or None when the label columns changed
        (a new genre or subgenre): then the full :func:`rank_signals` is needed.
    """
    from .labels import LABEL_COLUMNS, label_names

    t0 = time.perf_counter()
    if any(label_names(memberships, c) != label_names(prev_memberships, c)
           for c in LABEL_COLUMNS):
        return None
    artist = Cooccurrence.fit(tracks, memberships).artist_code
    blocks = label_signals_without_neighbours(tracks, memberships, artist)
    kept, fresh = np.flatnonzero(prev_rows >= 0), np.flatnonzero(prev_rows < 0)
    prev = unpack_labels(prev_labels, layout)
    for name in ("genre_nn", "subgenre_nn"):
        blocks[name][kept] = prev[name][prev_rows[kept]]
    for name, value in zip(("genre_nn", "subgenre_nn"), _fresh_neighbour_labels(
            emb, [blocks["genre_vec"], blocks["subgenre_vec"]], fresh)):
        blocks[name][fresh] = value
    mat, _ = pack_labels(blocks)
    clusters = np.empty(len(tracks), np.int32)
    clusters[kept] = prev_clusters[prev_rows[kept]]
    clusters[fresh] = _nearest_centre(emb[kept], clusters[kept], emb[fresh])
    out = {**layout, "tracks": int(len(tracks)), "seconds": round(time.perf_counter() - t0, 2),
           "update": f"{len(fresh)} new or edited tracks added to the last full pass"}
    return clusters, mat, out


def label_signals_without_neighbours(tracks: pd.DataFrame, memberships: pd.DataFrame,
                                     artist: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`label_signals` with zero neighbour blocks (filled in by the caller)."""
    from .labels import BLOCKS, LABEL_COLUMNS, artist_label_shares, label_shares

    out = {f"{c}_vec": label_shares(tracks, memberships, c) for c in LABEL_COLUMNS}
    for c in LABEL_COLUMNS:
        out[f"{c}_nn"] = np.zeros_like(out[f"{c}_vec"])
        out[f"artist_{c}"] = artist_label_shares(label_shares(tracks, memberships, c, True),
                                                 artist)
    return {b: out[b] for b in BLOCKS}


def _fresh_neighbour_labels(emb: np.ndarray, vecs: list[np.ndarray], rows: np.ndarray
                            ) -> list[np.ndarray]:
    """The exact path of :func:`~pipeline.recommend.labels.neighbour_labels` for ``rows``
    only (the same k - 1 / k + 1 averaging), each (len(rows), n_labels)."""
    from .labels import NEIGHBOURS as k

    known = np.flatnonzero(vecs[0].sum(1) > 0)
    if len(known) < 2 or len(rows) == 0:
        return [np.zeros((len(rows), v.shape[1]), np.float32) for v in vecs]
    idx, _ = knn(emb[rows], emb[known], min(k + 1, len(known)))
    nb = known[idx]
    w = (nb != rows[:, None]).astype(np.float32)
    w[:, -1] *= (w.sum(1) > k)
    w /= np.maximum(w.sum(1, keepdims=True), 1.0)
    return [np.einsum("nk,nkl->nl", w, v[nb]).astype(np.float32) for v in vecs]


def _nearest_centre(emb: np.ndarray, clusters: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """KMeans' predict from saved labels: the cluster whose members' mean is closest."""
    if len(queries) == 0 or len(emb) == 0:
        return np.zeros(len(queries), np.int32)
    ids = np.unique(clusters)
    centres = np.stack([emb[clusters == c].mean(axis=0) for c in ids])
    d = ((queries[:, None, :] - centres[None]) ** 2).sum(-1)
    return ids[d.argmin(axis=1)].astype(np.int32)
