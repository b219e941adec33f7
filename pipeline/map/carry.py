"""Carry cluster ids through a refit where the new clustering space supports them
(evolutionary clustering).

A refit fits HDBSCAN again on a retrained map. One-to-one matching hands the old ids to
the fresh clusters (:mod:`pipeline.map.alignment`), but the fresh partition cuts the map
elsewhere: on the default catalog only 59% of the shared tracks kept their id that way,
and no id hand-over of that partition could keep more than 60.5% (docs/UPDATES.md).

The final partition trades the two costs of evolutionary clustering (Chakrabarti, Kumar
and Tomkins, KDD 2006): a *snapshot* cost (a track's label disagrees with its neighbours
in the new clustering space) and a *history* cost (a track's label differs from its
anchor, for a track the previous build held its previous id). Each track takes the label
``c`` that maximises

    share of its k nearest tracks (new space, itself excluded) labelled c
    + stickiness * [c == its anchor]

found by iterated conditional modes from the anchors (synchronous sweeps until no label
changes; at most ``MAX_SWEEPS``). A track leaves its previous id only when the share of
its neighbours holding another label exceeds the share holding its own by more than
``stickiness``: its new neighbourhood clearly belongs elsewhere. Stickiness 0 is plain
neighbour smoothing; 1 or more keeps every previous id.

Anchors (noise, -1, is a label as in :func:`pipeline.map.assign_labels`):

- a track the previous build held: its previous id (noise stays noise unless its new
  neighbourhood clearly is a cluster);
- a track of a *new* fresh cluster (matched to no previous cluster, and most of its
  members were in no previous cluster: new tracks or previous noise): that fresh id, so
  genuinely new structure keeps the id the refit gave it;
- any other new track: its fresh label (matched id or noise); none when its fresh cluster
  is an unmatched re-cut of old clusters (it then follows its neighbours).

A cluster left with fewer than ``min_size`` tracks (fewer than HDBSCAN would accept) is
dissolved: its id is barred and the sweeps run again.

Pure functions over arrays; no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import ClusterConfig

from .clustering import NOT_PREVIOUS, _silhouette, playlist_agreement, score

NOISE = -1
MAX_SWEEPS = 30     # synchronous sweeps; on the default catalog they settle in 6-20
_BATCH = 100_000    # rows per vote block: (rows, labels) counts stay small at 1M tracks


@dataclass
class Carried:
    labels: np.ndarray      # (n,) int32 final cluster ids, -1 = unclustered
    support: np.ndarray     # (n,) float32 share of the k nearest tracks holding that label
    neighbours: np.ndarray  # (n, k) int rows of each track's k nearest tracks (itself excluded)
    anchor: np.ndarray      # (n,) int anchor label, NOT_PREVIOUS where none
    sweeps: int             # sweeps run (all rounds)
    dissolved: list[int]    # ids barred for being smaller than min_size


def anchors(fresh: np.ndarray, previous: np.ndarray, new_share: float = 0.5) -> np.ndarray:
    """Each track's anchor label (see the module docstring).

    Args:
        fresh: (n,) the refit's labels after id matching (matched clusters carry their old
            id, unmatched ones ids above every id ever used), -1 = noise.
        previous: (n,) the previous build's id, -1 noise, ``NOT_PREVIOUS`` for a new track.
        new_share: an unmatched fresh cluster is new structure when fewer than this share
            of its tracks were in a previous cluster.
    Returns:
        (n,) anchor labels, ``NOT_PREVIOUS`` where a track has none.
    """
    held = previous != NOT_PREVIOUS
    old_ids = set(np.unique(previous[previous >= 0]).tolist())
    out = np.where(held, previous, fresh).astype(np.int64)
    for c in np.unique(fresh[fresh >= 0]):
        if int(c) in old_ids:
            continue
        members = fresh == c
        if (previous[members] >= 0).mean() < new_share:  # new structure: the fresh id
            out[members] = c
        else:  # a re-cut of old clusters: its new tracks follow their neighbours
            out[members & ~held] = NOT_PREVIOUS
    return out


def carry_labels(x: np.ndarray, fresh: np.ndarray, previous: np.ndarray, k: int,
                 stickiness: float, min_size: int, new_share: float = 0.5) -> Carried:
    """The final partition of a refit (see the module docstring).

    Args:
        x: (n, d) the refit's clustering space.
        fresh, previous, new_share: as in :func:`anchors`.
        k: neighbours per track; stickiness: the history weight; min_size: smallest
            cluster kept.
    """
    from scipy.spatial import cKDTree

    n = len(x)
    anchor = anchors(fresh, previous, new_share)
    k = max(1, min(k, n - 1))
    _, nb = cKDTree(x).query(x, k=k + 1)
    nb = _drop_self(np.asarray(nb).reshape(n, -1))
    ids = np.unique(np.concatenate([[NOISE], anchor[anchor != NOT_PREVIOUS], fresh]))
    has = anchor != NOT_PREVIOUS
    a_idx = np.where(has, np.searchsorted(ids, np.where(has, anchor, NOISE)), 0)
    weight = np.where(has, stickiness, 0.0).astype(np.float32)
    start = np.where(has, a_idx, np.searchsorted(ids, fresh))
    barred = np.zeros(len(ids), bool)
    lab, sweeps, dissolved = start, 0, []
    while True:
        lab, used = _settle(nb, np.where(barred[start], 0, start), a_idx, weight, barred)
        sweeps += used
        sizes = np.bincount(lab, minlength=len(ids))
        small = (sizes > 0) & (sizes < min_size) & (ids != NOISE) & ~barred
        if not small.any():
            break
        barred |= small
        dissolved += ids[small].tolist()
    votes_own = (lab[nb] == lab[:, None]).mean(axis=1)
    return Carried(ids[lab].astype(np.int32), votes_own.astype(np.float32), nb,
                   anchor, sweeps, sorted(int(c) for c in dissolved))


def _drop_self(nb: np.ndarray) -> np.ndarray:
    """(n, k + 1) query results -> (n, k) without the row itself (duplicates of a point
    may come first, so the row is removed where it is, else the last column)."""
    rows = np.arange(len(nb))[:, None]
    is_self = nb == rows
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), nb.shape[1] - 1)
    keep = np.ones(nb.shape, bool)
    keep[np.arange(len(nb)), drop] = False
    return nb[keep].reshape(len(nb), nb.shape[1] - 1)


def _settle(nb: np.ndarray, lab: np.ndarray, a_idx: np.ndarray, weight: np.ndarray,
            barred: np.ndarray) -> tuple[np.ndarray, int]:
    """Synchronous ICM sweeps from ``lab`` (label indices) until nothing changes."""
    for sweep in range(1, MAX_SWEEPS + 1):
        new = _sweep(nb, lab, a_idx, weight, barred)
        if np.array_equal(new, lab):
            return new, sweep
        lab = new
    return lab, MAX_SWEEPS


def _sweep(nb: np.ndarray, lab: np.ndarray, a_idx: np.ndarray, weight: np.ndarray,
           barred: np.ndarray) -> np.ndarray:
    """One sweep: every track's best label given its neighbours' current labels."""
    n, k = nb.shape
    m = len(barred)
    out = np.empty(n, np.int64)
    for i0 in range(0, n, _BATCH):
        rows = np.arange(i0, min(i0 + _BATCH, n))
        score = _shares(lab[nb[rows]], m)
        score[np.arange(len(rows)), a_idx[rows]] += weight[rows]
        score[:, barred] = -np.inf
        out[rows] = score.argmax(axis=1)  # ties: the lower id (noise first)
    return out


def _shares(labels: np.ndarray, m: int) -> np.ndarray:
    """(rows, k) label indices -> (rows, m) share of each label per row."""
    rows, k = labels.shape
    flat = np.repeat(np.arange(rows), k) * m + labels.ravel()
    return (np.bincount(flat, minlength=rows * m).reshape(rows, m) / k).astype(np.float32)


def neighbour_membership(labels: np.ndarray, neighbours: np.ndarray, rows: np.ndarray,
                         width: int) -> np.ndarray:
    """Soft membership of ``rows`` from their neighbours' final labels: the share of
    their k nearest tracks in each cluster (noise left out, rows summing to 1; all zero
    when every neighbour is unclustered). Column j = cluster j.

    Returns:
        (len(rows), width) float32.
    """
    lab = labels[neighbours[rows]]
    out = np.zeros((len(rows), width), np.float32)
    r, c = np.nonzero(lab >= 0)
    np.add.at(out, (r, lab[r, c]), 1.0)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1.0)


def partition_figures(x: np.ndarray, labels: np.ndarray, nearest: np.ndarray,
                      cfg: ClusterConfig, seed: int, embedding: np.ndarray | None = None,
                      genres: pd.DataFrame | None = None) -> dict:
    """The cluster report's figures for a partition whose ids need not be contiguous:
    what the clusters stage reports (:func:`pipeline.map.score`: silhouette and DBCV on
    the same seeded samples, noise share; ``sizes`` and ``per_cluster_silhouette``
    indexed by id, 0 / None for ids no cluster holds), the silhouette in the embedding
    and the playlist AMI of ``nearest`` (unclustered tracks at their nearest cluster).

    Args:
        x: (n, d) clustering space; labels, nearest: (n,) ids; embedding: (n, e);
        genres: (n,) frame of primary "genre"/"subgenre" (:func:`playlist_genres`).
    """
    ids = np.unique(labels[labels >= 0])
    dense = np.where(labels >= 0, np.searchsorted(ids, labels), NOISE)
    out = score(x, dense, cfg, seed)
    width = int(ids.max(initial=-1)) + 1
    sizes, per = [0] * width, [None] * width
    for i, c in enumerate(ids.tolist()):
        sizes[c] = out["sizes"][i]
        if i < len(out["per_cluster_silhouette"]):
            per[c] = out["per_cluster_silhouette"][i]
    out.update(n_clusters=int(len(ids)), sizes=sizes, per_cluster_silhouette=per)
    if embedding is not None and len(ids) >= 2:  # the clusters stage's sample (same seed)
        out["silhouette_in_embedding"] = _silhouette(embedding, labels, cfg, seed)
    if genres is not None:
        agreement = playlist_agreement(nearest, None, genres, cfg, seed)
        out["playlist_ami"] = {col: agreement[col]["clusters"]
                               for col in ("genre", "subgenre") if agreement[col]}
    return out
