"""The aggregates stage, whole or over partitions of rows (docs/AGGREGATES.md).

Both forms cut the track table into the same fixed chunks of ``aggregates.chunk_rows`` rows
(the stage's config, not the engine's partition setting), compute each chunk's partial
results (:func:`pipeline.catalog.chunk_partials`) and reduce them in chunk order
(:func:`pipeline.catalog.combine_partials`), so the artifacts are byte-identical whichever
engine and partition size built them.

- whole (:func:`run_whole`, the stage table's runner): the two passes over the chunks here;
- fit (one worker): a first pass over the chunks reading the features and the cluster
  column only (:func:`pipeline.catalog.first_pass`): the clusters' centres for their most
  typical tracks and each feature's count of values per chunk (a small dict the
  partitions receive), and the Distributions view's sample positions (a scratch file);
- part (whole chunks ``lo:hi``): each chunk's partials written to scratch parquet files;
- combine: the partials read back in chunk order and reduced -> the ``agg_*`` tables.

A partial is put through Arrow in both forms (parquet on the Dask path, in memory on the
local one) so the reduction sees the same column types either way.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.build.context import Context
from pipeline.store import read_npy, save_artifact

from .partition_files import cached, n_rows, part_path, read_rows, scratch

STAGE = "aggregates"


def chunks(n: int, chunk_rows: int) -> list[tuple[int, int]]:
    """The fixed chunks [(lo, hi)] of an ``n``-row table."""
    return [(lo, min(lo + chunk_rows, n)) for lo in range(0, n, chunk_rows)]


def ranges(ctx: Context, n: int, rows: int) -> list[tuple[int, int]]:
    """Partitions of whole chunks, about ``rows`` rows each (at least one chunk)."""
    cells = chunks(n, ctx.cfg.aggregates.chunk_rows)
    per = max(1, rows // ctx.cfg.aggregates.chunk_rows)
    return [(cells[i][0], cells[min(i + per, len(cells)) - 1][1])
            for i in range(0, len(cells), per)]


def read_chunk(cache: Path, lo: int, hi: int, columns: tuple[str, ...] | None = None
               ) -> pd.DataFrame:
    """Rows ``lo:hi`` of the track table (``columns``, default the ones the aggregates
    read) with their cluster ids and strengths from ``clusters.parquet``, as
    ``pipeline.load`` joins them."""
    import pyarrow.parquet as pq

    from pipeline.catalog import AGGREGATE_COLUMNS

    path = cache / "tracks.parquet"
    names = set(pq.ParquetFile(path).schema_arrow.names)
    wanted = [c for c in (columns or AGGREGATE_COLUMNS) if c in names]
    tracks = read_rows(path, lo, hi, wanted).to_pandas()
    clusters = read_rows(cache / "clusters.parquet", lo, hi, ["cluster", "probability"])
    return tracks.assign(cluster=clusters.column("cluster").to_numpy(),
                         cluster_probability=clusters.column("probability").to_numpy())


def _arrow(df: pd.DataFrame) -> pd.DataFrame:
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False).to_pandas()


def _first_pass(ctx: Context, n: int) -> dict:
    """The first pass over every chunk, in chunk order (:func:`pipeline.catalog.first_pass`)."""
    from pipeline.catalog import AGGREGATE_FEATURES, chunk_moments, first_pass

    return first_pass([chunk_moments(read_chunk(ctx.cache, lo, hi, AGGREGATE_FEATURES))
                       for lo, hi in chunks(n, ctx.cfg.aggregates.chunk_rows)])


def _partials(ctx: Context, first: dict, positions: dict, lo: int, hi: int
              ) -> dict[str, pd.DataFrame]:
    from pipeline.catalog import chunk_partials, row_inputs

    cfg = ctx.cfg.aggregates
    rows = row_inputs(first, lo // cfg.chunk_rows, positions, cfg)
    return chunk_partials(read_chunk(ctx.cache, lo, hi), lo, cfg.bin_widths, rows)


def _outputs(ctx: Context, partials: list[dict[str, pd.DataFrame]], n: int) -> dict[str, Any]:
    from pipeline.catalog import aggregate_outputs

    return aggregate_outputs(partials, n, ctx.cfg.aggregates)


def run_whole(ctx: Context) -> dict[str, Any]:
    """The stage's artifacts by name, chunk after chunk in this process."""
    from pipeline.catalog import sample_positions

    n = n_rows(ctx.cache)
    first = _first_pass(ctx, n)
    positions = sample_positions(first["n_valid"], ctx.cfg.aggregates.distribution_points)
    partials = [{k: _arrow(v) for k, v in _partials(ctx, first, positions, lo, hi).items()}
                for lo, hi in chunks(n, ctx.cfg.aggregates.chunk_rows)]
    return _outputs(ctx, partials, n)


def fit(ctx: Context) -> dict:
    """The first pass; the samples' row positions (up to 20,000 per feature and size) go
    to a scratch file the partitions read once per worker, not into every task."""
    from pipeline.catalog import sample_positions

    first = _first_pass(ctx, n_rows(ctx.cache))
    positions = sample_positions(first["n_valid"], ctx.cfg.aggregates.distribution_points)
    keys = sorted(positions)
    flat = np.concatenate([positions[k] for k in keys]) if keys else np.zeros(0, np.int64)
    save_artifact(scratch(ctx, STAGE) / "positions.npy", flat)
    return {**first, "positions": {k: len(positions[k]) for k in keys}}


def _positions(ctx: Context, fitted: dict) -> dict[str, np.ndarray]:
    path = scratch(ctx, STAGE) / "positions.npy"
    flat = cached(STAGE, [path], lambda: read_npy(path))
    out, at = {}, 0
    for key, size in fitted["positions"].items():
        out[key] = flat[at:at + size]
        at += size
    return out


def part(ctx: Context, fitted: dict, lo: int, hi: int) -> dict:
    """Each whole chunk of rows ``lo:hi``: its partials as parquet files (paths returned)."""
    out = []
    for a, b in chunks(hi - lo, ctx.cfg.aggregates.chunk_rows):
        paths = {}
        for name, table in _partials(ctx, fitted, _positions(ctx, fitted), lo + a,
                                     lo + b).items():
            paths[name] = str(part_path(ctx, STAGE, name, lo + a, lo + b, ".parquet"))
            save_artifact(Path(paths[name]), table)
        out.append(paths)
    return {"chunks": out}


class _Chunk(Mapping):
    """A chunk's partial tables, each read from its scratch file when the reduction asks
    for it and not kept (the histograms are folded a few chunks at a time)."""

    def __init__(self, paths: dict[str, str]):
        self.paths = paths

    def __getitem__(self, name: str) -> pd.DataFrame:
        from pipeline.store import read_parquet

        return read_parquet(Path(self.paths[name]))

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def combine(ctx: Context, fitted: dict, parts: list[dict]) -> None:
    partials = [_Chunk(chunk) for part_ in parts for chunk in part_["chunks"]]
    for name, value in _outputs(ctx, partials, n_rows(ctx.cache)).items():
        save_artifact(ctx.cache / name, value)
