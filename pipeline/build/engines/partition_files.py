"""Files of the partitioned stages (:mod:`pipeline.build.engines.partitions`): reading a
row range of a parquet artifact, each partition's scratch file in the working generation
(``.parts/<stage>/``), streaming the parts into one ``.npy``, and the per-worker cache that
loads a fitted model or index once per worker process."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.build.context import Context
from pipeline.store import read_npy


def n_rows(cache: Path) -> int:
    """Tracks in the working generation's ``tracks.parquet`` (its footer only)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(cache / "tracks.parquet").metadata.num_rows


def narrow(ctx: Context, name: str, columns) -> None:
    """Hold only ``columns`` (those the file has) of the parquet artifact ``name`` in the
    context, so a one-worker step's own functions read a narrower table under its name:
    the whole track table (37 columns) made the 10M-track steps peak at 11-17 GB
    (bench/fit_bench.py). The lists name what the stage's functions read (a missing one
    is a KeyError, or a default for the genre inputs that read with ``get``), and the
    engines' byte-identity tests compare every result with the whole stage's."""
    import pyarrow.parquet as pq

    from pipeline.store import read_parquet

    path = ctx.cache / name
    have = pq.ParquetFile(path).schema_arrow.names
    ctx.put(name, read_parquet(path, [c for c in have if c in set(columns)]))


def read_rows(path: Path, lo: int, hi: int, columns: list[str]):
    """Rows ``lo:hi`` of a parquet file's ``columns`` as a pyarrow Table, reading only the
    row groups that hold them."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    groups, start, first = [], 0, None
    for g in range(f.metadata.num_row_groups):
        size = f.metadata.row_group(g).num_rows
        if start < hi and start + size > lo:
            groups.append(g)
            first = start if first is None else first
        start += size
    if not groups:
        return f.schema_arrow.empty_table().select(columns)
    return f.read_row_groups(groups, columns=columns).slice(lo - first, hi - lo)


def rest_rows(fit_rows: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of the sorted rows *not* in ``fit_rows`` (without listing them all):
    the rows a partitioned stage places or labels from a fitted sample."""
    before = fit_rows - np.arange(len(fit_rows))  # unfitted rows before each fitted one
    j = np.arange(r0, r1)
    return j + np.searchsorted(before, j, side="right")


def scratch(ctx: Context, stage: str) -> Path:
    path = ctx.cache / ".parts" / stage
    path.mkdir(parents=True, exist_ok=True)
    return path


def part_path(ctx: Context, stage: str, what: str, lo: int, hi: int, suffix: str) -> Path:
    return scratch(ctx, stage) / f"{what}-{lo:012d}-{hi:012d}{suffix}"


def concat_npy(paths: list[Path], out: Path) -> None:
    """Stream part arrays into one ``.npy`` (the same bytes as ``np.save`` of the whole),
    written to a temporary file and renamed (atomic)."""
    first = read_npy(paths[0], mmap=True)
    n = sum(read_npy(p, mmap=True).shape[0] for p in paths)
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp.npy"
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype,
                                    shape=(n, *first.shape[1:]))
    at = 0
    for p in paths:
        part = read_npy(p, mmap=True)
        arr[at:at + len(part)] = part
        at += len(part)
    arr.flush()
    del arr
    os.replace(tmp, out)


_CACHE: dict[str, tuple[tuple, Any]] = {}


def cached(kind: str, paths: list[Path], load: Callable[[], Any]) -> Any:
    """A model or index loaded once per worker process: one entry per ``kind``, keyed by
    its files' paths, sizes and modification times (a rebuilt file is loaded again)."""
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    hit = _CACHE.get(kind)
    if hit is None or hit[0] != key:
        _CACHE.pop(kind, None)  # free the old one before loading the new
        _CACHE[kind] = (key, load())
    return _CACHE[kind][1]


def cleanup(ctx: Context, stage: str) -> None:
    """Remove a stage's scratch files (after its artifacts are written)."""
    shutil.rmtree(ctx.cache / ".parts" / stage, ignore_errors=True)
