"""Read-only access to a built cache: ``pipeline.load(cache_dir)``.

The dashboard and the recommender use this; nothing here trains or writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import generations as gens
from pipeline import store as io
from pipeline.errors import CacheError
from pipeline.map import knn
from pipeline.store import cache_location  # also pipeline.cache_location

# Written by builds since catalog updates (issue 12): a cache built before them still loads,
# with these left empty (a rebuild writes them). Without the aggregates the dashboard
# computes its tables live.
OPTIONAL_FILES = ("cluster_names.json", *io.LAYOUT["changes"], *io.LAYOUT["aggregates"])
REQUIRED_FILES = [o for outputs in io.LAYOUT.values() for o in outputs
                  if o not in OPTIONAL_FILES] + ["metrics.json", "manifest.json"]


@dataclass
class CatalogIndex:
    """A built catalog: tracks, embeddings, map coordinates, clusters and a similarity index.

    Row ``i`` of every array belongs to ``tracks.iloc[i]``.
    """

    cache_dir: Path
    tracks: pd.DataFrame          # canonical track table + cluster columns
    memberships: pd.DataFrame     # (track_id, playlist_id, playlist_name, genre, subgenre)
    embedding: np.ndarray         # (n_tracks, dim) unit vectors
    coords: np.ndarray            # (n_tracks, 2) map coordinates
    labels: np.ndarray            # (n_tracks,) cluster id, -1 = unclustered
    membership: np.ndarray        # (n_tracks, max cluster id + 1) soft membership, column j =
                                  # cluster j (ids need not be contiguous: zero columns)
    neighbors: np.ndarray         # (n_tracks, k) precomputed nearest neighbours (row indices)
    neighbor_sims: np.ndarray     # (n_tracks, k) their cosine similarities
    metrics: dict
    manifest: dict
    cluster_names: dict[int, str] | None = None  # {cluster id: name}, kept across updates
    changes: dict | None = None        # changes.json: what changed since the previous build
    track_status: pd.DataFrame | None = None  # (n_tracks rows) track_id, status, placed_by,
                                              # first_seen
    _row: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._row = {t: i for i, t in enumerate(self.tracks["track_id"])}

    def row(self, track_id: str) -> int:
        """Row index of a track id; a KeyError that names the id if it is unknown."""
        try:
            return self._row[track_id]
        except KeyError:
            raise KeyError(f"track_id {track_id!r} is not in the catalog at {self.cache_dir}") from None

    def similar(self, track_id: str, k: int = 10) -> pd.DataFrame:
        """The k tracks closest to ``track_id`` by cosine in the full embedding space."""
        i = self.row(track_id)
        if k <= self.neighbors.shape[1]:
            idx, sim = self.neighbors[i, :k], self.neighbor_sims[i, :k]
        else:
            idx, sim = knn(self.embedding[i:i + 1], self.embedding, k + 1)
            keep = idx[0] != i
            idx, sim = idx[0][keep][:k], sim[0][keep][:k]
        out = self.tracks.iloc[idx][["track_id", "track_name", "artist", "year", "genre",
                                     "cluster"]].copy()
        out.insert(0, "similarity", sim)
        return out.reset_index(drop=True)


def load(cache_dir: str | Path) -> CatalogIndex:
    """Load a built cache (a path or a ``file://`` URL); a :class:`CacheError` says what is
    missing and how to build."""
    cache = gens.resolve(cache_location(cache_dir))  # one generation for every file
    missing = [f for f in REQUIRED_FILES if not (cache / f).exists()]
    if missing:
        raise CacheError(
            f"{cache_dir}: cache is missing {', '.join(missing[:4])}"
            f"{' and more' if len(missing) > 4 else ''}. Build it with "
            f"`python -m pipeline build --cache {cache_dir}` (or `make build`).")
    manifest = io.read_json(cache / "manifest.json")
    gens.verify(cache, manifest)  # a truncated or damaged artifact is refused by name
    tracks = io.read_parquet(cache / "tracks.parquet")
    clusters = io.read_parquet(cache / "clusters.parquet")
    tracks = tracks.assign(cluster=clusters["cluster"].to_numpy(),
                           cluster_probability=clusters["probability"].to_numpy(),
                           nearest_cluster=clusters["nearest_cluster"].to_numpy())
    return CatalogIndex(
        cache_dir=cache, tracks=tracks,
        memberships=io.read_parquet(cache / "memberships.parquet"),
        embedding=io.read_npy(cache / "embedding.npy"),
        coords=io.read_npy(cache / "map2d.npy"),
        labels=clusters["cluster"].to_numpy(),
        # memory-mapped: at 1M tracks these are ~0.5 GB that a page reads a few rows of
        membership=io.read_npy(cache / "membership.npy", mmap=True),
        neighbors=io.read_npy(cache / "neighbors_idx.npy", mmap=True),
        neighbor_sims=io.read_npy(cache / "neighbors_sim.npy", mmap=True),
        metrics=io.read_json(cache / "metrics.json"),
        manifest=manifest,
        **_optional(cache, tracks),
    )


def _optional(cache: Path, tracks: pd.DataFrame) -> dict:
    """cluster_names, changes and track_status when the build wrote them."""
    out: dict = {}
    if (cache / "cluster_names.json").exists():
        out["cluster_names"] = {int(k): v for k, v in
                                io.read_json(cache / "cluster_names.json").items()}
    if (cache / "changes.json").exists():
        out["changes"] = io.read_json(cache / "changes.json")
    if (cache / "track_status.parquet").exists():
        status = io.read_parquet(cache / "track_status.parquet")
        if len(status) != len(tracks) or not (status["track_id"].to_numpy()
                                              == tracks["track_id"].to_numpy()).all():
            raise CacheError(f"{cache / 'track_status.parquet'} is not row-aligned with "
                             f"tracks.parquet; rebuild with `python -m pipeline build "
                             f"--cache {cache}`.")
        out["track_status"] = status
    return out
