"""Embedding stage: a metric-learning MLP that maps track features to a unit vector.

Objective (InfoNCE with in-batch negatives): tracks that share a playlist are pulled
together, tracks by the same artist more weakly (a smaller share of the positive pairs).
Catalogs without playlists fall back to a self-supervised objective: two noisy, masked
views of the same track (plus same-artist pairs) are positives.

Validation holds out a share of playlists; tracks of those playlists *and every track of
their artists* are kept out of training, so the figure is not inflated by artist identity.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import EmbeddingConfig

log = logging.getLogger(__name__)


@dataclass
class Groups:
    """Positive-pair groups as CSR-style arrays over track row indices."""

    members: np.ndarray  # (n_memberships,) track rows, sorted by group
    group_of: np.ndarray  # (n_memberships,) group id of each entry
    start: np.ndarray     # (n_groups,) offset of each group in ``members``
    size: np.ndarray      # (n_groups,)

    @classmethod
    def from_pairs(cls, rows: np.ndarray, groups: np.ndarray, min_size: int = 2) -> Groups:
        gid, gidx = np.unique(groups, return_inverse=True)
        size = np.bincount(gidx, minlength=len(gid))
        keep = size[gidx] >= min_size
        rows, gidx = rows[keep], np.unique(gidx[keep], return_inverse=True)[1]
        order = np.argsort(gidx, kind="stable")
        rows, gidx = rows[order], gidx[order]
        size = np.bincount(gidx) if len(gidx) else np.zeros(0, int)
        start = np.concatenate([[0], np.cumsum(size)[:-1]]) if len(size) else size
        return cls(rows, gidx, start, size)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n (anchor, positive) pairs: a random membership, then another member of its group."""
        if len(self.members) == 0:
            return np.zeros(0, int), np.zeros(0, int)
        pick = rng.integers(0, len(self.members), n)
        g = self.group_of[pick]
        other = self.start[g] + rng.integers(0, self.size[g])
        return self.members[pick], self.members[other]


def _torch():
    import torch  # imported lazily: a cached rebuild must not pay torch's start-up
    return torch


def make_encoder(in_dim: int, cfg: EmbeddingConfig):
    """The MLP encoder: features (n, in_dim) -> unnormalised codes (n, cfg.dim)."""
    nn = _torch().nn
    return nn.Sequential(
        nn.Linear(in_dim, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.GELU(),
        nn.Linear(cfg.hidden, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.GELU(),
        nn.Linear(cfg.hidden, cfg.dim),
    )


def encode(model, x: np.ndarray, batch: int = 65536) -> np.ndarray:
    """Unit-norm embeddings, shape (n_tracks, dim), float32."""
    torch = _torch()
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            z = model(torch.from_numpy(x[i:i + batch]))
            out.append(torch.nn.functional.normalize(z, dim=1).numpy())
    return np.concatenate(out).astype(np.float32)


def train_encoder(x: np.ndarray, playlists: Groups, artists: Groups, cfg: EmbeddingConfig,
                  seed: int, self_supervised: bool):
    """Fit the encoder with InfoNCE on sampled positive pairs. Deterministic under ``seed``."""
    torch = _torch()
    torch.manual_seed(seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(seed)
    model = make_encoder(x.shape[1], cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    xt = torch.from_numpy(x)
    n_art = int(cfg.pairs_per_epoch * cfg.artist_weight) if len(artists.members) else 0
    steps = 0
    for epoch in range(cfg.epochs):
        if self_supervised:
            a_self = rng.integers(0, len(x), cfg.pairs_per_epoch - n_art)
            pairs = [(a_self, a_self), artists.sample(rng, n_art)]
        else:
            pairs = [playlists.sample(rng, cfg.pairs_per_epoch - n_art), artists.sample(rng, n_art)]
        a = np.concatenate([p[0] for p in pairs])
        b = np.concatenate([p[1] for p in pairs])
        order = rng.permutation(len(a))
        a, b = a[order], b[order]
        model.train()
        # A catalog with fewer pairs than a batch trains on one smaller batch (with no
        # pair at all the encoder stays as initialised): never an epoch without a loss.
        batch = min(cfg.batch_size, len(a))
        loss = None
        for i in range(0, len(a) - batch + 1, batch) if batch >= 2 else ():
            ia, ib = a[i:i + batch], b[i:i + batch]
            va, vb = xt[ia], xt[ib]
            if self_supervised:
                va, vb = _augment(va, torch), _augment(vb, torch)
            loss = _info_nce(model(va), model(vb), ia, ib, cfg.temperature, torch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        if loss is not None:
            log.debug("embedding epoch %d loss %.4f", epoch, float(loss.detach()))
    if not steps:
        log.warning("embedding: no positive pairs to train on; the encoder keeps its "
                    "initial weights")
    return model


def _augment(v, torch):
    """Gaussian jitter and random feature masking: the self-supervised views."""
    noise = torch.randn_like(v) * 0.15
    mask = (torch.rand_like(v) > 0.15).float()
    return (v + noise) * mask


def _info_nce(za, zb, ia, ib, temperature: float, torch):
    """Symmetric InfoNCE; in-batch items that are the same track are not negatives."""
    za = torch.nn.functional.normalize(za, dim=1)
    zb = torch.nn.functional.normalize(zb, dim=1)
    logits = za @ zb.T / temperature
    same = torch.from_numpy(ia[:, None] == ib[None, :])
    eye = torch.eye(len(ia), dtype=torch.bool)
    logits = logits.masked_fill(same & ~eye, -1e4)
    target = torch.arange(len(ia))
    ce = torch.nn.functional.cross_entropy
    return 0.5 * (ce(logits, target) + ce(logits.T, target))


def retrieval_precision(emb: np.ndarray, labels: list[set], k: int = 10) -> float:
    """Mean share of each query's k nearest (cosine) items that share a label with it.

    Args:
        emb: (n_items, d) vectors; only items with a non-empty label set are scored.
        labels: per item, the set of group ids (playlists or genres) it belongs to.
    """
    e = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    k = min(k, len(e) - 1)  # a tiny validation set has fewer than k other items
    if k < 1:
        return 0.0
    hits, n = 0.0, 0
    for i0 in range(0, len(e), 2048):
        sims = e[i0:i0 + 2048] @ e.T
        for r in range(len(sims)):
            sims[r, i0 + r] = -np.inf
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        for r, row in enumerate(top):
            q = labels[i0 + r]
            if q:
                hits += sum(bool(q & labels[j]) for j in row) / k
                n += 1
    return hits / max(n, 1)


@dataclass
class EmbeddingResult:
    embedding: np.ndarray   # (n_tracks, dim) unit vectors
    weights: dict           # name -> np.ndarray, the encoder's state dict
    report: dict


def training_groups(tracks: pd.DataFrame, memberships: pd.DataFrame, keep: np.ndarray) -> tuple[Groups, Groups]:
    """Playlist and artist groups restricted to the track rows where ``keep`` is True."""
    row_of = pd.Series(np.arange(len(tracks)), index=tracks["track_id"])
    m_rows = row_of.reindex(memberships["track_id"]).to_numpy()
    ok = ~np.isnan(m_rows)
    m_rows, m_pl = m_rows[ok].astype(int), memberships["playlist_id"].to_numpy()[ok]
    sel = keep[m_rows]
    playlists = Groups.from_pairs(m_rows[sel], m_pl[sel])
    rows = np.flatnonzero(keep)
    artists = Groups.from_pairs(rows, tracks["artist"].to_numpy()[rows])
    return playlists, artists


def _validation_split(tracks: pd.DataFrame, memberships: pd.DataFrame, share: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, list[set]]:
    """Hold out playlists (or, without playlists, artists). Returns (train mask, val labels).

    Every track whose artist appears among validation tracks is removed from training.
    """
    if len(memberships):
        pls = memberships["playlist_id"].unique()
        val_pl = set(rng.choice(pls, max(1, int(len(pls) * share)), replace=False))
        vm = memberships[memberships["playlist_id"].isin(val_pl)]
        label_col = vm.groupby("track_id")["playlist_id"].agg(set)
    else:  # no playlists: hold out artists, score genre agreement (or artist identity)
        arts = tracks["artist"].unique()
        val_art = set(rng.choice(arts, max(1, int(len(arts) * share)), replace=False))
        vt = tracks[tracks["artist"].isin(val_art)]
        col = "genres" if tracks["genres"].map(len).gt(0).any() else "artist"
        label_col = vt.set_index("track_id")[col].map(lambda v: set(v) if col == "genres" else {v})
    is_val = tracks["track_id"].isin(label_col.index).to_numpy()
    val_artists = set(tracks.loc[is_val, "artist"])
    train = ~is_val & ~tracks["artist"].isin(val_artists).to_numpy()
    labels = [label_col.get(t, set()) if v else set() for t, v in zip(tracks["track_id"], is_val)]
    return train, labels


def build_embedding(features: np.ndarray, tracks: pd.DataFrame, memberships: pd.DataFrame,
                    cfg: EmbeddingConfig, seed: int) -> EmbeddingResult:
    """Validate on held-out playlists, then fit on the whole catalog and embed it.

    Args:
        features: (n_tracks, n_features) scaled features, rows aligned with ``tracks``.
    """
    model, weights, report = fit_embedding(features, tracks, memberships, cfg, seed)
    return EmbeddingResult(encode(model, features), weights, report)


def fit_embedding(features: np.ndarray, tracks: pd.DataFrame, memberships: pd.DataFrame,
                  cfg: EmbeddingConfig, seed: int) -> tuple[Any, dict, dict]:
    """The fit of :func:`build_embedding` without embedding the catalog: (encoder, its
    weights as numpy arrays, report). A data-parallel engine then embeds partitions of
    rows with :func:`embed_with`."""
    self_sup = len(memberships) == 0
    objective = ("self-supervised: augmented views + same artist (no playlists in catalog)"
                 if self_sup else "InfoNCE: shared playlist + same artist")
    rng = np.random.default_rng(seed)
    train, labels = _validation_split(tracks, memberships, cfg.val_playlist_share, rng)
    pl, ar = training_groups(tracks, memberships, train)
    val_model = train_encoder(features, pl, ar, cfg, seed, self_sup)
    val_rows = np.flatnonzero([bool(s) for s in labels])
    if len(val_rows) > 6000:  # bound the validation cost on big catalogs
        val_rows = np.sort(rng.choice(val_rows, 6000, replace=False))
    val_labels = [labels[i] for i in val_rows]
    val_emb = encode(val_model, features[val_rows])
    name = ("val_playlist_precision_at_10" if not self_sup else
            "val_heldout_artist_genre_agreement_at_10")
    validation = {
        "name": name,
        "value": round(retrieval_precision(val_emb, val_labels), 4),
        "raw_features_baseline": round(retrieval_precision(features[val_rows], val_labels), 4),
        "n_val_tracks": int(len(val_rows)),
        "n_train_tracks": int(train.sum()),
    }
    log.info("embedding validation %s = %.4f (raw features %.4f)", name, validation["value"],
             validation["raw_features_baseline"])
    pl, ar = training_groups(tracks, memberships, np.ones(len(tracks), bool))
    model = train_encoder(features, pl, ar, cfg, seed, self_sup)
    weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return model, weights, {"dim": cfg.dim, "objective": objective, "validation": validation}


def embed_with(weights: dict[str, np.ndarray], features: np.ndarray,
               cfg: EmbeddingConfig) -> np.ndarray:
    """Embed rows with a trained encoder's saved weights (``encoder.safetensors``).

    Pure over a batch of rows: a catalog update embeds its new tracks with it, and a
    data-parallel engine can map it over partitions.

    Args:
        weights: the encoder's state dict as numpy arrays (:class:`EmbeddingResult`.weights).
        features: (n, n_features) scaled features, the columns the encoder was trained on.
    Returns:
        (n, dim) float32 unit vectors.
    """
    torch = _torch()
    in_dim = int(weights["0.weight"].shape[1])
    if features.shape[1] != in_dim:
        raise ValueError(f"the encoder was trained on {in_dim} features; got "
                         f"{features.shape[1]} (the feature config changed: refit).")
    torch.set_num_threads(cfg.threads)
    model = make_encoder(in_dim, cfg)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    if len(features) == 0:
        return np.zeros((0, cfg.dim), np.float32)
    return encode(model, np.ascontiguousarray(features, np.float32))
