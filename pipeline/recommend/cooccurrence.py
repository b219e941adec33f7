"""Playlist co-occurrence from memberships, as sparse products (never an n x n matrix).

The track-by-playlist incidence ``M`` (n_tracks, n_playlists) is tiny (one entry per
membership). The co-occurrence row of a seed is ``M[seed] @ M.T``: computed per query,
in a few hundred microseconds, so nothing quadratic is stored. The same trick on an
artist-by-playlist incidence gives artist co-occurrence.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

FEW_ROWS = 16   # up to this many seed rows, products gather instead of calling scipy


def incidence(keys: pd.Series, memberships: pd.DataFrame,
              key_col: str = "track_id") -> tuple[sp.csr_matrix, np.ndarray]:
    """Binary incidence of ``keys`` (rows) by playlist (columns).

    Args:
        keys: (n_rows,) the row keys, e.g. the catalog's track ids in row order.
        memberships: table with ``key_col`` and ``playlist_id``; unknown keys are ignored.
    Returns:
        (csr matrix (n_rows, n_playlists) float32, playlist ids (n_playlists,)).
    """
    row_of = pd.Series(np.arange(len(keys)), index=pd.Index(keys))
    rows = row_of.reindex(memberships[key_col].to_numpy()).to_numpy()
    ok = ~np.isnan(rows)
    pl_ids, cols = np.unique(memberships["playlist_id"].to_numpy()[ok].astype(str),
                             return_inverse=True)
    m = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (rows[ok].astype(np.int64), cols)),
                      shape=(len(keys), len(pl_ids)))
    m.data[:] = 1.0  # duplicates collapse to one membership
    return m, pl_ids


@dataclass
class Cooccurrence:
    """Co-occurrence counts of tracks (and of artists) in a set of playlists.

    Attributes:
        m: (n_tracks, n_playlists) track incidence.
        artist_m: (n_artists, n_playlists) artist incidence (an artist is in a playlist
            when any of its tracks is).
        artist_code: (n_tracks,) artist index of each track row.
        degree: (n_tracks,) number of playlists of each track.
        mt / artist_mt: the transposes as CSR, made once: a product with ``m.T`` (CSC)
            would convert it on every call, O(memberships) per query.
    """

    m: sp.csr_matrix
    artist_m: sp.csr_matrix
    artist_code: np.ndarray
    degree: np.ndarray
    mt: sp.csr_matrix = field(init=False, repr=False)
    artist_mt: sp.csr_matrix = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.mt = self.m.T.tocsr()
        self.artist_mt = self.artist_m.T.tocsr()

    @classmethod
    def fit(cls, tracks: pd.DataFrame, memberships: pd.DataFrame) -> Cooccurrence:
        """Counts from ``memberships`` only: pass the training playlists to avoid leakage."""
        m, _ = incidence(tracks["track_id"], memberships)
        codes, _ = pd.factorize(tracks["artist"])
        n_art = int(codes.max()) + 1 if len(codes) else 0
        to_artist = sp.csr_matrix((np.ones(len(codes), np.float32),
                                   (codes, np.arange(len(codes)))), shape=(n_art, len(codes)))
        artist_m = (to_artist @ m).tocsr()
        artist_m.data[:] = 1.0
        return cls(m, artist_m, codes.astype(np.int64), np.asarray(m.sum(1)).ravel())

    @property
    def has_playlists(self) -> bool:
        return self.m.nnz > 0

    def counts(self, rows: np.ndarray) -> sp.csr_matrix:
        """Shared-playlist counts of each seed row with every track: (n_seeds, n_tracks)."""
        return rows_product(self.m, rows, self.mt)

    def artist_counts(self, rows: np.ndarray) -> sp.csr_matrix:
        """Playlists shared by each seed's artist and every artist: (n_seeds, n_artists)."""
        return rows_product(self.m, rows, self.artist_mt)

    def artist_artist_counts(self, rows: np.ndarray) -> sp.csr_matrix:
        """Playlists holding both the seed's artist and each artist: (n_seeds, n_artists).

        Known even when the seed itself has no playlist but its artist's other tracks do.
        """
        return rows_product(self.artist_m, self.artist_code[rows], self.artist_mt)

    def top_artists(self, rows: np.ndarray, n: int) -> list[np.ndarray]:
        """Per seed, up to ``n`` artists most often in a playlist with the seed's artist
        (the seed's own artist excluded)."""
        c = self.artist_artist_counts(rows)
        out = []
        for i, seed in enumerate(rows):
            lo, hi = c.indptr[i], c.indptr[i + 1]
            idx, val = c.indices[lo:hi], c.data[lo:hi]
            keep = idx != self.artist_code[seed]
            idx, val = idx[keep], val[keep]
            out.append(idx[np.lexsort((idx, -val))[:n]])
        return out

    def top(self, rows: np.ndarray, n: int) -> list[np.ndarray]:
        """Per seed, up to ``n`` co-occurring track rows, most shared playlists first.

        Ties break by playlist degree (more playlists first), then row index; the seed
        itself is never returned.
        """
        c = self.counts(rows)
        out = []
        for i, seed in enumerate(rows):
            lo, hi = c.indptr[i], c.indptr[i + 1]
            idx, val = c.indices[lo:hi], c.data[lo:hi]
            keep = idx != seed
            idx, val = idx[keep], val[keep]
            order = np.lexsort((idx, -self.degree[idx], -val))[:n]
            out.append(idx[order])
        return out


def rows_product(a: sp.csr_matrix, rows: np.ndarray, bt: sp.csr_matrix) -> sp.csr_matrix:
    """``a[rows] @ bt`` as CSR with sorted indices: (len(rows), bt.shape[1]).

    Up to ``FEW_ROWS`` rows (serving: one seed), the entries are gathered from the rows of
    ``bt`` the seeds touch, so the cost follows the seeds' playlists; scipy's product also
    makes a pass over all ``bt.shape[1]`` columns per call (1M tracks: ~0.5 ms each).
    """
    if len(rows) > FEW_ROWS:
        out = (a[rows] @ bt).tocsr()
        out.sort_indices()
        return out
    indptr, indices, data = [0], [], []
    for r in rows:
        ks = a.indices[a.indptr[r]:a.indptr[r + 1]]
        w = a.data[a.indptr[r]:a.indptr[r + 1]]
        lens = bt.indptr[ks + 1] - bt.indptr[ks]
        pos = np.repeat(bt.indptr[ks] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        cols, inv = np.unique(bt.indices[pos], return_inverse=True)
        vals = np.bincount(inv, weights=np.repeat(w, lens) * bt.data[pos], minlength=len(cols))
        keep = vals != 0
        indices.append(cols[keep])
        data.append(vals[keep].astype(np.float32))
        indptr.append(indptr[-1] + int(keep.sum()))
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), np.array(indptr)),
                         shape=(len(rows), bt.shape[1]))


def lookup(mat: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values ``mat[rows[j], cols[j]]`` for flat index arrays, zeros where absent. (n_pairs,)"""
    if len(rows) == 0:
        return np.zeros(0, np.float32)
    return np.asarray(mat[rows, cols]).ravel().astype(np.float32)
