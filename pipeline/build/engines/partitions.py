"""Data-parallel forms of the stages the Dask engine runs over partitions of rows.

A partitioned stage is a *fit* (one task, on a sample or on small inputs), then one task per
partition of rows that applies the fitted model, then a *combine* task that writes the
stage's artifacts exactly as the whole stage would (byte-identical: tests/build/
test_engine_dask.py). Tasks carry the cache path, a row range and small dicts only; the
fitted model or index reaches a worker as a file in the working generation, read once per
worker (:func:`~.partition_files.cached`), and each partition writes its rows to a scratch file there
(``.parts/<stage>/``), removed once the stage's artifacts are written.

Stages with a partitioned form (``Stage.partitioned`` in the stage table):

- features: the scaler's fit on the numeric columns, then its transform per partition
  (:mod:`~.partition_features`);
- embedding: the encoder's fit, then :func:`~pipeline.map.embed_with` per partition;
- neighbors: the index built once, then rows of its k-NN graph per partition;
- projection (above ``fit_sample``): the UMAP fit on the seeded sample, then the placement
  of the other tracks per partition (``place_from``, the local path's own function);
- clusters (above its ``fit_sample``): HDBSCAN and the selection on the seeded sample, then
  the other tracks labelled from their nearest fitted ones per partition, then the report
  (:mod:`~.partition_clusters`);
- genre: the classifier's fit, then :func:`~pipeline.recommend.apply_genre` per partition
  (:mod:`~.partition_genre`);
- ingest (``min_rows`` estimated from the files' sizes): a scan of each file, then one task
  per chunk of records, then the merge (:mod:`~.partition_ingest`).
- aggregates: a first pass over fixed chunks of ``aggregates.chunk_rows`` rows (centres,
  counts, sample positions), then each partition's whole chunks' partial results, reduced
  in chunk order (:mod:`~.partition_aggregates`).

Partitions never straddle a batch of the local computation and are at least ``MIN_PIECE``
rows (a shorter remainder joins the piece before it): torch's and the exact search's matrix
products give the same rows for any block of 6 rows or more, smaller blocks take another
kernel (measured here), so a partition computes each row as the local engine does.
"""
from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from pydantic import BaseModel, Field

from pipeline.build.context import Context
from pipeline.store import read_npy, read_weights, save_artifact

from . import (
    partition_aggregates,
    partition_clusters,
    partition_features,
    partition_genre,
    partition_ingest,
)
from .partition_files import (
    cached,
    concat_npy,
    n_rows,
    narrow,
    part_path,
    rest_rows,
    scratch,
)

MIN_PIECE = 64
ENV_MIN_ROWS = "PIPELINE_DASK_PARTITION_MIN_ROWS"
ENV_ROWS = "PIPELINE_DASK_PARTITION_ROWS"


class PartitionConfig(BaseModel):
    """When and how the Dask engine partitions a stage (an engine setting: the artifacts
    are the same either way, so it is not part of the build's config or cache keys).

    Attributes:
        min_rows: catalogs with fewer tracks run each stage whole, as one task.
        rows: rows per partition (fewer at the end of a batch of the local computation).
    """

    model_config = {"extra": "forbid"}
    min_rows: int = Field(200_000, ge=1)
    rows: int = Field(50_000, ge=MIN_PIECE)

    @classmethod
    def from_env(cls) -> PartitionConfig:
        """Defaults, overridden by ``$PIPELINE_DASK_PARTITION_MIN_ROWS`` / ``_ROWS``.

        Raises:
            BuildError: a variable that is not a whole number in range, named with its value.
        """
        from pydantic import ValidationError

        from pipeline.errors import BuildError

        values = {}
        for key, var in (("min_rows", ENV_MIN_ROWS), ("rows", ENV_ROWS)):
            if var in os.environ:
                try:
                    values[key] = int(os.environ[var])
                    cls(**{key: values[key]})
                except (ValueError, ValidationError):
                    low = cls.model_fields[key].metadata[0].ge
                    raise BuildError(f"${var}={os.environ[var]!r} is not a whole number of at "
                                     f"least {low}; set it to one (or unset it: default "
                                     f"{cls.model_fields[key].default}).") from None
        return cls(**values)


@dataclass(frozen=True)
class Partitioned:
    """A stage's data-parallel form. Every function runs on a worker except ``applies``,
    ``ranges`` and ``estimate`` (on the client, from the row count and the config).

    A stage whose partitions are only known from its inputs (ingest: the records of each
    file) has a ``scan`` instead of ``ranges``: its fit, called with the rows per partition,
    returns them in its dict (``"ranges"``), and the parts are submitted once it is done.
    ``estimate`` gives the row count before the stage's input table exists.
    """

    applies: Callable[[Context, int], bool]                  # (ctx, n_rows)
    ranges: Callable[[Context, int, int], list[tuple[int, int]]] | None  # (ctx, n_rows, rows)
    fit: Callable[[Context], dict] | None                    # -> small dict for the parts
    part: Callable[[Context, dict, int, int], dict]          # (ctx, fit, lo, hi)
    combine: Callable[[Context, dict, list[dict]], None]     # writes the stage's outputs
    scan: Callable[[Context, int], dict] | None = None       # (ctx, rows) -> fit + "ranges"
    estimate: Callable[[Context], int] | None = None         # (ctx) -> n_rows


def partition_ranges(cells: list[tuple[int, int]], rows: int) -> list[tuple[int, int]]:
    """Pieces of about ``rows`` rows inside each cell (a batch of the local computation).

    A piece never straddles two cells; a remainder shorter than ``MIN_PIECE`` joins the
    piece before it in the same cell. Returns [(lo, hi)] in row order.
    """
    out: list[tuple[int, int]] = []
    for lo, hi in cells:
        first = len(out)
        for a in range(lo, hi, rows):
            b = min(a + rows, hi)
            if b - a < MIN_PIECE and len(out) > first:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


def _cells(n: int, batch: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + batch, n)) for lo in range(0, n, batch)]


def _knn_block(n_base: int) -> int:
    """The query block :func:`pipeline.map.knn` uses against ``n_base`` rows."""
    from pipeline.map import knn

    params = inspect.signature(knn).parameters
    block, block_bytes = params["block"].default, params["block_bytes"].default
    return max(1, min(block, block_bytes // (4 * max(n_base, 1))))


def _always(ctx: Context, n: int) -> bool:
    return True


# --- embedding ---

def _embedding_batch() -> int:
    from pipeline.map import encode

    return inspect.signature(encode).parameters["batch"].default


def _embedding_ranges(ctx: Context, n: int, rows: int) -> list[tuple[int, int]]:
    return partition_ranges(_cells(n, _embedding_batch()), rows)


def _embedding_fit(ctx: Context) -> dict:
    from pipeline.map import fit_embedding

    narrow(ctx, "tracks.parquet", ("track_id", "artist", "genres"))
    narrow(ctx, "memberships.parquet", ("track_id", "playlist_id"))
    _, weights, report = fit_embedding(ctx.get("features.npy"), ctx.get("tracks.parquet"),
                                       ctx.get("memberships.parquet"), ctx.cfg.embedding,
                                       ctx.seed("embedding"))
    save_artifact(ctx.cache / "encoder.safetensors", weights)
    save_artifact(ctx.cache / "embedding_report.json", report)
    return {}


def _embedding_part(ctx: Context, fit: dict, lo: int, hi: int) -> dict:
    from pipeline.map import embed_with

    path = ctx.cache / "encoder.safetensors"
    weights = cached("encoder", [path], lambda: read_weights(path))
    # a writable copy of the rows: torch warns on (read-only) memory-mapped arrays
    features = np.array(read_npy(ctx.cache / "features.npy", mmap=True)[lo:hi])
    out = part_path(ctx, "embedding", "embedding", lo, hi, ".npy")
    save_artifact(out, embed_with(weights, features, ctx.cfg.embedding))
    return {"paths": [str(out)]}


def _embedding_combine(ctx: Context, fit: dict, parts: list[dict]) -> None:
    concat_npy([Path(p["paths"][0]) for p in parts], ctx.cache / "embedding.npy")


# --- neighbours ---

def _neighbors_ranges(ctx: Context, n: int, rows: int) -> list[tuple[int, int]]:
    exact = n <= ctx.cfg.neighbors.exact_max
    return partition_ranges(_cells(n, _knn_block(n) if exact else 65_536), rows)


def _neighbors_fit(ctx: Context) -> dict:
    from pipeline.map import NeighborIndex

    t0 = time.perf_counter()
    index = NeighborIndex.build(ctx.get("embedding.npy"), ctx.cfg.neighbors,
                                ctx.seed("neighbors"))
    # The local stage saves its index after searching the graph, and faiss saves the
    # HNSW search breadth that search set: one row of the graph leaves the same state.
    index.graph_rows(0, 1, ctx.cfg.neighbors.k)
    save_artifact(ctx.cache / "neighbors_index.npy", index.to_bytes())
    return {"build_seconds": time.perf_counter() - t0}


def _neighbor_index(ctx: Context):
    """The stage's index, read once per worker from ``neighbors_index.npy`` + the
    embedding (a faiss HNSW or IVF index is ~1.6x the embedding: far too large to send)."""
    from pipeline.map import NeighborIndex

    files = [ctx.cache / "neighbors_index.npy", ctx.cache / "embedding.npy"]
    return cached("neighbors", files, lambda: NeighborIndex.from_bytes(
        read_npy(files[0]), read_npy(files[1]), ctx.cfg.neighbors))


def _neighbors_part(ctx: Context, fit: dict, lo: int, hi: int) -> dict:
    t0 = time.perf_counter()
    idx, sim = _neighbor_index(ctx).graph_rows(lo, hi, ctx.cfg.neighbors.k)
    paths = [part_path(ctx, "neighbors", what, lo, hi, ".npy") for what in ("idx", "sim")]
    save_artifact(paths[0], idx)
    save_artifact(paths[1], sim)
    return {"paths": [str(p) for p in paths], "seconds": time.perf_counter() - t0}


def _neighbors_combine(ctx: Context, fit: dict, parts: list[dict]) -> None:
    from pipeline.map import neighbors_report

    for i, name in enumerate(("neighbors_idx.npy", "neighbors_sim.npy")):
        concat_npy([Path(p["paths"][i]) for p in parts], ctx.cache / name)
    idx = read_npy(ctx.cache / "neighbors_idx.npy", mmap=True)
    report = neighbors_report(_neighbor_index(ctx), idx, ctx.cfg.neighbors,
                              ctx.seed("neighbors"), fit["build_seconds"],
                              sum(p["seconds"] for p in parts))
    save_artifact(ctx.cache / "neighbors_report.json", report)


# --- projection (catalogs above fit_sample) ---

def _spaces(ctx: Context) -> list[tuple[str, int]]:
    """(space, its UMAP seed): the map, and the clustering space if configured (seed + 1,
    as :func:`pipeline.map.build_projection` does)."""
    seed = ctx.seed("projection")
    return [("map2d", seed)] + ([("cluster", seed + 1)] if ctx.cfg.projection.cluster_dim else [])


def _projection_applies(ctx: Context, n: int) -> bool:
    return n > ctx.cfg.projection.fit_sample


def _projection_ranges(ctx: Context, n: int, rows: int) -> list[tuple[int, int]]:
    """Ranges over the positions of the placed (unfitted) rows, inside the local path's
    placement batches and, with exact search, its query blocks."""
    cfg = ctx.cfg.projection
    rest = n - cfg.fit_sample
    exact = cfg.fit_sample <= ctx.cfg.neighbors.exact_max
    inner = _knn_block(cfg.fit_sample) if exact else cfg.place_batch
    cells = [(a, min(a + inner, b)) for lo, b in _cells(rest, cfg.place_batch)
             for a in range(lo, b, inner)]
    return partition_ranges(_merge_cells(cells, rows, cfg.place_batch), rows)


def _merge_cells(cells: list[tuple[int, int]], rows: int, batch: int) -> list[tuple[int, int]]:
    """Consecutive cells joined up to ``rows`` rows, never across a placement batch."""
    out: list[tuple[int, int]] = []
    for lo, hi in cells:
        if out and out[-1][1] == lo and lo % batch and hi - out[-1][0] <= rows:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _projection_fit(ctx: Context) -> dict:
    from pipeline.build.lineage import warm_start  # a refit starts from the previous map
    from pipeline.map import NeighborIndex, Warm, build_projection, sample_rows

    cfg, nbr = ctx.cfg.projection, ctx.cfg.neighbors
    emb = read_npy(ctx.cache / "embedding.npy", mmap=True)
    n, warm = len(emb), warm_start(ctx)
    for space, seed in _spaces(ctx):
        rows = sample_rows(n, cfg.fit_sample, seed)
        x = np.asarray(emb[rows])
        index = NeighborIndex.build(x, nbr)
        graph = index.graph(min(cfg.n_neighbors, n - 1))
        if space == "map2d":  # the sample alone is within fit_sample: fitted, not placed
            start = None if warm is None else Warm(warm.init[rows], warm.learning_rate)
            coords = build_projection(x, cfg.model_copy(update={"cluster_dim": None}), seed,
                                      graph, nbr, start)[0]
        else:  # build_projection fits its clustering space with seed + 1
            coords = build_projection(x, cfg, seed - 1, graph, nbr)[1]
        folder = scratch(ctx, "projection")
        save_artifact(folder / f"{space}-fit_rows.npy", rows)
        save_artifact(folder / f"{space}-coords.npy", coords.astype(np.float32))
        save_artifact(folder / f"{space}-index.npy", index.to_bytes())
    return {}


def _projection_part(ctx: Context, fit: dict, r0: int, r1: int) -> dict:
    from pipeline.map import NeighborIndex, place_from

    emb = read_npy(ctx.cache / "embedding.npy", mmap=True)
    folder, paths = scratch(ctx, "projection"), []
    for space, _ in _spaces(ctx):
        files = [folder / f"{space}-{w}.npy" for w in ("fit_rows", "coords", "index")]

        def load(files=files):
            rows, coords, data = (read_npy(f) for f in files)
            return rows, coords, NeighborIndex.from_bytes(data, emb[rows], ctx.cfg.neighbors)

        fit_rows, coords, index = cached(f"projection-{space}", files, load)
        rows = rest_rows(fit_rows, r0, r1)
        placed = place_from(index, np.asarray(emb[rows]), coords, ctx.cfg.projection.place_k)
        paths.append(part_path(ctx, "projection", space, r0, r1, ".npy"))
        save_artifact(paths[-1], placed)
    return {"paths": [str(p) for p in paths]}


def _projection_combine(ctx: Context, fit: dict, parts: list[dict]) -> None:
    n, folder = n_rows(ctx.cache), scratch(ctx, "projection")
    out = {}
    for i, (space, _) in enumerate(_spaces(ctx)):
        fit_rows, coords = (read_npy(folder / f"{space}-{w}.npy") for w in ("fit_rows", "coords"))
        arr = np.empty((n, coords.shape[1]), np.float32)
        arr[fit_rows] = coords
        arr[rest_rows(fit_rows, 0, n - len(fit_rows))] = np.concatenate(
            [read_npy(Path(p["paths"][i])) for p in parts])
        out[space] = arr
    save_artifact(ctx.cache / "map2d.npy", out["map2d"])
    save_artifact(ctx.cache / "cluster_space.npy", out.get("cluster", out["map2d"]))


# --- features and genre: partition_features.py, partition_genre.py ---

def _per_row_ranges(ctx: Context, n: int, rows: int) -> list[tuple[int, int]]:
    """Any cut: each row is computed on its own (LightGBM's predictions, the features'
    element-wise transform)."""
    return partition_ranges(_cells(n, n), rows)


# --- clusters (catalogs above its fit_sample): pipeline/build/engines/partition_clusters.py

def _clusters_ranges(ctx: Context, n: int, rows: int) -> list[tuple[int, int]]:
    """Ranges over the positions of the unfitted rows (each labelled on its own)."""
    return partition_ranges([(0, partition_clusters.unfitted(ctx, n))], rows)


PARTITIONED: dict[str, Partitioned] = {
    "ingest": Partitioned(_always, None, None, partition_ingest.part, partition_ingest.combine,
                          scan=partition_ingest.scan, estimate=partition_ingest.estimate),
    "features": Partitioned(_always, _per_row_ranges, partition_features.fit,
                            partition_features.part, partition_features.combine),
    "embedding": Partitioned(_always, _embedding_ranges, _embedding_fit, _embedding_part,
                             _embedding_combine),
    "neighbors": Partitioned(_always, _neighbors_ranges, _neighbors_fit, _neighbors_part,
                             _neighbors_combine),
    "projection": Partitioned(_projection_applies, _projection_ranges, _projection_fit,
                              _projection_part, _projection_combine),
    "clusters": Partitioned(partition_clusters.applies, _clusters_ranges,
                            partition_clusters.fit, partition_clusters.part,
                            partition_clusters.combine),
    "genre": Partitioned(_always, _per_row_ranges, partition_genre.fit, partition_genre.part,
                         partition_genre.combine),
    # fixed chunks of aggregates.chunk_rows, whole in every partition (partition_aggregates)
    "aggregates": Partitioned(_always, partition_aggregates.ranges, partition_aggregates.fit,
                              partition_aggregates.part, partition_aggregates.combine),
}


def plan_for(name: str, ctx: Context, settings: PartitionConfig
             ) -> tuple[Partitioned, list[tuple[int, int]] | None, int] | None:
    """The partitioned form of stage ``name``, its row ranges (None: its scan returns them)
    and the rows per partition, or None to run it whole (no such form, a catalog below
    ``settings.min_rows``, or the form does not apply)."""
    form = PARTITIONED.get(name)
    if form is None:
        return None
    n = form.estimate(ctx) if form.estimate else n_rows(ctx.cache)
    if n < settings.min_rows or not form.applies(ctx, n):
        return None
    return form, None if form.scan else form.ranges(ctx, n, settings.rows), settings.rows
