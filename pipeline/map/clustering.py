"""Clustering stage: HDBSCAN with soft membership, scored against a KMeans baseline.

Noise is the label -1 ("unclustered"). Every score says over which points and in which
space it was computed. Silhouette and DBCV are computed on seeded samples so the cost
stays bounded on large catalogs (both are quadratic in the points they see).

Large catalogs: HDBSCAN is fitted on a seeded sample of ``fit_sample`` points, with the
settings grid scaled to the sample (``min_cluster_sizes`` are meant for catalogs of up to
``reference_tracks``; above, they grow with the catalog, so cluster sizes stay the same
share of it). Every other track takes the label, strength and soft membership of its
nearest fitted points in the clustering space (a KD-tree query in batches).
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
from joblib import Memory

from pipeline.config import ClusterConfig

log = logging.getLogger(__name__)


@dataclass
class ClusterResult:
    labels: np.ndarray        # (n_tracks,) int, -1 = unclustered
    probability: np.ndarray   # (n_tracks,) HDBSCAN membership strength of the hard label
    membership: np.ndarray    # (n_tracks, n_clusters) soft membership, rows sum to 1
    nearest: np.ndarray       # (n_tracks,) most likely cluster, also for noise points
    report: dict


def run_hdbscan(x: np.ndarray, min_cluster_size: int, min_samples: int, selection: str,
                max_cluster_share: float, scale: float = 1.0, memory=None):
    """Fit HDBSCAN with prediction data kept for soft membership.

    ``min_cluster_size`` is multiplied by ``scale`` (catalogs above the reference size),
    then capped at n/15 so that small catalogs still split. ``memory`` (a joblib
    ``Memory``) caches the spanning tree, which depends only on ``min_samples``: the
    grid's eight settings then build two trees instead of eight (200k catalog: 21.7 of
    the stage's 53 s were these trees). The labels are the same either way.
    """
    import hdbscan

    n = len(x)
    mcs = int(max(5, min(round(min_cluster_size * scale), n // 15)))
    return hdbscan.HDBSCAN(
        min_cluster_size=mcs, min_samples=min(min_samples, mcs),
        cluster_selection_method=selection, prediction_data=True, core_dist_n_jobs=1,
        max_cluster_size=int(n * max_cluster_share) if selection == "eom" else 0,
        memory=memory,
    ).fit(x)


def soft_membership(clusterer, n_clusters: int) -> np.ndarray:
    """All-points membership vectors, shape (n_tracks, n_clusters), rows summing to 1."""
    import hdbscan

    if n_clusters == 0:
        return np.zeros((len(clusterer.labels_), 0), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hdbscan.all_points_membership_vectors(clusterer)
    m = np.asarray(m, np.float32).reshape(len(clusterer.labels_), -1)
    m = np.nan_to_num(m)
    return m / np.maximum(m.sum(axis=1, keepdims=True), 1e-12)


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size, replace=False)) if n > size else np.arange(n)


def score(x: np.ndarray, labels: np.ndarray, cfg: ClusterConfig, seed: int) -> dict:
    """Silhouette over non-noise points, DBCV, noise share, sizes (on seeded samples)."""
    from sklearn.metrics import silhouette_samples

    rng = np.random.default_rng(seed)
    clustered = np.flatnonzero(labels >= 0)
    n_clusters = int(labels.max() + 1) if len(clustered) else 0
    out = {"n_clusters": n_clusters, "noise_share": round(float((labels < 0).mean()), 4),
           "sizes": np.bincount(labels[clustered], minlength=n_clusters).tolist()}
    if n_clusters >= 2:
        rows = clustered[_sample(len(clustered), cfg.score_sample, rng)]
        s = silhouette_samples(x[rows], labels[rows])
        out["silhouette"] = round(float(s.mean()), 4)
        per = [float(s[labels[rows] == c].mean()) if (labels[rows] == c).any() else None
               for c in range(n_clusters)]
        out["per_cluster_silhouette"] = [None if v is None else round(v, 4) for v in per]
        out["silhouette_points"] = f"{len(rows)} sampled non-noise tracks"
        out["dbcv"] = _dbcv(x, labels, cfg.dbcv_sample, rng)
    else:
        out.update(silhouette=None, per_cluster_silhouette=[], dbcv=None)
    return out


def _dbcv(x: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator) -> float | None:
    """DBCV (Moulavi et al.) via hdbscan.validity on a seeded sample, noise included."""
    from hdbscan.validity import validity_index

    rows = _sample(len(x), size, rng)
    lab = labels[rows]
    if len(set(lab[lab >= 0])) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = validity_index(x[rows].astype(np.float64), lab)
    return round(float(v), 4)


def _silhouette(x: np.ndarray, labels: np.ndarray, cfg: ClusterConfig, seed: int) -> float:
    """Silhouette of given labels over a seeded sample of non-noise points of ``x``."""
    from sklearn.metrics import silhouette_score

    clustered = np.flatnonzero(labels >= 0)
    rows = clustered[_sample(len(clustered), cfg.score_sample, np.random.default_rng(seed))]
    return round(float(silhouette_score(x[rows], labels[rows])), 4)


def kmeans_baseline(x: np.ndarray, k: int, cfg: ClusterConfig, seed: int) -> dict:
    """KMeans with the same k, scored the same way (silhouette on a same-size sample)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    k = max(k, 2)
    fit_rows = _sample(len(x), cfg.fit_sample, np.random.default_rng([seed, 1]))
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x[fit_rows])
    rows = _sample(len(x), cfg.score_sample, np.random.default_rng(seed))
    lab = km.labels_[rows] if len(fit_rows) == len(x) else km.predict(x[rows])
    return {"k": k, "silhouette": round(float(silhouette_score(x[rows], lab)), 4),
            "silhouette_points": f"{len(rows)} sampled tracks (KMeans has no noise)"}


def _grid(cfg: ClusterConfig) -> list[dict]:
    return [{"min_cluster_size": m, "min_samples": s, "selection": sel}
            for m in cfg.min_cluster_sizes for s in cfg.min_samples for sel in cfg.selections]


def build_clusters(spaces: dict[str, np.ndarray], cfg: ClusterConfig, seed: int) -> ClusterResult:
    """Cluster in the configured space ("auto": every candidate space), over the settings
    grid, keeping the most useful result by measurement.

    Args:
        spaces: candidate spaces by name, each (n_tracks, d): "map2d", "umap_nd", "embedding".
    """
    names = [n for n in spaces if n != "embedding" or cfg.space in ("auto", "embedding")]
    names = names if cfg.space == "auto" else [cfg.space]
    n = len(next(iter(spaces.values())))
    fit_rows = _sample(n, cfg.fit_sample, np.random.default_rng([seed, 1]))
    fit = {k: v[fit_rows] for k, v in spaces.items()}
    scale = max(1.0, len(fit_rows) / cfg.reference_tracks)  # cluster sizes as a share
    rng = np.random.default_rng(seed)
    tried = []
    with tempfile.TemporaryDirectory(prefix="hdbscan-trees-") as trees, \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Persisting input arguments")  # hashing x
        memory = Memory(trees, verbose=0)
        for name in names:
            for params in _grid(cfg):
                fitted = run_hdbscan(fit[name], **params, scale=scale, memory=memory,
                                     max_cluster_share=cfg.max_cluster_share)
                quick = _quick_score(fit[name], fitted.labels_, rng)
                tried.append((name, params, fitted, quick))
                log.info("hdbscan %s %s: %s", name, params, quick)
    name, params, clusterer, _ = max(tried, key=lambda t: _usefulness(t[3], cfg.min_clusters))
    labels = clusterer.labels_.astype(np.int32)
    n_clusters = int(labels.max() + 1) if (labels >= 0).any() else 0
    membership = soft_membership(clusterer, n_clusters)
    probability = clusterer.probabilities_.astype(np.float32)
    if n > len(fit_rows):
        labels, probability, membership = _extend(spaces[name], fit_rows, labels, probability,
                                                  membership, cfg.assign_k)
    report = score(spaces[name], labels, cfg, seed)
    nearest = membership.argmax(axis=1) if membership.shape[1] else np.full(len(labels), -1)
    nearest = np.where(labels >= 0, labels, nearest).astype(np.int32)
    report = {"space": name, **report, "silhouette_space": name, "params": params,
              "selection_rule": f"max silhouette x clustered share^2 with >= {cfg.min_clusters} "
                                "clusters (quick silhouette on 3000 points)",
              "fitted_on": (f"all {n} tracks" if n == len(fit_rows) else
                            f"{len(fit_rows)} sampled tracks (min_cluster_size x {scale:.2f}); "
                            f"the other {n - len(fit_rows)} take the label of their "
                            f"{cfg.assign_k} nearest fitted tracks"),
              "candidates": [{"space": n, **p, **q} for n, p, _, q in tried],
              "kmeans_baseline": kmeans_baseline(spaces[name], report["n_clusters"], cfg, seed)}
    if name != "embedding" and "embedding" in spaces and report["n_clusters"] >= 2:
        report["silhouette_in_embedding"] = _silhouette(spaces["embedding"], labels, cfg, seed)
    return ClusterResult(labels, probability, membership, nearest, report)


def _extend(x: np.ndarray, fit_rows: np.ndarray, labels: np.ndarray, probability: np.ndarray,
            membership: np.ndarray, k: int, batch: int = 200_000
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, strengths and soft memberships for every track from the fitted sample.

    Each unfitted track takes the majority label of its ``k`` nearest fitted tracks in
    ``x`` (noise counts as a label), their mean strength for that label and their mean
    membership vector. Returns arrays over all n tracks (fitted rows keep their values).
    """
    from scipy.spatial import cKDTree

    n, n_clusters = len(x), membership.shape[1]
    out_l = np.empty(n, np.int32)
    out_p = np.empty(n, np.float32)
    out_m = np.empty((n, n_clusters), np.float32)
    out_l[fit_rows], out_p[fit_rows], out_m[fit_rows] = labels, probability, membership
    rest = np.setdiff1d(np.arange(n), fit_rows)
    tree = cKDTree(x[fit_rows])
    for i0 in range(0, len(rest), batch):
        rows = rest[i0:i0 + batch]
        _, nb = tree.query(x[rows], k=min(k, len(fit_rows)))
        nb = nb.reshape(len(rows), -1)
        votes = np.zeros((len(rows), n_clusters + 1), np.int32)
        np.add.at(votes, (np.repeat(np.arange(len(rows)), nb.shape[1]), labels[nb].ravel() + 1),
                  1)
        lab = votes.argmax(axis=1) - 1                       # ties: the lower id (noise first)
        same = labels[nb] == lab[:, None]
        out_l[rows] = lab
        out_p[rows] = np.where(lab >= 0, (probability[nb] * same).sum(1)
                               / np.maximum(same.sum(1), 1), 0.0)
        m = membership[nb].mean(axis=1)
        out_m[rows] = m / np.maximum(m.sum(axis=1, keepdims=True), 1e-12)
    return out_l, out_p, out_m


def _quick_score(x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict:
    from sklearn.metrics import silhouette_score

    clustered = np.flatnonzero(labels >= 0)
    k = int(labels.max() + 1) if len(clustered) else 0
    sil = None
    if k >= 2:
        rows = clustered[_sample(len(clustered), 3000, rng)]
        sil = round(float(silhouette_score(x[rows], labels[rows])), 4)
    return {"n_clusters": k, "noise_share": round(float((labels < 0).mean()), 4), "silhouette": sil}


def _usefulness(r: dict, min_clusters: int) -> float:
    """Silhouette times the clustered share squared (unclustered tracks cost a curator
    twice: they are neither browsable nor scored); fewer than ``min_clusters`` ranks last."""
    if r["silhouette"] is None:
        return -2.0
    value = r["silhouette"] * (1 - r["noise_share"]) ** 2
    return value if r["n_clusters"] >= min_clusters else value - 1.0
