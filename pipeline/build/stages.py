"""The stage table: what each stage reads, writes and runs (the *what* of a build).

Each runner is a thin adapter: it reads upstream artifacts by name from a
:class:`~pipeline.build.context.Context`, calls the stage's pure function, and returns its
outputs by artifact name. *How* the stages run (order, processes) is an engine's business
(:mod:`pipeline.build.engines`); which ones run is the orchestrator's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from pipeline.config import PipelineConfig, stage_seed
from pipeline.store import LAYOUT

from .context import Context


@dataclass(frozen=True)
class Stage:
    name: str
    version: int                    # bump when the stage's code changes its output
    depends: tuple[str, ...]        # upstream stages whose artifacts it reads
    config: str | None              # PipelineConfig section it depends on
    outputs: tuple[str, ...]        # artifact file names under the cache (store.LAYOUT)
    run: Callable[[Context], dict[str, Any]]
    # Optional: compile or load what the stage needs before its inputs exist (run early,
    # in the process that will later run the stage, when the build has spare workers).
    warmup: Callable[[PipelineConfig], None] | None = None
    # Seconds on the 30k default (quiet machine, first build): engines only use it to run the
    # stage with the longest remaining path first; the build's outputs do not depend on it.
    cost: float = 1.0
    # The stage has a data-parallel form (a fit, then partitions of rows) that the Dask
    # engine runs on large catalogs (pipeline/build/engines/partitions.py); same outputs.
    partitioned: bool = False


# --- stage runners: read upstream artifacts, call the pure stage function, name outputs ---

def _run_ingest(ctx: Context) -> dict[str, Any]:
    from pipeline.catalog import ingest, read_catalog_file

    res = ingest([(read_catalog_file(p), p) for p in ctx.catalog])
    return {"tracks.parquet": res.tracks, "memberships.parquet": res.memberships,
            "rejects.csv": res.rejects, "ingest_report.json": res.report}


def _run_features(ctx: Context) -> dict[str, Any]:
    from pipeline.catalog import build_features

    x, scaler = build_features(ctx.get("tracks.parquet"), ctx.cfg.features)
    return {"features.npy": x, "feature_scaler.json": scaler.to_dict()}


def _run_embedding(ctx: Context) -> dict[str, Any]:
    from pipeline.map import build_embedding

    res = build_embedding(ctx.get("features.npy"), ctx.get("tracks.parquet"),
                          ctx.get("memberships.parquet"), ctx.cfg.embedding, ctx.seed("embedding"))
    return {"embedding.npy": res.embedding, "encoder.safetensors": res.weights,
            "embedding_report.json": res.report}


def _run_neighbors(ctx: Context) -> dict[str, Any]:
    from pipeline.map import build_neighbors

    idx, sim, index, report = build_neighbors(ctx.get("embedding.npy"), ctx.cfg.neighbors,
                                              ctx.seed("neighbors"))
    return {"neighbors_idx.npy": idx, "neighbors_sim.npy": sim,
            "neighbors_index.npy": index.to_bytes(), "neighbors_report.json": report}


def _run_projection(ctx: Context) -> dict[str, Any]:
    from pipeline.map import build_projection

    from .lineage import warm_start  # a refit starts from the previous map (None: cold)

    graph = (ctx.get("neighbors_idx.npy"), ctx.get("neighbors_sim.npy"))
    map2d, dense = build_projection(ctx.get("embedding.npy"), ctx.cfg.projection,
                                    ctx.seed("projection"), graph, ctx.cfg.neighbors,
                                    warm_start(ctx))
    return {"map2d.npy": map2d, "cluster_space.npy": dense}


def _warm_projection(cfg: PipelineConfig) -> None:
    from pipeline.map import warm_up

    warm_up(cfg.projection, cfg.neighbors.k, stage_seed(cfg.seed, "projection"))


def _run_clusters(ctx: Context) -> dict[str, Any]:
    """clusters.parquet, membership.npy, cluster_report.json, cluster_names.json ({id: name})."""
    from pipeline.map import build_clusters

    from .lineage import previous_labels  # a refit prefers the previous partition

    res = build_clusters(cluster_spaces(ctx), ctx.cfg.clusters, ctx.seed("clusters"),
                         cluster_playlists(ctx), previous_labels(ctx),
                         ctx.cfg.update.min_jaccard)
    return cluster_outputs(ctx, res)


def cluster_spaces(ctx: Context, mmap: bool = False) -> dict[str, Any]:
    """The clustering stage's candidate spaces by name, each (n_tracks, d); ``mmap``: read
    them memory-mapped (a partitioned stage's tasks read a few rows of each)."""
    from pipeline.store import read_npy

    get = (lambda name: read_npy(ctx.cache / name, mmap=True)) if mmap else ctx.get
    spaces = {"map2d": get("map2d.npy"), "embedding": get("embedding.npy")}
    if ctx.cfg.projection.cluster_dim:
        spaces["umap_nd"] = get("cluster_space.npy")
    return spaces


def cluster_playlists(ctx: Context) -> pd.DataFrame:
    """Each track's primary playlist genre/subgenre, for the clusters' agreement with them."""
    from pipeline.map import playlist_genres

    return playlist_genres(ctx.get("tracks.parquet"), ctx.get("memberships.parquet"))


def cluster_outputs(ctx: Context, res: Any) -> dict[str, Any]:
    """The clusters stage's artifacts by name from its :class:`~pipeline.map.ClusterResult`."""
    from pipeline.map import cluster_names

    tracks = ctx.get("tracks.parquet")
    table = pd.DataFrame({"track_id": tracks["track_id"],
                          "cluster": res.labels, "probability": res.probability,
                          "nearest_cluster": res.nearest})
    names = cluster_names(tracks.assign(cluster=res.labels))
    return {"clusters.parquet": table, "membership.npy": res.membership,
            "cluster_report.json": res.report,
            "cluster_names.json": {str(k): v for k, v in sorted(names.items())}}


def _run_genre(ctx: Context) -> dict[str, Any]:
    """genre_model.txt (LightGBM text), genre_pred.parquet, genre_report.json."""
    from pipeline.recommend import NO_MODEL, build_genre

    res = build_genre(ctx.get("tracks.parquet"), ctx.get("memberships.parquet"),
                      ctx.seed("genre"), evaluate=False)
    text = (res.model.model_to_string() if res.model is not None
            else NO_MODEL.format(reason=res.report["reason"]))
    res.report["note"] = ("accuracy on random and artist-disjoint splits: see "
                          "`python -m pipeline evaluate` (docs/EVALUATION.md)")
    return {"genre_model.txt": text, "genre_pred.parquet": res.predictions,
            "genre_report.json": res.report}


def _run_ranker(ctx: Context) -> dict[str, Any]:
    """ranker.txt + ranker_content.txt (LightGBM text), ranker_report.json."""
    from pipeline.recommend import model_texts, train_rankers

    cfg = ctx.cfg
    names = ctx.get("feature_scaler.json")["names"]
    models = train_rankers(ctx.get("tracks.parquet"), ctx.get("features.npy"), names,
                           ctx.get("memberships.parquet"), cfg.embedding, cfg.ranker,
                           ctx.seed("ranker"))
    return {**model_texts(models), "ranker_report.json": models.report}


def _run_rank_signals(ctx: Context) -> dict[str, Any]:
    """What serving reads instead of recomputing: rank_clusters.npy, rank_labels.npy/.json."""
    from pipeline.recommend import rank_signals

    exact = ctx.get("neighbors_index.npy").size == 0
    clusters, labels, layout = rank_signals(
        ctx.get("tracks.parquet"), ctx.get("memberships.parquet"), ctx.get("embedding.npy"),
        None if exact else ctx.get("neighbors_idx.npy"), ctx.cfg.ranker, ctx.seed("ranker"))
    return {"rank_clusters.npy": clusters, "rank_labels.npy": labels, "rank_labels.json": layout}


def _run_aggregates(ctx: Context) -> dict[str, Any]:
    """agg_*.parquet (what the Trends page and the Cluster browser show unfiltered),
    aggregates_report.json: fixed chunks of rows, reduced in order (docs/AGGREGATES.md)."""
    from .engines.partition_aggregates import run_whole

    return run_whole(ctx)


STAGES: tuple[Stage, ...] = (
    Stage("ingest", 2, (), None, LAYOUT["ingest"], _run_ingest, cost=1.2, partitioned=True),
    Stage("features", 1, ("ingest",), "features", LAYOUT["features"], _run_features, cost=0.1,
          partitioned=True),
    Stage("embedding", 1, ("ingest", "features"), "embedding", LAYOUT["embedding"],
          _run_embedding, cost=20.0, partitioned=True),
    Stage("neighbors", 2, ("embedding",), "neighbors", LAYOUT["neighbors"], _run_neighbors,
          cost=4.4, partitioned=True),
    Stage("projection", 2, ("embedding", "neighbors"), "projection", LAYOUT["projection"],
          _run_projection, _warm_projection, cost=26.0, partitioned=True),
    Stage("clusters", 4, ("ingest", "embedding", "projection"), "clusters", LAYOUT["clusters"],
          _run_clusters, cost=12.0, partitioned=True),
    Stage("genre", 4, ("ingest",), None, LAYOUT["genre"], _run_genre, cost=11.0,
          partitioned=True),
    Stage("ranker", 6, ("ingest", "features"), "ranker", LAYOUT["ranker"], _run_ranker,
          cost=51.0),
    Stage("rank_signals", 1, ("ingest", "embedding", "neighbors"), "ranker",
          LAYOUT["rank_signals"], _run_rank_signals, cost=6.0),
    Stage("aggregates", 1, ("ingest", "clusters"), "aggregates", LAYOUT["aggregates"],
          _run_aggregates, cost=3.0, partitioned=True),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}
