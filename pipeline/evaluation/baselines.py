"""The approaches the seed work tried, as recommenders under one contract.

Every method maps seed rows (m,) to a ranked (m, depth) array of track rows: distinct,
never the seed itself, -1 only if the catalog is smaller than ``depth``. They are fitted
only on what they are given (features, an embedding, training co-occurrence).
"""
from __future__ import annotations

import logging

import numpy as np

from pipeline.map import unit_rows
from pipeline.recommend import Cooccurrence

log = logging.getLogger(__name__)
AUDIO_ONLY_DROP = ("year", "popularity")


def _drop_self(idx: np.ndarray, seeds: np.ndarray, depth: int) -> np.ndarray:
    """Remove each seed from its own row of candidates; keep the first ``depth``."""
    out = np.full((len(seeds), depth), -1, np.int64)
    for i, s in enumerate(seeds):
        row = idx[i][idx[i] != s][:depth]
        out[i, :len(row)] = row
    return out


def top_by_score(query: np.ndarray, base: np.ndarray, seeds: np.ndarray, depth: int,
                 penalty=None, block: int = 1024) -> np.ndarray:
    """Top rows by cosine of ``query`` (m, d) against ``base`` (n, d), seed excluded.

    Args:
        penalty: optional callable (block_rows slice) -> (b, n) array subtracted from the
            cosine (used to keep neighbours inside a cluster).
    Returns:
        (m, depth) track rows.
    """
    import torch

    b = torch.from_numpy(unit_rows(base.astype(np.float32)))
    q = unit_rows(query.astype(np.float32))
    k = min(depth + 1, len(base))
    idx = np.empty((len(q), k), np.int64)
    for i0 in range(0, len(q), block):
        s = torch.from_numpy(q[i0:i0 + block]) @ b.T
        if penalty is not None:
            s = s - torch.from_numpy(penalty(slice(i0, i0 + block)))
        idx[i0:i0 + block] = torch.topk(s, k, dim=1).indices.numpy()
    return _drop_self(idx, seeds, depth)


def random_method(n: int, seeds: np.ndarray, depth: int, seed: int) -> np.ndarray:
    """Uniformly random tracks, seeded. (m, depth)"""
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.choice(n, min(depth + 1, n), replace=False) for _ in seeds])
    return _drop_self(idx, seeds, depth)


def popularity_method(popularity: np.ndarray, seeds: np.ndarray, depth: int) -> np.ndarray:
    """The most popular tracks of the catalog (ties by row). (m, depth)"""
    order = np.lexsort((np.arange(len(popularity)), -popularity))[:depth + 1]
    return _drop_self(np.tile(order, (len(seeds), 1)), seeds, depth)


def cosine_method(x: np.ndarray, seeds: np.ndarray, depth: int) -> np.ndarray:
    """Cosine on scaled features (the seed's "naive" method) or on any embedding."""
    return top_by_score(x[seeds], x, seeds, depth)


def kmeans_nn_method(x: np.ndarray, seeds: np.ndarray, depth: int, seed: int,
                     n_clusters: int = 20) -> np.ndarray:
    """KMeans on the features, then cosine neighbours inside the seed's cluster first."""
    from sklearn.cluster import KMeans

    k = max(1, min(n_clusters, len(x) // 5))
    labels = KMeans(k, random_state=seed, n_init=3).fit_predict(x)
    seed_lab = labels[seeds]

    def penalty(sl: slice) -> np.ndarray:
        return (seed_lab[sl, None] != labels[None, :]).astype(np.float32) * 4.0

    return top_by_score(x[seeds], x, seeds, depth, penalty=penalty)


def autoencoder_embedding(x: np.ndarray, seed: int, dim: int = 8, epochs: int = 15,
                          threads: int = 2) -> np.ndarray:
    """A small dense autoencoder (torch); returns the bottleneck codes (n, dim)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    nn = torch.nn
    enc = nn.Sequential(nn.Linear(x.shape[1], 64), nn.GELU(), nn.Linear(64, dim))
    dec = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, x.shape[1]))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    xt = torch.from_numpy(x.astype(np.float32))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(xt), generator=gen).split(512):
            loss = nn.functional.mse_loss(dec(enc(xt[batch])), xt[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return enc(xt).numpy()


def cooccurrence_method(cooc: Cooccurrence, popularity: np.ndarray, seeds: np.ndarray,
                        depth: int) -> np.ndarray:
    """Tracks sharing the most training playlists with the seed; popular tracks fill up."""
    fill = np.lexsort((np.arange(len(popularity)), -popularity))[:depth + 1]
    out = np.full((len(seeds), depth), -1, np.int64)
    for i, (s, row) in enumerate(zip(seeds, cooc.top(seeds, depth))):
        extra = fill[~np.isin(fill, row) & (fill != s)]
        both = np.concatenate([row, extra])[:depth]
        out[i, :len(both)] = both
    return out


def artist_then_cosine_method(emb: np.ndarray, artist: np.ndarray, seeds: np.ndarray,
                              depth: int) -> np.ndarray:
    """The seed work's best prototype: same-artist tracks first, then embedding cosine."""
    def same(sl: slice) -> np.ndarray:  # a negative penalty lifts same-artist tracks
        return -2.0 * (artist[seeds[sl], None] == artist[None, :]).astype(np.float32)

    return top_by_score(emb[seeds], emb, seeds, depth, penalty=same)


def audio_columns(feature_names: list[str]) -> np.ndarray:
    """Indices of the audio-only columns (no year, no popularity) of the feature matrix."""
    return np.array([i for i, n in enumerate(feature_names) if n not in AUDIO_ONLY_DROP])
