"""Neighbour stage: the k-nearest-neighbour graph of the catalog by cosine, and the index
that answers new queries.

Small catalogs (``n <= exact_max``) use exact blocked top-k: memory O(block x n), never
n x n, and no approximation. Past that, exact search grows with n^2 (measured 216 s at
200k tracks), so up to ``hnsw_max`` the index is a faiss HNSW graph (inner product on unit
vectors): built on one thread so the same seed gives the same graph, searched on
``threads``. Above ``hnsw_max`` that single-thread build dominates (about n^1.15: 17-40 min
at 10M), so the index is a faiss IVF (inverted lists, flat vectors, inner product;
docs/ANN.md): k-means centroids trained on a seeded sample, each row added to the list of
its nearest centroid, each query scanning its ``ivf_nprobe`` nearest lists. Its coarse
quantizer is a small HNSW graph over the centroids, built on one thread: a row's lists
come from its own graph walk and the exact scan of those lists, never from a product over
a block of rows, so a row's result is the same bytes for any thread count, batch or
partition. Recall@10 against exact search is measured on a seeded sample of queries and
reported for both approximate indexes.

The index is stored as the bytes of ``faiss.serialize_index`` in a ``.npy`` (uint8) file:
faiss's own binary format, no pickle. An empty array means "exact".
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from pipeline.config import NeighborConfig

log = logging.getLogger(__name__)


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn(queries: np.ndarray, base: np.ndarray, k: int, exclude_self: bool = False,
        block: int = 4096, block_bytes: int = 512 << 20, offset: int = 0
        ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k cosine neighbours of each query among ``base``.

    Args:
        queries: (n_queries, d); base: (n_base, d).
        exclude_self: queries are ``base`` itself (from row ``offset`` on: a partition of
            it); drop each row's own index.
        block, block_bytes: queries per similarity block, fewer when a block would pass
            ``block_bytes`` (a 4096-query block against 1M tracks is 16 GB; the 2,000
            recall queries at 1M were the build's 12 GB peak).
    Returns:
        (indices (n_queries, k) int32, similarities (n_queries, k) float32), best first.
    """
    import torch  # topk is ~6x faster than numpy's argpartition here

    q = torch.from_numpy(unit_rows(queries.astype(np.float32)))
    b = torch.from_numpy(unit_rows(base.astype(np.float32)))
    k = min(k, len(b) - int(exclude_self))
    block = max(1, min(block, block_bytes // (4 * max(len(b), 1))))
    idx = np.empty((len(q), k), np.int32)
    sim = np.empty((len(q), k), np.float32)
    for i0 in range(0, len(q), block):
        s = q[i0:i0 + block] @ b.T
        if exclude_self:
            rows = torch.arange(len(s))
            s[rows, offset + i0 + rows] = -torch.inf
        v, ix = torch.topk(s, k, dim=1)
        idx[i0:i0 + block] = ix.numpy()
        sim[i0:i0 + block] = v.numpy()
    return idx, sim


HNSW, IVF = "faiss HNSW", "faiss IVF"
QUANTIZER_M = 32  # links per centroid in the IVF's coarse HNSW (faiss's IVF..._HNSW32)
# The coarse HNSW's search breadth when the add assigns each row to one list: 16 agreed
# with exact assignment on 99.94% (1,000 lists) / 99.6% (10,000 lists) of 20k rows of the
# 1M blend at 9.5 / 14.7 CPU-us a row, 64 on 100% at 31 / 46 (docs/ANN.md): the add
# is the fit's largest part at 10M. Queries use max(32, 2 x nprobe).
ADD_EF = 16


@dataclass
class NeighborIndex:
    """Top-k cosine search over a fixed base: exact, a faiss HNSW graph or a faiss IVF.

    Attributes:
        base: (n, d) vectors the index searches (unit rows for faiss; exact search
            normalises them itself).
        ann: the faiss index, or None for exact search.
        ef_search: HNSW search breadth (raised to k + 1 when a query asks for more).
        threads: faiss search threads.
    """

    base: np.ndarray
    ann: object | None = None
    ef_search: int = 64
    threads: int = 1

    @classmethod
    def build(cls, base: np.ndarray, cfg: NeighborConfig, seed: int = 0) -> NeighborIndex:
        """Exact up to ``cfg.exact_max`` rows, an HNSW graph built on one thread up to
        ``cfg.hnsw_max``, else an IVF index whose k-means sample comes from ``seed``."""
        if len(base) <= cfg.exact_max:  # knn() normalises; normalising twice reorders ties
            return cls(base.astype(np.float32), None, cfg.ef_search, cfg.threads)
        base = np.ascontiguousarray(unit_rows(base.astype(np.float32)))
        if len(base) > cfg.hnsw_max:
            return cls(base, _build_ivf(base, cfg, seed), cfg.ef_search, cfg.threads)
        import faiss

        faiss.omp_set_num_threads(1)  # insertion order = row order: deterministic graph
        index = faiss.IndexHNSWFlat(base.shape[1], cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.ef_construction
        index.add(base)
        return cls(base, index, cfg.ef_search, cfg.threads)

    @property
    def exact(self) -> bool:
        return self.ann is None

    @property
    def method(self) -> str:
        """"exact", "faiss HNSW" or "faiss IVF"."""
        if self.exact:
            return "exact"
        return IVF if hasattr(self.ann, "nprobe") else HNSW

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices (m, k) int32, cosine similarities (m, k) float32), best first (IVF:
        -1 pads a row whose probed lists hold fewer than k tracks)."""
        k = min(k, len(self.base))
        if self.exact:
            return knn(queries, self.base, k)
        import faiss

        faiss.omp_set_num_threads(self.threads)
        if self.method == HNSW:
            self.ann.hnsw.efSearch = max(self.ef_search, k + 1)
        q = np.ascontiguousarray(unit_rows(queries.astype(np.float32)))
        sim, idx = self.ann.search(q, k)
        return idx.astype(np.int32), sim.astype(np.float32)

    def graph(self, k: int, batch: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
        """The k-nearest-neighbour graph of the base itself, each row's own index excluded."""
        return self.graph_rows(0, len(self.base), k, batch)

    def graph_rows(self, lo: int, hi: int, k: int, batch: int = 65_536
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``lo:hi`` of :meth:`graph` (a partition of it): (hi - lo, k) each."""
        if self.exact:
            return knn(self.base[lo:hi], self.base, k, exclude_self=True, offset=lo)
        k = min(k, len(self.base) - 1)
        idx = np.empty((hi - lo, k), np.int32)
        sim = np.empty((hi - lo, k), np.float32)
        for i0 in range(lo, hi, batch):
            rows = np.arange(i0, min(i0 + batch, hi))
            if self.method == IVF:  # rows of one list probe about the same lists: search
                rows = rows[np.argsort(self._row_lists()[rows], kind="stable")]  # in a row
            ix, sv = self.search(self.base[rows], k + 1)
            idx[rows - lo], sim[rows - lo] = _drop_self(ix, sv, rows)
        return idx, sim

    def _row_lists(self) -> np.ndarray:
        """(n,) the IVF list each row was added to. Searching a batch's rows grouped by
        list keeps the lists they scan in the CPU cache; a row's result is its own search,
        the same in any order."""
        if getattr(self, "_lists", None) is None:
            import faiss

            lists = np.empty(len(self.base), np.int64)
            inv = self.ann.invlists
            for li in range(self.ann.nlist):
                size = inv.list_size(li)
                if size:
                    lists[faiss.rev_swig_ptr(inv.get_ids(li), size)] = li
            self._lists = lists
        return self._lists

    def to_bytes(self) -> np.ndarray:
        """(n_bytes,) uint8: faiss's serialised index; empty for exact search."""
        if self.exact:
            return np.zeros(0, np.uint8)
        import faiss

        return faiss.serialize_index(self.ann)

    @classmethod
    def from_bytes(cls, data: np.ndarray, base: np.ndarray, cfg: NeighborConfig) -> NeighborIndex:
        """The index saved by :meth:`to_bytes`, over the same ``base`` (n, d); an IVF
        probes ``cfg.ivf_nprobe`` lists."""
        if data.size == 0:
            return cls(base.astype(np.float32), None, cfg.ef_search, cfg.threads)
        base = np.ascontiguousarray(unit_rows(base.astype(np.float32)))
        import faiss

        ann = faiss.deserialize_index(np.ascontiguousarray(data))
        if hasattr(ann, "nprobe"):
            _set_probes(ann, cfg)
        return cls(base, ann, cfg.ef_search, cfg.threads)


def ivf_lists(n: int, cfg: NeighborConfig) -> int:
    """The IVF's number of lists for ``n`` tracks: about ``cfg.ivf_list_size`` per list."""
    return max(1, round(n / cfg.ivf_list_size))


def _build_ivf(base: np.ndarray, cfg: NeighborConfig, seed: int):
    """A faiss IndexIVFFlat (inner product) over unit rows ``base`` (n, d).

    k-means runs on ``ivf_train_per_list x nlist`` rows drawn with ``seed`` (sorted, so the
    sample is a set of rows, not an order); faiss's k-means sums each centroid's points in
    row order whatever its thread count. The coarse HNSW over the centroids is built on
    one thread (its graph depends on insertion order); the add assigns each row by its own
    search and appends it to its list in row order, on ``cfg.threads``.
    """
    import faiss

    n, d = base.shape
    nlist = ivf_lists(n, cfg)
    rows = np.sort(np.random.default_rng(seed).choice(
        n, min(n, cfg.ivf_train_per_list * nlist), replace=False))
    cp = faiss.ClusteringParameters()
    cp.niter, cp.seed, cp.spherical = cfg.ivf_kmeans_iter, seed % (1 << 31), True
    cp.max_points_per_centroid = len(rows)  # the sample is drawn already: no resampling
    cp.min_points_per_centroid = 1  # nor a warning that it is small: it is chosen
    t0 = time.perf_counter()
    faiss.omp_set_num_threads(cfg.threads)
    kmeans = faiss.Clustering(d, nlist, cp)
    kmeans.train(base[rows], faiss.IndexFlatIP(d))
    faiss.omp_set_num_threads(1)
    quantizer = faiss.IndexHNSWFlat(d, QUANTIZER_M, faiss.METRIC_INNER_PRODUCT)
    quantizer.add(faiss.vector_to_array(kmeans.centroids).reshape(nlist, d))
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    quantizer.hnsw.efSearch = ADD_EF
    t1 = time.perf_counter()
    faiss.omp_set_num_threads(cfg.threads)
    index.add(base)
    _set_probes(index, cfg)
    log.info("neighbours: IVF k-means of %d lists on %d rows %.1f s, add of %d rows %.1f s "
             "(%d threads)", nlist, len(rows), t1 - t0, n, time.perf_counter() - t1, cfg.threads)
    return index


def _set_probes(index, cfg: NeighborConfig) -> None:
    """Lists scanned per query, and the coarse HNSW's breadth to find them (twice the
    lists it returns, at least 32: at 32, 99.95% / 99.5% of the exact 24 nearest of
    1,000 / 10,000 centroids)."""
    import faiss

    index.nprobe = min(cfg.ivf_nprobe, index.nlist)
    faiss.downcast_index(index.quantizer).hnsw.efSearch = max(32, 2 * index.nprobe)


def _drop_self(idx: np.ndarray, sim: np.ndarray, rows: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index from its k + 1 results (or the last one if absent)."""
    is_self = idx == rows[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    keep = ~is_self
    k = idx.shape[1] - 1
    return idx[keep].reshape(-1, k), sim[keep].reshape(-1, k)


def recall_at_10(index: NeighborIndex, graph_idx: np.ndarray, n_queries: int,
                 seed: int) -> float:
    """Recall@10 of the graph's first 10 neighbours against exact search, on a seeded
    sample of ``n_queries`` rows."""
    n = len(index.base)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(n_queries, n), replace=False))
    exact, _ = knn(index.base[rows], index.base, 11)
    hits = 0
    for r, e, g in zip(rows, exact, graph_idx[rows, :10]):
        hits += len(set(e[e != r][:10].tolist()) & set(g.tolist()))
    return round(hits / (10 * len(rows)), 4)


def build_neighbors(embedding: np.ndarray, cfg: NeighborConfig, seed: int
                    ) -> tuple[np.ndarray, np.ndarray, NeighborIndex, dict]:
    """The catalog's k-nearest-neighbour graph (itself excluded), its index and a report.

    Returns:
        (indices (n, k) int32, similarities (n, k) float32, the index, report dict).
    """
    t0 = time.perf_counter()
    index = NeighborIndex.build(embedding, cfg, seed)
    t1 = time.perf_counter()
    idx, sim = index.graph(cfg.k)
    t2 = time.perf_counter()
    return idx, sim, index, neighbors_report(index, idx, cfg, seed, t1 - t0, t2 - t1)


def neighbors_report(index: NeighborIndex, idx: np.ndarray, cfg: NeighborConfig, seed: int,
                     build_seconds: float, graph_seconds: float) -> dict:
    """The neighbour stage's report for the graph ``idx`` (n, k) of ``index`` (with
    HNSW or IVF: its settings and recall@10 against exact search on seeded queries)."""
    report = {"method": index.method, "k": int(idx.shape[1]),
              "tracks": int(len(index.base)), "exact_max": cfg.exact_max,
              "build_seconds": round(build_seconds, 2),
              "graph_seconds": round(graph_seconds, 2)}
    if index.exact:
        report["recall_at_10"] = 1.0
        report["recall_note"] = "exact search"
        return report
    if index.method == HNSW:
        report.update(hnsw_m=cfg.hnsw_m, ef_construction=cfg.ef_construction,
                      ef_search=max(cfg.ef_search, cfg.k + 2))
    else:
        nlist = int(index.ann.nlist)
        report.update(hnsw_max=cfg.hnsw_max, nlist=nlist, nprobe=int(index.ann.nprobe),
                      train_rows=min(len(index.base), cfg.ivf_train_per_list * nlist),
                      kmeans_iter=cfg.ivf_kmeans_iter, quantizer=f"HNSW{QUANTIZER_M}")
    report.update(recall_at_10=recall_at_10(index, idx, cfg.recall_queries, seed),
                  recall_note=f"graph vs exact search on {cfg.recall_queries} seeded queries")
    log.info("neighbours: %s recall@10 %.4f", index.method, report["recall_at_10"])
    return report


def search_rows(emb: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k neighbours of ``emb[rows]`` among all of ``emb``, each row's own index
    excluded: (indices (len(rows), k) int32, similarities float32), best first."""
    if len(rows) == 0:
        return np.zeros((0, k), np.int32), np.zeros((0, k), np.float32)
    idx, sim = knn(emb[rows], emb, k + 1)
    return _drop_self(idx, sim, rows)


def update_graph(emb: np.ndarray, prev_idx: np.ndarray, prev_sim: np.ndarray,
                 prev_to_new: np.ndarray, fresh: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """The k-nearest-neighbour graph of an updated catalog from the previous graph.

    Fresh tracks (new, or edited: their embedding changed) are searched exactly against
    the whole catalog. A kept track whose previous list is still whole merges it with its
    top k among the fresh tracks (an n x n_fresh product, not n x n): the result is the
    same as a full search over the old list's candidates plus the fresh ones. A kept track
    that lost a neighbour (removed or edited) is searched again, so its slots are refilled
    by the true next neighbours.

    Args:
        emb: (n, d) embedding of the updated catalog.
        prev_idx, prev_sim: (n_prev, k_prev) the previous graph (rows of the previous
            catalog; -1 pads an approximate search's short rows).
        prev_to_new: (n_prev,) each previous row's row now, -1 if removed or edited.
        fresh: sorted rows of the updated catalog that are new or edited.
    Returns:
        (indices (n, k) int32, similarities (n, k) float32, counts of each kind of row).
    """
    n = len(emb)
    k = min(k, n - 1)
    idx = np.empty((n, k), np.int32)
    sim = np.empty((n, k), np.float32)
    kept_prev = np.flatnonzero(prev_to_new >= 0)
    kept = prev_to_new[kept_prev]
    old = np.where(prev_idx[kept_prev, :k] >= 0, prev_to_new[prev_idx[kept_prev, :k]], -1)
    whole = (old >= 0).all(axis=1) & (old.shape[1] == k)
    redo = np.union1d(fresh, kept[~whole]).astype(np.int64)
    idx[redo], sim[redo] = search_rows(emb, redo, k)
    merge, old, old_sim = kept[whole], old[whole], prev_sim[kept_prev[whole], :k]
    if len(fresh) and len(merge):
        f_idx, f_sim = knn(emb[merge], emb[fresh], min(k, len(fresh)))
        cand = np.concatenate([old, fresh[f_idx]], axis=1)
        cand_sim = np.concatenate([old_sim, f_sim], axis=1)
        best = np.argsort(-cand_sim, axis=1, kind="stable")[:, :k]
        old, old_sim = (np.take_along_axis(cand, best, 1),
                        np.take_along_axis(cand_sim, best, 1))
    idx[merge], sim[merge] = old, old_sim
    return idx, sim, {"searched_fresh": int(len(fresh)),
                      "searched_again": int(len(redo) - len(fresh)),
                      "merged": int(len(merge))}
