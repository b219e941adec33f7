"""The features stage over partitions of rows.

- fit (one worker): :class:`pipeline.catalog.FeatureScaler` fitted as the whole stage fits
  it, on the numeric columns of ``tracks.parquet`` only (the inputs of the features are all
  numbers; the strings, most of the table, are not read) -> ``feature_scaler.json``.
- part (rows ``lo:hi``): the scaler's ``transform`` of those rows, element by element.
- combine: the parts streamed into ``features.npy``.

The statistics (per-column medians for missing values, means and standard deviations) are
not a reduction over the partitions: the local stage's are exact medians and numpy's
row-order sums, which partial results combined across partitions do not reproduce to the
last bit, and a change in the last bit of ``features.npy`` changes every artifact built on
it. The fit holds the numeric columns of every track (about 15 x 8 bytes per track: 1.2 GB
at 10M) instead of the whole table; the transform and the writing are per partition.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.build.context import Context
from pipeline.store import read_json, save_artifact

from .partition_files import cached, concat_npy, part_path, read_rows

STAGE = "features"


def numeric_columns(path: Path) -> list[str]:
    """The numeric (integer, float, boolean) columns of a parquet file, in file order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema_arrow
    return [f.name for f in schema if pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type)]


def fit(ctx: Context) -> dict:
    from pipeline.catalog import FeatureScaler
    from pipeline.store import read_parquet

    path = ctx.cache / "tracks.parquet"
    scaler = FeatureScaler(ctx.cfg.features).fit(read_parquet(path, numeric_columns(path)))
    save_artifact(ctx.cache / "feature_scaler.json", scaler.to_dict())
    return {}


def part(ctx: Context, fitted: dict, lo: int, hi: int) -> dict:
    from pipeline.catalog import FeatureScaler

    path, scaler_path = ctx.cache / "tracks.parquet", ctx.cache / "feature_scaler.json"
    scaler = cached(STAGE, [scaler_path],
                    lambda: FeatureScaler.from_dict(read_json(scaler_path)))
    rows = read_rows(path, lo, hi, numeric_columns(path)).to_pandas()
    out = part_path(ctx, STAGE, "features", lo, hi, ".npy")
    save_artifact(out, np.asarray(scaler.transform(rows)))
    return {"paths": [str(out)]}


def combine(ctx: Context, fitted: dict, parts: list[dict]) -> None:
    concat_npy([Path(p["paths"][0]) for p in parts], ctx.cache / "features.npy")
