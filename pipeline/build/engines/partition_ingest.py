"""The ingest stage over partitions: a scan of each catalog file, one task per chunk of
records, and a combine that writes ``tracks.parquet``, ``memberships.parquet``,
``rejects.csv`` and ``ingest_report.json`` as the whole stage does (byte-identical: tests/
build/test_partition_ingest.py).

- **Scan** (the fit; one Dask task per file of a folder): per file, the read's decisions
  and its chunks (:mod:`~.partition_ingest_read`); the chunks, and so the stage's
  partitions, are only known then, so the fit returns them (``Partitioned.scan``). A parquet file's chunks are
  runs of its row groups. A file the chunked read cannot reproduce exactly (gzip, zip,
  UTF-16, a quote it cannot place, ...) is one partition read whole, as the local stage
  reads it; the log says so.
- **Chunk** (one task each): the chunk read with the file's settings, then the local
  stage's own per-row steps (:func:`pipeline.catalog.ingest.map_rows`: the schema mapping,
  damaged rows, value validation) on rows numbered provisionally; its good rows go to
  parquet files in ``.parts/ingest/``, one per bucket of track ids
  (:mod:`~.partition_ingest_merge`), its rejects to two more, its counts (rows, skipped
  lines, required columns without a value, encoding line counts) to the combine.
- **Combine** (one task): per file, the rows' line numbers from all chunks' counts
  (:func:`pipeline.catalog.rows.line_numbers`), the whole-file checks from the counts (the
  same messages, in the same order: every file's read errors first, as the local stage reads
  every file before it maps one), then the merge: one Dask task per bucket runs the local
  stage's :func:`pipeline.catalog.ingest.merge_rows` on its rows, and this task joins them
  (one row per track and per membership, not the catalog's rows), numbers the same-song
  groups, finishes the types and writes the artifacts
  (:func:`pipeline.catalog.ingest.finish_merge`, as the local stage).
  A chunk that the parser refuses sends its file to a whole read here, so an unreadable
  file fails with the local read's message.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.build.context import Context
from pipeline.catalog import read_catalog_file
from pipeline.catalog.ingest import FileRows, check_rows, file_rows, finish_merge, map_rows
from pipeline.catalog.rows import REJECT_COLUMNS, line_numbers
from pipeline.errors import CatalogError
from pipeline.store import read_parquet, save_artifact

from .partition_files import part_path
from .partition_ingest_merge import (
    joined_attrs,
    merge_buckets,
    n_buckets,
    renumber,
    write_buckets,
)
from .partition_ingest_read import (
    decode,
    encoding_name,
    plan_file,
    read_chunk,
    read_parquet_chunk,
)

log = logging.getLogger(__name__)

# Bytes per catalog row, to decide from the files' sizes whether to partition (the rows are
# only known after the read): the default catalog has 238 (7.8 MB, 32,833 rows), the scale
# catalogs about 300; an overestimate of the rows (this is low) only partitions earlier.
BYTES_PER_ROW = 250
PROVISIONAL = 1 << 40   # chunk row i is numbered PROVISIONAL + i until the combine
REJECTS = ("damaged", "invalid")


def estimate(ctx: Context) -> int:
    """Rows the catalog files hold, from their sizes."""
    return sum(Path(p).stat().st_size for p in ctx.catalog) // BYTES_PER_ROW


def scan(ctx: Context, rows: int) -> dict:
    """Each file's read decisions and chunks of ``rows`` records; ``ranges`` are the
    stage's partitions (record numbers over the files in order; a file read whole counts
    its size / BYTES_PER_ROW). On a Dask worker, a folder's files are scanned by one Dask
    task each (:func:`_scan_tasks`)."""
    paths = [Path(p) for p in ctx.catalog]
    files = _scan_tasks(paths, rows)
    chunks, at = [], 0
    for i, (path, plan) in enumerate(zip(paths, files)):
        for piece in [None] if "whole" in plan else plan["chunks"]:
            n = max(1, piece[-1] if piece else path.stat().st_size // BYTES_PER_ROW)
            chunks.append({"file": i, "chunk": piece, "lo": at, "hi": at + n})
            at += n
    return {"files": files, "chunks": chunks, "buckets": n_buckets(len(chunks)),
            "ranges": [(c["lo"], c["hi"]) for c in chunks]}


def _scan_tasks(paths: list[Path], rows: int) -> list[dict]:
    """:func:`scan_file` of each file: one Dask task per file when this runs in a Dask
    task and there are several files (the scan task hands its thread back while they
    run: ``worker_client``), else one after another."""
    import distributed

    try:
        distributed.get_worker()
    except ValueError:  # not on a worker: the form called in-process (tests, benches)
        return [scan_file(p, rows) for p in paths]
    if len(paths) == 1:
        return [scan_file(paths[0], rows)]
    with distributed.worker_client() as client:
        return client.gather(client.map(scan_file, paths, [rows] * len(paths), pure=False))


def scan_file(path: Path, rows: int) -> dict:
    """One file's :func:`~.partition_ingest_read.plan_file`, with the decoding counts of
    the part every chunk repeats (``sep=`` line, header), or ``{"whole": why}``."""
    try:
        plan = plan_file(path, rows)
    except (OSError, ValueError) as exc:  # the whole read says what is wrong
        plan = {"whole": f"{type(exc).__name__}"}
    if "whole" in plan:
        log.info("ingest: %s is read whole by one task (%s)", path.name, plan["whole"])
    elif "bom" in plan:
        with open(path, "rb") as fh:
            fh.seek(plan["bom"])
            plan["prefix_counts"] = decode(fh.read(plan["body"] - plan["bom"]))[1]
    return plan


def part(ctx: Context, fit: dict, lo: int, hi: int) -> dict:
    """One chunk (or a whole file): read, map, reject, validate; rows to parquet parts."""
    slot, chunk = next((k, c) for k, c in enumerate(fit["chunks"]) if c["lo"] == lo)
    path = Path(ctx.catalog[chunk["file"]])
    counts = None
    try:
        if chunk["chunk"] is None:
            raw = read_catalog_file(path)
        elif fit["files"][chunk["file"]].get("format") == "parquet":
            raw = read_parquet_chunk(path, chunk["chunk"][0])
        else:
            raw, counts = read_chunk(path, fit["files"][chunk["file"]], chunk["chunk"])
    except CatalogError as exc:   # a whole read's own message
        return {"read_error": str(exc)}
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        return {"fallback": f"{type(exc).__name__}: {exc}"}
    try:
        rows = map_rows(raw, path, np.arange(len(raw), dtype=np.int64) + PROVISIONAL)
    except CatalogError as exc:   # the header's schema: the same in every chunk
        return {"map_error": str(exc)}
    paths = {}
    for what, frame in (("damaged", rows.damaged), ("invalid", rows.invalid)):
        paths[what] = str(part_path(ctx, "ingest", what, lo, hi, ".parquet"))
        save_artifact(Path(paths[what]), frame)
    buckets = write_buckets(rows.good, slot, fit["buckets"],
                            lambda b: part_path(ctx, "ingest", f"good{b:03d}", lo, hi, ".parquet"))
    return {"paths": paths, "buckets": buckets, "n_good": len(rows.good),
            "n_rows": rows.n_rows, "n_kept": rows.n_kept,
            "empty": rows.empty, "kept_empty": rows.kept_empty, "schema": rows.schema,
            "renamed": rows.renamed, "absent": rows.absent, "read": rows.read,
            "counts": counts}


def combine(ctx: Context, fit: dict, parts: list[dict]) -> None:
    """Per file: line numbers, whole-file checks, then the local merge; the four artifacts."""
    paths = [Path(p) for p in ctx.catalog]
    by_file: list[list[dict]] = [[] for _ in paths]
    for chunk, result in zip(fit["chunks"], parts):
        by_file[chunk["file"]].append(result)
    whole: dict[int, pd.DataFrame] = {}
    for i, (path, results) in enumerate(zip(paths, by_file)):  # read errors first
        error = next((r["read_error"] for r in results if "read_error" in r), None)
        if error:
            raise CatalogError(error)
        refused = next((r["fallback"] for r in results if "fallback" in r), None)
        if refused:
            log.info("ingest: a chunk of %s was refused by the parser (%s): read whole",
                     path.name, refused)
            whole[i] = read_catalog_file(path)
    rejects, reads, attrs, n_good = [], [], [], 0
    lines, base, at = [], np.zeros(len(fit["chunks"]), np.int64), 0
    buckets: list[list[str]] = [[] for _ in range(fit["buckets"])]
    for i, (path, results) in enumerate(zip(paths, by_file)):
        slots = [k for k, c in enumerate(fit["chunks"]) if c["file"] == i]
        if i in whole:
            good, bad, read = file_rows(map_rows(whole[i], path), path)
            lo, hi = fit["ranges"][slots[0]]
            pieces = [write_buckets(good, slots[0], fit["buckets"], lambda b, lo=lo, hi=hi:
                                    part_path(ctx, "ingest", f"whole{b:03d}", lo, hi,
                                              ".parquet"))]
            attrs.append(good.attrs)
            n_good += len(good)
        else:
            error = next((r["map_error"] for r in results if "map_error" in r), None)
            if error:
                raise CatalogError(error)
            rows, numbers = _file_rows(fit["files"][i], results, path)
            _, bad, read = file_rows(rows, path)
            base[slots] = at + np.cumsum([0] + [r["n_rows"] for r in results])[:-1]
            lines.append(numbers)
            at += len(numbers)
            pieces = [r["buckets"] for r in results]
            attrs.append({"read": rows.read})
            n_good += sum(r["n_good"] for r in results)
        for piece in pieces:
            for b, p in piece.items():
                buckets[int(b)].append(p)
        rejects.append(bad)
        reads.append(read)
    rejected = pd.concat(rejects, ignore_index=True)
    check_rows(n_good, rejected, paths)
    merged = merge_buckets(buckets)
    renumber(merged.tracks, merged.first,
             np.concatenate(lines) if lines else np.zeros(0, np.int64), base, PROVISIONAL)
    merged.tracks.attrs = joined_attrs(attrs)
    merged.memberships.attrs = joined_attrs(attrs)
    res = finish_merge(merged, rejected, reads, paths)
    for name, value in (("tracks.parquet", res.tracks),
                        ("memberships.parquet", res.memberships),
                        ("rejects.csv", res.rejects), ("ingest_report.json", res.report)):
        save_artifact(ctx.cache / name, value)


def _file_rows(plan: dict, results: list[dict], path: Path) -> tuple[FileRows, np.ndarray]:
    """One file's :class:`FileRows` from its chunks' parts, rejects numbered as read whole
    (its good rows stay in their buckets: ``good`` is empty), and its rows' numbers."""
    first = results[0]
    read = dict(first["read"])  # the reader's keys in its order: pandas writes df.attrs
    if "bom" in plan:           # into the parquet files, so they must be the whole read's
        read["encoding"] = encoding_name(plan["bom"], [plan["prefix_counts"]]
                                         + [r["counts"] for r in results])
        before = np.cumsum([0] + [r["n_rows"] for r in results])
        read["truncated_row"] = next((int(b + r["read"]["truncated_row"]) for b, r in
                                      zip(before, results)
                                      if r["read"]["truncated_row"] is not None), None)
        read["has_nul"] = any(r["read"]["has_nul"] for r in results)
        read["bad_lines"] = [(line, why) for r in results for line, why in r["read"]["bad_lines"]]
    bad_lines = read["bad_lines"]
    lines = line_numbers(sum(r["n_rows"] for r in results), bool(read.get("separator_line")),
                         [line for line, _ in bad_lines])
    damaged, invalid, at = ([], []), [], 0
    for r in results:
        frames = {k: read_parquet(Path(p)) for k, p in r["paths"].items()}
        for frame in frames.values():
            _renumber(frame, lines, at)
        dmg = frames["damaged"]
        row = dmg["source_row"].to_numpy() < PROVISIONAL  # numbered: a skipped line
        damaged[0].append(dmg[~row])
        damaged[1].append(dmg[row].assign(source_file=path.name))
        invalid.append(frames["invalid"])
        at += r["n_rows"]
    return FileRows(pd.DataFrame(), _rejects(damaged[0] + damaged[1]),
                    _rejects(invalid), first["schema"], first["renamed"], first["absent"],
                    sum(r["n_rows"] for r in results), sum(r["n_kept"] for r in results),
                    _all(results, "empty"), _all(results, "kept_empty"), read), lines


def _renumber(frame: pd.DataFrame, lines: np.ndarray, at: int) -> None:
    """Provisional row numbers -> the rows' numbers in the file (in place)."""
    if not len(frame):
        return
    v = frame["source_row"].to_numpy(dtype=np.int64)
    prov = v >= PROVISIONAL
    v = v.copy()
    v[prov] = lines[at + v[prov] - PROVISIONAL]
    frame["source_row"] = v


def _rejects(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return (pd.concat(frames, ignore_index=True)[REJECT_COLUMNS] if frames
            else pd.DataFrame(columns=REJECT_COLUMNS))


def _all(results: list[dict], key: str) -> list[str]:
    """Required columns without a value in every chunk."""
    return [c for c in results[0][key] if all(c in r[key] for r in results)]
