"""Projection stage: UMAP of the embedding to 2-D (the map) and to a few dimensions
(a denser space for clustering).

UMAP is fitted on at most ``fit_sample`` tracks (with the precomputed kNN graph, so it
never searches on its own); in larger catalogs the rest are placed in fixed-size batches
the way UMAP's own ``transform`` initialises new points: a similarity-weighted mean of the
map coordinates of their nearest fitted tracks (the fit-on-a-sample, apply-to-partitions
pattern). A fitted UMAP object only persists through pickle, which we do not ship;
:func:`place` positions new tracks from saved arrays (embedding + map coordinates).

A refit over a previous build starts from it (:func:`warm_init`): UMAP's layout
optimisation begins at the previous map (shared tracks) and the tracks placed among them
(new tracks), instead of the spectral layout, so the learnt map is refined rather than
drawn again. Without a previous build the fit is exactly the cold one.
"""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np

from pipeline.config import NeighborConfig, ProjectionConfig

from .neighbors import NeighborIndex, knn

log = logging.getLogger(__name__)


def _reduce(x: np.ndarray, n_components: int, min_dist: float, cfg: ProjectionConfig,
            seed: int, knn_graph: tuple[np.ndarray, np.ndarray] | None,
            nbr: NeighborConfig, warm: Warm | None = None) -> np.ndarray:
    import umap  # lazy: numba start-up is only paid when the stage runs

    n = len(x)
    kw = dict(n_components=n_components, n_neighbors=min(cfg.n_neighbors, n - 1),
              min_dist=min_dist, random_state=seed, metric="cosine")
    if warm is not None:  # a cold fit passes neither, so its map is unchanged
        kw["learning_rate"] = warm.learning_rate
    with warnings.catch_warnings():  # expected: n_jobs=1 under a seed; no transform index
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        if n <= cfg.fit_sample:
            if knn_graph is not None and knn_graph[0].shape[1] >= kw["n_neighbors"]:
                kw["precomputed_knn"] = _umap_knn(knn_graph, kw["n_neighbors"])
            if warm is not None:
                kw["init"] = warm.init
            return _fit_umap(umap, kw, x).embedding_.astype(np.float32)
        # Fit on a seeded sample, with the sample's own kNN graph from the same index
        # machinery as the neighbour stage; place the rest from the sample in batches.
        fit_rows = sample_rows(n, cfg.fit_sample, seed)
        index = NeighborIndex.build(x[fit_rows], nbr)
        kw["precomputed_knn"] = _umap_knn(index.graph(kw["n_neighbors"]), kw["n_neighbors"])
        if warm is not None:
            kw["init"] = warm.init[fit_rows]
        t0 = time.perf_counter()
        out = np.empty((n, n_components), np.float32)
        out[fit_rows] = _fit_umap(umap, kw, x[fit_rows]).embedding_
        log.info("umap fit on %d of %d tracks in %.1f s", len(fit_rows), n,
                 time.perf_counter() - t0)
        rest = np.setdiff1d(np.arange(n), fit_rows)
        for i0 in range(0, len(rest), cfg.place_batch):
            rows = rest[i0:i0 + cfg.place_batch]
            out[rows] = place_from(index, x[rows], out[fit_rows], cfg.place_k)
        return out


def _fit_umap(umap, kw: dict, x: np.ndarray):
    """Fit UMAP on one BLAS thread. Its spectral initialisation (scipy's eigensolver) sums
    in an order that depends on OpenBLAS's thread count: the default catalog's map differed
    between 2 threads and 1 (20 vs 28 clusters). One thread gives the same map on any core
    count. The limit is taken here, after umap (hence scipy) is imported: scipy loads its own
    OpenBLAS only then, and a limit taken before would miss it."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return umap.UMAP(**kw).fit(x)


def sample_rows(n: int, sample: int, seed: int) -> np.ndarray:
    """The sorted, seeded rows UMAP is fitted on in a catalog above ``fit_sample``."""
    return np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))


def _umap_knn(graph: tuple[np.ndarray, np.ndarray], k: int):
    """Our exact kNN graph in UMAP's precomputed format (self first, cosine distance)."""
    idx, sim = graph
    n = len(idx)
    ind = np.column_stack([np.arange(n), idx[:, : k - 1]]).astype(np.int64)
    dist = np.column_stack([np.zeros(n), 1.0 - sim[:, : k - 1]]).clip(0).astype(np.float32)
    return ind, dist, None


@dataclass(frozen=True)
class Warm:
    """Where a refit's map starts: ``init`` (n_tracks, 2), from :func:`warm_init`, and
    UMAP's initial learning rate (below UMAP's 1.0: the start is already a good layout)."""

    init: np.ndarray
    learning_rate: float = 1.0


def warm_init(embedding: np.ndarray, prev_rows: np.ndarray, prev_map: np.ndarray,
              k: int = 15) -> np.ndarray:
    """The start of a refit's map: a track the previous build held starts at its previous
    position, a new one at :func:`place` among those (in the new embedding).

    Args:
        embedding: (n_tracks, dim) the refit's embedding.
        prev_rows: (n_tracks,) the track's row in the previous build, -1 for a new track.
        prev_map: (n_prev, 2) the previous build's map.
    Returns:
        (n_tracks, 2) float32.
    """
    init = np.empty((len(embedding), prev_map.shape[1]), np.float32)
    shared = np.flatnonzero(prev_rows >= 0)
    init[shared] = prev_map[prev_rows[shared]]
    new = np.flatnonzero(prev_rows < 0)
    if len(new):
        init[new] = place(embedding[new], embedding[shared], init[shared], k)
    return init


def build_projection(embedding: np.ndarray, cfg: ProjectionConfig, seed: int,
                     knn_graph: tuple[np.ndarray, np.ndarray] | None = None,
                     nbr: NeighborConfig | None = None, warm: Warm | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Returns (map coordinates (n_tracks, 2), clustering space (n_tracks, cluster_dim)).

    Without ``cfg.cluster_dim`` the clustering space is the map itself. ``nbr`` sets the
    index used for the sample's graph and for placing the rest (catalogs above
    ``cfg.fit_sample``). ``warm``: start the map from a previous build's (a refit); the
    extra clustering space is always fitted cold (the previous build has no n-D start).
    """
    nbr = nbr or NeighborConfig()
    map2d = _reduce(embedding, 2, cfg.min_dist, cfg, seed, knn_graph, nbr, warm)
    if cfg.cluster_dim is None:
        return map2d, map2d
    return map2d, _reduce(embedding, cfg.cluster_dim, 0.0, cfg, seed + 1, knn_graph, nbr)


def warm_up(cfg: ProjectionConfig, k: int, seed: int, n: int = 1000, dim: int = 24) -> None:
    """Run :func:`build_projection` once on small random data, so numba compiles UMAP's
    kernels (~40 s on a cold machine) while earlier stages still run. Same call path,
    same argument types as the real stage; the output is discarded."""
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    build_projection(x, cfg, seed, knn(x, x, min(k, n - 1), exclude_self=True))


def place_from(index: NeighborIndex, queries: np.ndarray, coords: np.ndarray, k: int
                ) -> np.ndarray:
    """Similarity-weighted mean of the coordinates of each query's k nearest base rows."""
    idx, sim = index.search(queries, k)
    w = np.exp((sim - sim[:, :1]) / 0.05)  # sharper than uniform, like UMAP's memberships
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", w, coords[idx]).astype(np.float32)


def place(new_embedding: np.ndarray, embedding: np.ndarray, coords: np.ndarray,
          k: int = 15) -> np.ndarray:
    """Place new tracks on an existing map: similarity-weighted mean of neighbours' coords.

    Args:
        new_embedding: (n_new, dim); embedding: (n_tracks, dim); coords: (n_tracks, c).
    Returns:
        (n_new, c) coordinates.
    """
    return place_from(NeighborIndex(embedding.astype(np.float32)), new_embedding, coords, k)
