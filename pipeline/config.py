"""Typed, validated configuration for every pipeline stage.

One seed lives at the top; each stage derives its own stream from it with
``numpy.random.SeedSequence`` (see :func:`stage_seed`) so that changing one stage's
randomness never shifts another's.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureConfig(_Strict):
    """How raw columns become the model's input matrix."""

    log_columns: tuple[str, ...] = ("duration_ms", "speechiness", "instrumentalness", "liveness")
    include_year: bool = True
    include_popularity: bool = True


class EmbeddingConfig(_Strict):
    """Metric-learning MLP encoder (torch, CPU)."""

    dim: int = Field(24, ge=4, le=128)
    hidden: int = Field(128, ge=8)
    epochs: int = Field(8, ge=1)
    batch_size: int = Field(512, ge=16)
    lr: float = Field(3e-3, gt=0)
    temperature: float = Field(0.1, gt=0)
    artist_weight: float = Field(0.35, ge=0, le=1)
    pairs_per_epoch: int = Field(60_000, ge=100)
    val_playlist_share: float = Field(0.1, gt=0, lt=0.5)
    # torch's results depend on its thread count (float sums in another order), so the
    # embedding trains on one thread: the artifacts are the same however the build is
    # scheduled (the build overlaps stages on the other core instead; 35 s vs 26 s alone).
    threads: int = Field(1, ge=1)


class ProjectionConfig(_Strict):
    """UMAP to 2-D (the map) and to a few dimensions (for clustering)."""

    n_neighbors: int = Field(30, ge=2)
    min_dist: float = Field(0.05, ge=0)
    cluster_dim: int | None = Field(None, ge=2)  # None: no extra UMAP (clustering on the map)
    # UMAP is fitted on at most this many tracks (fit time grows with the sample: 20 s at
    # 28k); larger catalogs place the rest from the fitted sample in batches.
    fit_sample: int = Field(100_000, ge=100)
    place_k: int = Field(15, ge=1)            # fitted neighbours that place a track
    place_batch: int = Field(100_000, ge=1)


class ClusterConfig(_Strict):
    """HDBSCAN clustering and its scoring.

    The build fits every combination of the grid below (cheap on a 2-D map). The aims are
    constraints: a setting is kept only with >= ``min_clusters`` clusters and at most
    ``max_noise_share`` unclustered tracks after fringe assignment (below); among those, the
    most useful wins (silhouette x clustered share^2).
    """

    # Measured (bench/cluster_spaces.py, docs/BUILD.md): the 2-D map gives more clusters and
    # less noise than an 8-D UMAP or the raw embedding at equal silhouette.
    space: Literal["auto", "map2d", "umap_nd", "embedding"] = "map2d"
    min_cluster_sizes: tuple[int, ...] = (150, 300, 500)
    min_samples: tuple[int, ...] = (1, 2)
    selections: tuple[Literal["eom", "leaf"], ...] = ("eom", "leaf")
    max_cluster_share: float = Field(0.17, gt=0, le=1)  # eom: no cluster above this share
    min_clusters: int = Field(8, ge=2)
    # The aim is <= 25 % unclustered; the filter is stricter so that a near-identical map
    # (another machine, another UMAP seed) still meets the aim (docs/STABILITY.md).
    max_noise_share: float = Field(0.22, ge=0, le=1)
    # Fringe assignment: HDBSCAN leaves a third of this continuous map unclustered, most of
    # it at the edges of one cluster. A noise track joins its most likely cluster when its
    # soft membership there is at least this many times that of its runner-up (unambiguous);
    # None keeps HDBSCAN's noise as is.
    fringe_ratio: float | None = Field(2.0, ge=1)
    # Soft memberships cost ~3 s at 30k, ~60 s at 100k fitted points: they are computed
    # lazily, best-ranked setting first, for at most this many settings.
    max_membership_evals: int = Field(4, ge=1)
    score_sample: int = Field(8000, ge=100)  # silhouette on a seeded sample
    # Scale: HDBSCAN fits on at most fit_sample tracks; the others take the label of their
    # assign_k nearest fitted tracks. min_cluster_sizes are for catalogs up to
    # reference_tracks; above, they grow with the fitted points (same share of the catalog).
    fit_sample: int = Field(100_000, ge=100)
    reference_tracks: int = Field(30_000, ge=100)
    assign_k: int = Field(10, ge=1)
    dbcv_sample: int = Field(4000, ge=100)
    ami_sample: int = Field(50_000, ge=100)  # agreement with playlist genres, seeded sample


class NeighborConfig(_Strict):
    """The k-nearest-neighbour graph and the index that answers new queries."""

    k: int = Field(50, ge=1)
    # Exact search up to this many tracks (28k: 5 s); above, faiss HNSW (exact grows with
    # n^2: 216 s at 200k). HNSW settings measured on a 1M blend of the default catalog's
    # embedding: M=16, efConstruction=40, efSearch=64 gave recall@10 0.98 (bench/ann_bench.py).
    exact_max: int = Field(50_000, ge=0)
    hnsw_m: int = Field(16, ge=4)
    ef_construction: int = Field(40, ge=8)
    ef_search: int = Field(64, ge=8)
    # search threads (and the IVF's k-means and add: the same bytes on any count; the HNSW
    # graph is built on one)
    threads: int = Field(2, ge=1)
    recall_queries: int = Field(2000, ge=10)  # sample for the reported recall@10
    # Above hnsw_max tracks a faiss IVF index (inverted lists, docs/ANN.md): a single-thread
    # HNSW build grows about n^1.15 (70-170 s at 1M, 17-40 min at 10M), IVF's k-means on a
    # bounded sample plus one assignment per row does not (1M: 10.5 CPU-s vs HNSW's 107).
    # Every catalog up to 1M stays on HNSW (its figures and caches hold). nlist = tracks /
    # ivf_list_size lists (a constant list size keeps a query's cost constant); each query
    # scans its ivf_nprobe nearest lists; k-means on ivf_train_per_list x nlist seeded rows
    # for ivf_kmeans_iter rounds. Measured on blends of the 1M build's embedding
    # (bench/ann_bench.py): graph recall@10 0.943 / 0.961 / 0.971 with nprobe 16 / 20 / 24
    # at 1M (HNSW: 0.978), 500 a list needed more probes; at 10M nprobe 20 gives 0.888:
    # more probes needed there, how many not yet measured (docs/ANN.md).
    hnsw_max: int = Field(1_000_000, ge=0)
    ivf_list_size: int = Field(1000, ge=16)
    ivf_nprobe: int = Field(20, ge=1)
    ivf_train_per_list: int = Field(32, ge=4)
    ivf_kmeans_iter: int = Field(10, ge=1)

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        """The IVF settings came after builds were keyed by this section's dump: left out
        while at their defaults, so those builds keep their keys. Changing one of these
        defaults must bump the neighbors stage's version."""
        data = handler(self)
        for name in _NEIGHBOR_LATE_FIELDS:
            if name in data and data[name] == type(self).model_fields[name].default:
                del data[name]
        return data


_NEIGHBOR_LATE_FIELDS = ("hnsw_max", "ivf_list_size", "ivf_nprobe", "ivf_train_per_list",
                         "ivf_kmeans_iter")


class RankerConfig(_Strict):
    """Hybrid ranker (LightGBM LambdaRank) and its candidate generation."""

    n_emb: int = Field(150, ge=1)              # embedding-neighbour candidates per seed
    n_cooc: int = Field(150, ge=0)             # co-occurrence candidates per seed
    n_same: int = Field(50, ge=0)              # same-artist / same-album candidates per seed
    # Playlists that label the groups. 0.3 instead of 0.2: more labelled groups outweigh
    # the weaker fit-split signals (hybrid P@10 0.244 -> 0.247 in the ablation listed in
    # docs/EVALUATION.md; ranker stage: 7,634 instead of ~5,300 training groups).
    label_playlist_share: float = Field(0.3, gt=0, lt=0.5)
    # Cross-fitting (ranker v4): with label_folds = K >= 2 the playlists fall into K folds,
    # each fold labels groups whose signals come from the other K - 1 (every playlist
    # labels once; label_playlist_share is then unused); 1: one split by the share.
    # Chosen on the validation split (docs/EVALUATION.md): hybrid P@10 0.235 with one
    # split, 0.243 / 0.252 / 0.250 / 0.257 with 2 / 3 / 4 / 5 folds. Costs K embedding
    # fits in the ranker stage; serving is unchanged (one model).
    label_folds: int = Field(5, ge=1, le=10)
    # 70 seeds x 60 negatives: P@10 +0.006 over 30 x 40 in the protocol, ranker stage +25 s.
    seeds_per_playlist: int = Field(70, ge=1)
    max_negatives: int = Field(60, ge=1)       # sampled non-hits per training group
    min_playlist: int = Field(5, ge=2)
    n_clusters: int = Field(40, ge=1)
    fit_epochs: int = Field(4, ge=1)           # epochs of the ranker's own fit-split embedding
    # LightGBM ranking objective: "rank_xendcg" (cross-entropy NDCG) measured as LambdaRank
    # on P@10 with a better NDCG@10, and it trains faster.
    objective: Literal["lambdarank", "rank_xendcg"] = "rank_xendcg"
    n_estimators: int = Field(200, ge=10)
    learning_rate: float = Field(0.08, gt=0)
    num_leaves: int = Field(31, ge=2)
    min_child_samples: int = Field(50, ge=1)
    # LightGBM's column and row subsampling (0.7 columns, 15 / 63 leaves, 100 per leaf
    # measured no better on the validation split).
    feature_fraction: float = Field(0.9, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    # LightGBM threads. 1 by default: with OpenMP on a shared 2-core machine, 2 threads
    # measured 100x slower than 1 (busy-waiting), while a quiet machine gains < 2x.
    threads: int = Field(1, ge=1)
    # Scale: training is bounded whatever the catalog's size. Catalogs above
    # max_train_tracks train on a universe of that many tracks (whole playlists, seeded);
    # at most max_train_seeds label seeds, spread over all label playlists (30k: 5,269).
    # 200k catalog, protocol seeds (bench/ranker_universe_bench.py): hybrid P@10 0.141 with
    # a 50k universe, 0.155 with 100k, 0.152 training on all 200k.
    max_train_tracks: int = Field(100_000, ge=100)
    max_train_seeds: int = Field(10_000, ge=1)
    cluster_fit_sample: int = Field(100_000, ge=100)  # KMeans fitted on a sample
    # The neighbour index over the training (and evaluation) embedding: exact up to
    # index.exact_max tracks, faiss HNSW above.
    index: NeighborConfig = NeighborConfig(threads=1)


class UpdateConfig(_Strict):
    """When a build on a changed catalog updates the served build instead of refitting.

    An update keeps every fitted model and places only the new and edited tracks (the
    encoder embeds them, the map places them among their nearest fitted tracks, the
    clusters label them by their nearest tracks). That is faithful while the fitted models
    still describe the catalog: a fifth of the catalog changed, or a quarter of it placed
    by transform since the last full fit, is where the new tracks could form regions the
    fit never saw (docs/UPDATES.md).
    """

    enabled: bool = True
    # (added + edited + removed) / tracks of the served build, at most this: update.
    max_changed_share: float = Field(0.20, ge=0, le=1)
    # Share of the updated catalog placed by transform since the last full fit, at most this.
    max_transform_share: float = Field(0.25, ge=0, le=1)
    # changes.json advises a refit once this share of the catalog was placed by transform.
    advise_transform_share: float = Field(0.15, ge=0, le=1)
    # After a refit, a new cluster takes over an old id when their track sets overlap with
    # Jaccard >= this (one-to-one, Hungarian on the overlaps).
    min_jaccard: float = Field(0.1, gt=0, le=1)
    # A refit over a previous build starts from it: UMAP from the previous map (new tracks
    # placed among it), the cluster setting that agrees most with the previous labels
    # among those meeting the aims (docs/UPDATES.md). Off: a refit is fitted cold.
    warm_start: bool = True
    # UMAP's initial learning rate in a warm start (1.0 cold): low, so that the layout
    # optimisation refines the previous map instead of drawing it again.
    warm_learning_rate: float = Field(0.05, gt=0)
    # A refit's cluster ids. "carry": a track keeps its previous id unless its
    # neighbourhood in the refit's clustering space clearly belongs to another cluster
    # (evolutionary clustering, pipeline/map/carry.py); genuinely new clusters get fresh
    # ids. Why: the retrained map's fresh HDBSCAN partition cuts it elsewhere, so handing
    # its clusters the old ids kept only 59% of them (at most 60.5%), and curators learn
    # ids. "fresh": HDBSCAN's partition with the matched ids only (the fitted partition,
    # best silhouette, ids kept where the clusters happen to match).
    refit_clusters: Literal["carry", "fresh"] = "carry"
    # carry: the k nearest tracks that vote on a track's label ...
    carry_k: int = Field(15, ge=1)
    # ... and the weight of its previous id: it leaves that id only when the share of its
    # neighbours in one other cluster exceeds the share in its own by more than this.
    # 0: plain neighbour smoothing; >= 1: every id kept. Real catalog (docs/UPDATES.md):
    # 0.5 keeps 86% of ids, 0.75 keeps 95.5%, 0.9 keeps 98.5%, silhouette falling as
    # stickiness rises (0.37, 0.34, 0.31; fresh partition 0.40).
    carry_stickiness: float = Field(0.75, ge=0)
    # A fresh cluster that matches no previous one is new structure (it keeps its fresh
    # id) when fewer than this share of its tracks were in a previous cluster.
    carry_new_share: float = Field(0.5, gt=0, le=1)


class AggregatesConfig(_Strict):
    """The precomputed Trends / Cluster browser aggregates (docs/AGGREGATES.md)."""

    # Rows per chunk of partial results: fixed here, not by an engine's partitions, so that
    # every engine reduces the same chunks in the same order (byte-identical artifacts).
    chunk_rows: int = Field(65_536, ge=1)
    # Histogram bin width per feature for the quantiles (IQR band, medians): a quantile is
    # exact where its bin holds one distinct value, else off by at most the width.
    bin_widths: dict[str, float] = Field(default_factory=lambda: {
        "danceability": 1e-3, "energy": 1e-3, "speechiness": 1e-3, "acousticness": 1e-3,
        "instrumentalness": 1e-3, "liveness": 1e-3, "valence": 1e-3, "loudness": 1e-2,
        "tempo": 1e-2, "duration_ms": 100.0, "popularity": 1.0})
    top_n: int = Field(10, ge=1)  # values kept per cluster for the Cluster browser's lists
    representatives: int = Field(15, ge=1)  # its "most typical tracks" kept per cluster
    # The Distributions view's samples (box/violin, histogram), as the page draws them.
    distribution_points: tuple[int, ...] = (6000, 20000)

    @model_validator(mode="after")
    def _positive_widths(self) -> AggregatesConfig:
        bad = {k: v for k, v in self.bin_widths.items() if not v > 0}
        if bad:
            raise ValueError(f"aggregates.bin_widths must be positive numbers. Got {bad}.")
        return self


class PipelineConfig(_Strict):
    """Everything that decides what the build produces."""

    seed: int = 42
    features: FeatureConfig = FeatureConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    projection: ProjectionConfig = ProjectionConfig()
    clusters: ClusterConfig = ClusterConfig()
    neighbors: NeighborConfig = NeighborConfig()
    ranker: RankerConfig = RankerConfig()
    update: UpdateConfig = UpdateConfig()
    aggregates: AggregatesConfig = AggregatesConfig()

    @model_validator(mode="after")
    def _space_needs_projection(self) -> PipelineConfig:
        if self.clusters.space in ("umap_nd", "auto") and self.projection.cluster_dim is None:
            raise ValueError(f"clusters.space={self.clusters.space!r} needs projection.cluster_dim "
                             "(e.g. 8): the clustering space is an extra UMAP of that size.")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> PipelineConfig:
        """Load a JSON config; unknown keys are an error that names them."""
        return cls.model_validate(json.loads(Path(path).read_text()))

    def section(self, name: str) -> dict:
        """The config a stage depends on, with the seed, as plain data for hashing."""
        return {"seed": self.seed, name: getattr(self, name).model_dump()}


def stage_seed(seed: int, stage: str) -> int:
    """A stable 32-bit seed for one stage, derived from the global seed."""
    salt = int.from_bytes(stage.encode()[:8].ljust(8, b"\0"), "little")
    return int(np.random.SeedSequence([seed, salt]).generate_state(1)[0])

