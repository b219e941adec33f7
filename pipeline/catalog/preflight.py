"""The preflight: whole-file problems found in about a second, before a build starts any
worker or warms anything up.

It opens every catalog file, reads its first MiB (encoding, separator, header), maps the
header to a schema and checks the required columns. A file that fits in that MiB is read
whole and ingested, so row-level verdicts (every row rejected, too few tracks) come just as
fast. It also checks that the cache path is a folder that can be written.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import CacheError, CatalogError

from .ingest import check_columns, check_file, ingest
from .reader import read_catalog_file
from .schemas import to_canonical

log = logging.getLogger(__name__)


@dataclass
class Preflight:
    """What the preflight found (it raises on any problem)."""

    files: list[Path]
    reads: list[dict] = field(default_factory=list)  # per file: schema, encoding, renames...
    complete: bool = False      # every file was read whole and ingested (row checks done)
    tracks: int | None = None   # valid tracks, when complete
    seconds: float = 0.0


def preflight(files: list[Path], cache: Path | None = None) -> Preflight:
    """Check the catalog files (and the cache folder) before a build.

    Args:
        files: catalog files, as :func:`resolve_catalog` returns them.
        cache: the build's cache folder (may not exist yet), or None to skip that check.

    Raises:
        CatalogError: a file is missing, unreadable, empty, of no known schema, lacks a
            required column; or (small files) every row is rejected or too few tracks.
        CacheError: the cache path is a file, or cannot be created or written.
    """
    t0 = time.perf_counter()
    if not files:
        raise CatalogError("no catalog files to build from. Pass --catalog PATH (a file or "
                           "a folder of CSV/parquet files).")
    raws = []
    out = Preflight(list(files))
    for path in files:
        _check_path(path)
        raw = read_catalog_file(path, sample=True)
        mapped = to_canonical(raw, path)
        complete = raw.attrs["read"]["complete"]
        if complete:  # a whole file: its columns may be checked for emptiness too
            check_file(mapped.table, path, mapped.absent)
        else:
            check_columns(path, mapped.absent)
        raws.append((raw, path))
        out.reads.append({"file": path.name, "schema": mapped.schema, "complete": complete,
                          "columns_renamed": mapped.renamed,
                          **{k: raw.attrs["read"].get(k) for k in ("encoding", "separator",
                                                                     "compression")}})
    if all(r["complete"] for r in out.reads):
        out.complete, out.tracks = True, len(ingest(raws).tracks)
    if cache is not None:
        check_cache_dir(cache)
    out.seconds = round(time.perf_counter() - t0, 3)
    log.info("preflight: %d file(s) fine in %.2f s%s", len(files), out.seconds,
             f", {out.tracks} tracks" if out.complete else " (header and first rows)")
    return out


def _check_path(path: Path) -> None:
    if not path.exists():
        raise CatalogError(f"{path}: catalog not found. Pass an existing CSV or parquet file "
                           "(or a folder of them) with --catalog or the CATALOG environment "
                           "variable.")
    if not path.is_file():
        raise CatalogError(f"{path}: not a file. Pass a CSV or parquet file, or a folder "
                           "of them.")
    if not os.access(path, os.R_OK):
        raise CatalogError(f"{path}: the file cannot be read (permission denied). Make it "
                           "readable (chmod +r) or copy it somewhere readable.")
    if path.stat().st_size == 0:
        raise CatalogError(f"{path}: the file is empty. Export the catalog again with a "
                           "header row and at least one track.")


def check_cache_dir(cache: Path) -> None:
    """The cache path is a folder that can be written: created if missing, then probed with
    a temporary file (permission bits do not tell for root or a read-only file system).

    Raises:
        CacheError: naming the path, what is wrong and the fix.
    """
    if cache.exists() and not cache.is_dir():
        raise CacheError(f"{cache}: the cache path is a file, not a folder. Pass --cache "
                         "with a folder path (it is created if missing), or move the file.")
    probe = cache
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise CacheError(f"{cache}: cannot create the cache folder: {probe} is a file. "
                         "Pass --cache with a path inside a folder.")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as exc:
        raise CacheError(f"{cache}: the cache folder cannot be written ({exc.strerror or exc}). "
                         "Pass --cache with a writable folder, or fix its permissions.") from None
