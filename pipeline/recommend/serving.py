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
from pipeline.map import NeighborIndex

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
