"""Clustering stage: HDBSCAN with soft membership, scored against a KMeans baseline.

Noise is the label -1 ("unclustered"). Every score says over which points and in which
space it was computed. Silhouette and DBCV are computed on seeded samples so the cost
stays bounded on large catalogs (both are quadratic in the points they see).

Large catalogs: HDBSCAN is fitted on a seeded sample of ``fit_sample`` points, with the
settings grid scaled to the sample (``min_cluster_sizes`` are meant for catalogs of up to
``reference_tracks``; above, they grow with the catalog, so cluster sizes stay the same
share of it). Every other track takes the label, strength and soft membership of its
nearest fitted points in the clustering space (a KD-tree query in batches).
:func:`build_clusters` is :func:`fit_clusters` (the sample) + that assignment +
:func:`finish_clusters` (the report), so that the Dask engine can run the assignment per
partition of rows between the two (pipeline/build/engines/partition_clusters.py).

Selection: the aims (>= ``min_clusters`` clusters, <= ``max_noise_share`` unclustered) are
constraints, not terms of a score. HDBSCAN leaves about a third of the default catalog's
map unclustered (a continuum more than islands), most of it at the fringe of one cluster;
fringe assignment gives a noise track to its most likely cluster when that cluster is
unambiguous (soft membership >= ``fringe_ratio`` x the runner-up's). Settings are tried in
order of usefulness; the first that meets both constraints after fringe assignment wins.

A refit over a previous build (``previous`` labels) tries them in order of agreement
with the previous build instead: the share of the shared tracks that keep their id after
the one-to-one id matching the refit's alignment does (:func:`pipeline.map.alignment.
kept_share`), so that among the settings meeting the aims the one that moves the fewest
tracks between clusters wins. Without ``previous`` the selection is the first build's.
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Memory

from pipeline.config import ClusterConfig

from .alignment import kept_share
from .assign import assign_labels

log = logging.getLogger(__name__)
NOT_PREVIOUS = -2  # in ``previous`` labels: a track the previous build did not hold


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
    mcs = effective_min_cluster_size(min_cluster_size, n, scale)
    return hdbscan.HDBSCAN(
        min_cluster_size=mcs, min_samples=min(min_samples, mcs),
        cluster_selection_method=selection, prediction_data=True, core_dist_n_jobs=1,
        max_cluster_size=int(n * max_cluster_share) if selection == "eom" else 0,
        memory=memory,
    ).fit(x)


def effective_min_cluster_size(min_cluster_size: int, n: int, scale: float = 1.0) -> int:
    """HDBSCAN's ``min_cluster_size`` as fitted on ``n`` points: scaled, capped at n/15,
    at least 5 (see :func:`run_hdbscan`)."""
    return int(max(5, min(round(min_cluster_size * scale), n // 15)))


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
    return _kmeans(x, k, cfg, seed)[1]


def _kmeans(x: np.ndarray, k: int, cfg: ClusterConfig, seed: int) -> tuple[np.ndarray, dict]:
    """KMeans labels of every track (n_tracks,) and the baseline's report."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    k = max(k, 2)
    fit_rows = _sample(len(x), cfg.fit_sample, np.random.default_rng([seed, 1]))
    # One thread: KMeans' OpenMP reductions give other last bits, and so other labels near
    # a boundary, at another thread count (the 1M map's subgenre AMI 0.2483 at 2 threads,
    # 0.2484 at 1), so a Dask worker (1 thread) and the local pool would differ.
    with threadpool_limits(1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x[fit_rows])
        labels = km.labels_ if len(fit_rows) == len(x) else km.predict(x)
    rows = _sample(len(x), cfg.score_sample, np.random.default_rng(seed))
    return labels, {"k": k, "silhouette": round(float(silhouette_score(x[rows], labels[rows])), 4),
                    "silhouette_points": f"{len(rows)} sampled tracks (KMeans has no noise)"}


def playlist_genres(tracks: pd.DataFrame, memberships: pd.DataFrame) -> pd.DataFrame:
    """Each track's primary playlist genre and subgenre, row-aligned with ``tracks``.

    Primary: the value most of the track's playlists carry (ties: alphabetical first), the
    rule ingest uses for ``tracks.genre``; a track in several playlists counts once. Tracks
    in no playlist get NA. Returns a frame with columns "genre" and "subgenre".
    """
    out = pd.DataFrame(index=pd.Index(tracks["track_id"], name="track_id"))
    for col in ("genre", "subgenre"):
        m = memberships[["track_id", col]].dropna() if col in memberships else None
        if m is None or m.empty:
            out[col] = pd.NA
            continue
        # Integer codes, not a groupby on the id strings (172 s -> seconds at 10M tracks):
        # counts of each (track, value) pair, then per track the most counted value, ties
        # to the alphabetically first (factorize's sorted codes).
        track = out.index.get_indexer(m["track_id"])
        values, names = pd.factorize(m[col], sort=True)
        pair = np.unique(track[track >= 0].astype(np.int64) * len(names) + values[track >= 0],
                         return_counts=True)
        t, v, n = pair[0] // len(names), pair[0] % len(names), pair[1]
        order = np.lexsort((v, -n, t))
        first = order[np.r_[True, t[order][1:] != t[order][:-1]]]
        top = pd.Series(names.take(v[first]), index=out.index.take(t[first]), name=col)
        out[col] = top.reindex(out.index)
    return out.reset_index(drop=True)


def playlist_agreement(labels: np.ndarray, kmeans_labels: np.ndarray | None,
                       playlists: pd.DataFrame, cfg: ClusterConfig, seed: int) -> dict:
    """Adjusted mutual information of the cluster labels (noise at its nearest cluster) and
    of KMeans's labels (when given) with the playlists' primary genre and subgenre, on the
    tracks that are in a playlist (a seeded sample of ``cfg.ami_sample`` on large catalogs)."""
    from sklearn.metrics import adjusted_mutual_info_score as ami

    out: dict = {"labels": "clusters with unclustered tracks at their nearest cluster",
                 "primary": "a track in several playlists counts its most frequent value"}
    for col in ("genre", "subgenre"):
        has = np.flatnonzero(playlists[col].notna().to_numpy())
        if len(has) < 2:
            out[col] = None
            continue
        rows = has[_sample(len(has), cfg.ami_sample, np.random.default_rng([seed, 2]))]
        truth = playlists[col].to_numpy()[rows].astype(str)
        out[col] = {"clusters": round(float(ami(truth, labels[rows])), 4)}
        if kmeans_labels is not None:
            out[col]["kmeans"] = round(float(ami(truth, kmeans_labels[rows])), 4)
        out[col].update(classes=int(len(set(truth))), tracks=int(len(rows)))
    return out


def _grid(cfg: ClusterConfig) -> list[dict]:
    return [{"min_cluster_size": m, "min_samples": s, "selection": sel}
            for m in cfg.min_cluster_sizes for s in cfg.min_samples for sel in cfg.selections]


@dataclass
class ClusterFit:
    """The setting chosen on the fit sample: all that labelling the other tracks and the
    report need, as JSON (:meth:`meta`) and four arrays, so that it can travel between
    processes as safe files (the Dask engine's partitioned clusters stage)."""

    space: str                # the clustering space chosen
    params: dict              # its HDBSCAN setting
    fit_rows: np.ndarray      # (n_fit,) sorted catalog rows HDBSCAN was fitted on
    labels: np.ndarray        # (n_fit,) int32 after fringe assignment
    probability: np.ndarray   # (n_fit,) float32
    membership: np.ndarray    # (n_fit, n_clusters) float32
    n_total: int              # tracks in the catalog
    scale: float              # min_cluster_size multiplier (catalogs above the reference)
    hdbscan_noise: float      # noise share before fringe assignment
    met: bool                 # both constraints hold
    candidates: list[dict]    # every setting tried, with its quick scores
    by_previous: bool         # chosen by agreement with a previous build

    def meta(self) -> dict:
        """Everything but the arrays, JSON-ready (``ClusterFit(**meta, fit_rows=...)``)."""
        return {k: v for k, v in vars(self).items() if not isinstance(v, np.ndarray)}


def build_clusters(spaces: dict[str, np.ndarray], cfg: ClusterConfig, seed: int,
                   playlists: pd.DataFrame | None = None,
                   previous: np.ndarray | None = None, min_jaccard: float = 0.1
                   ) -> ClusterResult:
    """Cluster in the configured space ("auto": every candidate space) over the settings
    grid and keep the most useful setting that meets the aims (see the module docstring):
    :func:`fit_clusters`, the other tracks labelled from the fitted ones, then
    :func:`finish_clusters`.

    Args:
        spaces: candidate spaces by name, each (n_tracks, d): "map2d", "umap_nd", "embedding".
        playlists: optional (n_tracks,) frame of primary "genre"/"subgenre"
            (:func:`playlist_genres`): the report then gives the clusters' AMI with them.
        previous: optional (n_tracks,) the previous build's cluster id of each track (-1
            unclustered, ``NOT_PREVIOUS`` for a track it did not hold): settings meeting
            the aims are then tried in order of agreement with it (matching at
            ``min_jaccard``, as the refit's alignment does).
    """
    fit = fit_clusters(spaces, cfg, seed, previous, min_jaccard)
    labels, probability, membership = fit.labels, fit.probability, fit.membership
    if fit.n_total > len(fit.fit_rows):
        labels, probability, membership = _extend(spaces[fit.space], fit.fit_rows, labels,
                                                  probability, membership, cfg.assign_k)
    return finish_clusters(spaces, fit, labels, probability, membership, cfg, seed, playlists)


def fit_clusters(spaces: dict[str, np.ndarray], cfg: ClusterConfig, seed: int,
                 previous: np.ndarray | None = None, min_jaccard: float = 0.1) -> ClusterFit:
    """HDBSCAN over the settings grid on the seeded fit sample, and the setting chosen
    (arguments as :func:`build_clusters`; only the sample's rows of ``spaces`` are read)."""
    names = [n for n in spaces if n != "embedding" or cfg.space in ("auto", "embedding")]
    names = names if cfg.space == "auto" else [cfg.space]
    n = len(next(iter(spaces.values())))
    fit_rows = _sample(n, cfg.fit_sample, np.random.default_rng([seed, 1]))
    fit = {k: np.asarray(v[fit_rows]) for k, v in spaces.items()}
    scale = max(1.0, len(fit_rows) / cfg.reference_tracks)  # cluster sizes as a share
    tried = _fit_grid(fit, names, cfg, scale, np.random.default_rng(seed))
    if previous is not None:
        _agreement(tried, previous[fit_rows], min_jaccard)
    pick = _choose(tried, fit, cfg, np.random.default_rng([seed, 3]))
    return ClusterFit(tried[pick.index][0], tried[pick.index][1], fit_rows, pick.labels,
                      pick.probability, pick.membership, n, scale, pick.hdbscan_noise,
                      pick.met, [{"space": s, **p, **q} for s, p, _, q in tried],
                      previous is not None)


def finish_clusters(spaces: dict[str, np.ndarray], fit: ClusterFit, labels: np.ndarray,
                    probability: np.ndarray, membership: np.ndarray, cfg: ClusterConfig,
                    seed: int, playlists: pd.DataFrame | None = None) -> ClusterResult:
    """The stage's result from every track's label (n_tracks,), strength (n_tracks,) and
    soft membership (n_tracks, n_clusters): nearest clusters, scores, the KMeans baseline
    and the playlist agreement, all on seeded samples or the clustering space."""
    name, n, n_fit = fit.space, fit.n_total, len(fit.fit_rows)
    report = score(spaces[name], labels, cfg, seed)
    nearest = membership.argmax(axis=1) if membership.shape[1] else np.full(len(labels), -1)
    nearest = np.where(labels >= 0, labels, nearest).astype(np.int32)
    km_labels, km_report = _kmeans(spaces[name], report["n_clusters"], cfg, seed)
    report = {"space": name, **report, "silhouette_space": name, "params": fit.params,
              "hdbscan_noise_share": fit.hdbscan_noise, "constraints_met": fit.met,
              "selection_rule": (
                  f"constraints: >= {cfg.min_clusters} clusters and <= {cfg.max_noise_share:.0%} "
                  f"unclustered after fringe assignment (a noise track joins its most likely "
                  f"cluster when its soft membership there is >= {cfg.fringe_ratio} x the "
                  "runner-up's); among settings meeting both, " + (
                      "the highest agreement with the previous build (share of shared "
                      "tracks keeping their id after one-to-one matching)"
                      if fit.by_previous else "the highest silhouette x clustered "
                      "share^2 (quick silhouette on 3000 points)") + ", tried best first, "
                  f"at most {cfg.max_membership_evals} with soft memberships"),
              "fitted_on": (f"all {n} tracks" if n == n_fit else
                            f"{n_fit} sampled tracks (min_cluster_size x {fit.scale:.2f}); "
                            f"the other {n - n_fit} take the label of their "
                            f"{cfg.assign_k} nearest fitted tracks"),
              "candidates": fit.candidates,
              "kmeans_baseline": km_report}
    if name != "embedding" and "embedding" in spaces and report["n_clusters"] >= 2:
        report["silhouette_in_embedding"] = _silhouette(spaces["embedding"], labels, cfg, seed)
    if playlists is not None:
        report["playlist_ami"] = playlist_agreement(nearest, km_labels, playlists, cfg, seed)
    return ClusterResult(labels, probability, membership, nearest, report)


def _fit_grid(fit: dict[str, np.ndarray], names: list[str], cfg: ClusterConfig, scale: float,
              rng: np.random.Generator) -> list[tuple]:
    """(space, params, fitted HDBSCAN, quick score) for every grid setting in every space."""
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
    return tried


@dataclass
class _Pick:
    index: int                # into the tried settings
    labels: np.ndarray        # (n_fitted,) after fringe assignment
    probability: np.ndarray   # (n_fitted,)
    membership: np.ndarray    # (n_fitted, n_clusters)
    hdbscan_noise: float      # noise share before fringe assignment
    met: bool                 # both constraints hold


def _choose(tried: list[tuple], fit: dict[str, np.ndarray], cfg: ClusterConfig,
            rng: np.random.Generator) -> _Pick:
    """The most useful setting that meets both constraints after fringe assignment.

    Settings with enough clusters are tried in order of usefulness; soft memberships (the
    costly part) are computed only for the ones tried. If none of the tried ones meets the
    noise limit, the one with the least noise is kept and ``met`` is False."""
    order = sorted(range(len(tried)), key=lambda i: (
        -tried[i][3].get("agreement_with_previous", 0.0),
        -_usefulness(tried[i][3], cfg.min_clusters)))
    eligible = [i for i in order if tried[i][3]["n_clusters"] >= cfg.min_clusters]
    picks = []
    for i in (eligible or order)[:cfg.max_membership_evals]:
        name, _, fitted, quick = tried[i]
        k = int(fitted.labels_.max() + 1)
        membership = soft_membership(fitted, k)
        labels, probability = assign_fringe(fitted.labels_, fitted.probabilities_, membership,
                                            cfg.fringe_ratio)
        quick.update(_quick_score(fit[name], labels, rng, prefix="after_fringe_"))
        picks.append(_Pick(i, labels, probability, membership, quick["noise_share"],
                           bool(eligible) and quick["after_fringe_noise_share"]
                           <= cfg.max_noise_share))
        if picks[-1].met:
            return picks[-1]
    best = min(picks, key=lambda p: tried[p.index][3]["after_fringe_noise_share"])
    log.warning("no clustering setting met the aims (>= %d clusters, <= %.0f%% unclustered); "
                "keeping %s", cfg.min_clusters, 100 * cfg.max_noise_share, tried[best.index][1])
    return best


def _agreement(tried: list[tuple], previous: np.ndarray, min_jaccard: float) -> None:
    """Add each setting's agreement with the previous labels (its HDBSCAN labels, on the
    fitted tracks the previous build held) to its quick score."""
    held = previous != NOT_PREVIOUS
    for _, _, fitted, quick in tried:
        quick["agreement_with_previous"] = round(
            kept_share(previous[held], fitted.labels_[held], min_jaccard), 4)


def assign_fringe(labels: np.ndarray, probability: np.ndarray, membership: np.ndarray,
                  ratio: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Noise tracks whose most likely cluster is unambiguous join it.

    A noise track joins cluster c = argmax of its soft membership when membership[c] >=
    ``ratio`` x its second largest membership; its strength is then membership[c]. Needs at
    least two clusters (with one, every track would qualify). ``ratio`` None: unchanged.

    Args:
        labels: (n,) HDBSCAN labels, -1 noise; probability: (n,); membership: (n, k).
    Returns:
        (labels (n,) int32, probability (n,) float32).
    """
    labels = labels.astype(np.int32)
    probability = probability.astype(np.float32)
    if ratio is None or membership.shape[1] < 2:
        return labels, probability
    top2 = np.sort(membership, axis=1)[:, -2:]
    take = (labels < 0) & (top2[:, 1] > 0) & (top2[:, 1] >= ratio * top2[:, 0])
    labels[take] = membership[take].argmax(axis=1)
    probability[take] = top2[take, 1]
    return labels, probability


def _extend(x: np.ndarray, fit_rows: np.ndarray, labels: np.ndarray, probability: np.ndarray,
            membership: np.ndarray, k: int, batch: int = 200_000
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, strengths and soft memberships for every track from the fitted sample.

    Each unfitted track takes the majority label of its ``k`` nearest fitted tracks in
    ``x`` (noise counts as a label), their mean strength for that label and their mean
    membership vector. Returns arrays over all n tracks (fitted rows keep their values).
    """
    n, n_clusters = len(x), membership.shape[1]
    out_l = np.empty(n, np.int32)
    out_p = np.empty(n, np.float32)
    out_m = np.empty((n, n_clusters), np.float32)
    out_l[fit_rows], out_p[fit_rows], out_m[fit_rows] = labels, probability, membership
    rest = np.setdiff1d(np.arange(n), fit_rows)
    out_l[rest], out_p[rest], out_m[rest] = assign_labels(
        x[fit_rows], labels, probability, membership, x[rest], k, batch)
    return out_l, out_p, out_m


def _quick_score(x: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                 prefix: str = "") -> dict:
    from sklearn.metrics import silhouette_score

    clustered = np.flatnonzero(labels >= 0)
    k = int(labels.max() + 1) if len(clustered) else 0
    sil = None
    if k >= 2:
        rows = clustered[_sample(len(clustered), 3000, rng)]
        sil = round(float(silhouette_score(x[rows], labels[rows])), 4)
    return {prefix + "n_clusters": k, prefix + "noise_share": round(float((labels < 0).mean()), 4),
            prefix + "silhouette": sil}


def _usefulness(r: dict, min_clusters: int) -> float:
    """Silhouette times the clustered share squared (unclustered tracks cost a curator
    twice: they are neither browsable nor scored), of HDBSCAN's own labels; it only orders
    the settings, the constraints decide (:func:`_choose`). Fewer than ``min_clusters``
    ranks last."""
    if r["silhouette"] is None:
        return -2.0
    value = r["silhouette"] * (1 - r["noise_share"]) ** 2
    return value if r["n_clusters"] >= min_clusters else value - 1.0
