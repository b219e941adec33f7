"""Cluster labels for tracks the clusterer was not fitted on, from their nearest fitted
tracks in the clustering space (HDBSCAN's approximate prediction without the pickled
clusterer: we ship no pickles, so it works from saved arrays).

Used by the clustering stage for catalogs above its fit sample and by catalog updates
(:mod:`pipeline.build.update`) for new and edited tracks.
"""
from __future__ import annotations

import numpy as np


def assign_labels(ref: np.ndarray, labels: np.ndarray, probability: np.ndarray,
                  membership: np.ndarray, queries: np.ndarray, k: int,
                  batch: int = 200_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label, strength and soft membership of each query from its ``k`` nearest ``ref`` rows.

    A query takes the majority label of its neighbours (noise counts as a label; ties go to
    the lower id, noise first), their mean strength for that label and their mean
    membership vector (renormalised).

    Args:
        ref: (n_ref, d) clustering-space points of labelled tracks; labels (n_ref,) int,
            -1 = noise; probability (n_ref,); membership (n_ref, n_columns), column j =
            cluster j.
        queries: (n_q, d) points to label.
    Returns:
        (labels (n_q,) int32, probability (n_q,) float32, membership (n_q, n_columns)).
    """
    from scipy.spatial import cKDTree

    n_columns = membership.shape[1]
    n_bins = max(n_columns, int(labels.max(initial=-1)) + 1) + 1
    out_l = np.empty(len(queries), np.int32)
    out_p = np.empty(len(queries), np.float32)
    out_m = np.empty((len(queries), n_columns), np.float32)
    if len(queries) == 0:
        return out_l, out_p, out_m
    tree = cKDTree(ref)
    for i0 in range(0, len(queries), batch):
        rows = np.arange(i0, min(i0 + batch, len(queries)))
        _, nb = tree.query(queries[rows], k=min(k, len(ref)))
        nb = nb.reshape(len(rows), -1)
        votes = np.zeros((len(rows), n_bins), np.int32)
        np.add.at(votes, (np.repeat(np.arange(len(rows)), nb.shape[1]), labels[nb].ravel() + 1),
                  1)
        lab = votes.argmax(axis=1) - 1
        same = labels[nb] == lab[:, None]
        out_l[rows] = lab
        out_p[rows] = np.where(lab >= 0, (probability[nb] * same).sum(1)
                               / np.maximum(same.sum(1), 1), 0.0)
        m = membership[nb].mean(axis=1)
        out_m[rows] = m / np.maximum(m.sum(axis=1, keepdims=True), 1e-12)
    return out_l, out_p, out_m
