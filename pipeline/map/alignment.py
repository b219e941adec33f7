"""Keep a refitted map where the previous one was: align the 2-D map by Procrustes and hand
the old cluster ids (and names) to the new clusters they overlap most.

A refit (UMAP and HDBSCAN fitted again) draws a map whose rotation, reflection, scale and
position are arbitrary, and numbers its clusters in an arbitrary order. Both are fixed
against the previous build on the tracks the two builds share:

- :func:`procrustes`: the similarity transform (rotation or reflection, one scale, a
  translation) that moves the new coordinates closest to the old ones (least squares).
  HDBSCAN's clusters do not change under it (every distance scales by the same factor).
- :func:`match_clusters`: one-to-one matching of new to old clusters maximising the shared
  tracks (Hungarian algorithm on the contingency table); a match needs a Jaccard overlap of
  at least ``min_jaccard``. :func:`relabel` gives unmatched new clusters fresh ids above
  every id ever used, so an id never comes back meaning another cluster.

Pure functions over arrays; no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOISE = -1


@dataclass(frozen=True)
class Similarity:
    """``x -> scale * x @ rotation + translation`` (rotation orthogonal, det +-1)."""

    rotation: np.ndarray     # (d, d)
    scale: float
    translation: np.ndarray  # (d,)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(n, d) points -> (n, d) transformed, float32."""
        return (self.scale * x.astype(np.float64) @ self.rotation
                + self.translation).astype(np.float32)


def procrustes(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The similarity transform that best maps ``source`` onto ``target`` (least squares).

    Orthogonal Procrustes with scale and translation (Umeyama's solution; reflections
    allowed: a UMAP map and its mirror image are equally valid drawings).

    Args:
        source, target: (n, d) corresponding points, n >= d + 1.
    """
    if source.shape != target.shape or len(source) < source.shape[1] + 1:
        raise ValueError(f"procrustes needs two (n, d) arrays of the same shape with "
                         f"n > d; got {source.shape} and {target.shape}.")
    x, y = source.astype(np.float64), target.astype(np.float64)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    u, s, vt = np.linalg.svd(xc.T @ yc)
    rotation = u @ vt
    norm = float((xc ** 2).sum())
    scale = float(s.sum() / norm) if norm > 0 else 1.0
    return Similarity(rotation, scale, my - scale * mx @ rotation)


def extent_diagonal(coords: np.ndarray) -> float:
    """Length of the diagonal of the box holding the middle 99% of the points (a few
    far outliers do not set the map's scale)."""
    lo, hi = np.percentile(coords, [0.5, 99.5], axis=0)
    return float(np.linalg.norm(hi - lo)) or 1.0


def displacement_share(before: np.ndarray, after: np.ndarray) -> float:
    """Mean distance each point moved, as a share of ``before``'s extent diagonal."""
    if len(before) == 0:
        return 0.0
    moved = np.linalg.norm(after.astype(np.float64) - before, axis=1).mean()
    return float(moved / extent_diagonal(before))


def contingency(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared-track counts between old and new clusters (noise left out).

    Args:
        old, new: (n_shared,) cluster ids of the same tracks in the two builds.
    Returns:
        (old ids (a,), new ids (b,), counts (a, b)).
    """
    old_ids = np.unique(old[old != NOISE])
    new_ids = np.unique(new[new != NOISE])
    table = np.zeros((len(old_ids), len(new_ids)), np.int64)
    both = (old != NOISE) & (new != NOISE)
    np.add.at(table, (np.searchsorted(old_ids, old[both]), np.searchsorted(new_ids, new[both])), 1)
    return old_ids, new_ids, table


def match_clusters(old: np.ndarray, new: np.ndarray, min_jaccard: float
                   ) -> dict[int, int]:
    """One-to-one matching of new clusters to old ones on the tracks both builds share.

    The Hungarian algorithm maximises the total number of shared tracks over the pairs;
    a pair is kept only when its Jaccard overlap |A and B| / |A or B| (counted over the
    shared tracks) reaches ``min_jaccard``.

    Args:
        old, new: (n_shared,) cluster ids of the same tracks, -1 = noise.
    Returns:
        {new id: old id} for the matched clusters.
    """
    from scipy.optimize import linear_sum_assignment

    old_ids, new_ids, table = contingency(old, new)
    if table.size == 0:
        return {}
    rows, cols = linear_sum_assignment(table, maximize=True)
    size_old = np.array([(old == c).sum() for c in old_ids])
    size_new = np.array([(new == c).sum() for c in new_ids])
    out = {}
    for r, c in zip(rows, cols):
        inter = table[r, c]
        if inter and inter / (size_old[r] + size_new[c] - inter) >= min_jaccard:
            out[int(new_ids[c])] = int(old_ids[r])
    return out


def kept_share(old: np.ndarray, new: np.ndarray, min_jaccard: float) -> float:
    """Share of tracks whose id stays after :func:`match_clusters` hands the old ids to
    the new clusters (noise kept as noise counts as kept): what a refit's alignment keeps.

    Args:
        old, new: (n_shared,) cluster ids of the same tracks, -1 = noise.
    """
    if len(old) == 0:
        return 1.0
    matched = match_clusters(old, new, min_jaccard)
    ids = np.unique(new)  # an unmatched cluster's id is new: never equal to an old one
    final = np.array([matched.get(int(c), NOISE if c == NOISE else -2) for c in ids])
    return float((final[np.searchsorted(ids, new)] == old).mean())


def relabel(labels: np.ndarray, matched: dict[int, int], next_id: int
            ) -> tuple[np.ndarray, dict[int, int]]:
    """New cluster ids: matched clusters take their old id, the others fresh ids from
    ``next_id`` up (in the order of their current id); noise stays -1.

    Returns:
        (relabelled (n,) int32, {current id: final id} for every cluster).
    """
    mapping = dict(matched)
    for c in sorted(int(c) for c in np.unique(labels) if c != NOISE and c not in matched):
        mapping[c] = next_id
        next_id += 1
    lut = {NOISE: NOISE, **mapping}
    out = np.array([lut[int(c)] for c in labels], np.int32) if len(labels) else \
        np.zeros(0, np.int32)
    return out, mapping


def remap_columns(membership: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Soft memberships with column j moved to column ``mapping[j]``: (n, max id + 1),
    zero columns for ids no cluster holds (column j is always cluster j)."""
    width = max(mapping.values(), default=-1) + 1
    out = np.zeros((len(membership), width), np.float32)
    for old, new in mapping.items():
        if old < membership.shape[1]:
            out[:, new] = membership[:, old]
    return out


def remap_list(values: list, mapping: dict[int, int], fill=None) -> list:
    """A per-cluster list indexed by id (report sizes, silhouettes), re-indexed by the
    final ids; ``fill`` for ids no cluster holds."""
    width = max(mapping.values(), default=-1) + 1
    out = [fill] * width
    for old, new in mapping.items():
        if old < len(values):
            out[new] = values[old]
    return out
