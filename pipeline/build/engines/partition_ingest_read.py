"""One CSV file cut into chunks of whole records, each read as the whole file's read reads
it (:func:`pipeline.catalog.read_catalog_file`), for the ingest stage over partitions.

The scan (:func:`plan_file`, one sequential pass) makes the read's per-file decisions from
the file's start (byte-order mark, separator, Excel's ``sep=`` line, the header record) and
finds the record ends: a newline is one where the quotes before it are even in number. That
holds for CSV as pandas' parser reads it only if every quote that opens or closes a quoted
value sits next to a separator or a line end; the scan checks each odd run of quotes for
that and, for anything else (or a bare carriage return, a line end to pandas), gives the
file up to the whole read. Chunk ``k`` starts after record end ``k * rows`` of the body, so
the number of records before it (blank lines count: pandas numbers them) is known without
parsing; skipped lines are numbered from it.

A chunk (:func:`read_chunk`) is decoded alone: cut after a newline, it is valid UTF-8 if
and only if that part of the file is, and line-by-line decoding gives the same text as the
whole-file decoding of those lines, so only the encoding's *name* needs every chunk (the
UTF-8 validity is an AND over chunks, the line counts a sum: :func:`encoding_name`). The
header record (after any ``sep=`` line) is put in front of each chunk and the reader's own
parser runs on that text with the file's settings.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.catalog.reader import (
    SAMPLE_BYTES,
    _parse,
    _refuse_binary,
    _sniff,
    decode_lines_counted,
    lines_encoding,
)
from pipeline.errors import CatalogError

BLOCK = 1 << 26      # bytes scanned at a time (64 MiB)
QUOTE, NL, CR = ord('"'), ord("\n"), ord("\r")
BOM = b"\xef\xbb\xbf"
SNIFFED_CHARS = 65536  # what reader._sniff reads of the text


def plan_file(path: Path, rows: int) -> dict:
    """The read's decisions for one file and its chunks of ``rows`` records.

    Returns:
        A parquet file's :func:`plan_parquet`; ``{"whole": why}`` for a file the chunked
        read cannot reproduce exactly (gzip, zip, an Excel file, UTF-16, a binary or empty
        file, a separator it cannot sniff from the start, a quote or carriage return it
        cannot place); else ``{"bom",
        "sep", "skip", "body", "prefix_records", "chunks": [[start, end, records_before,
        records]]}`` (byte offsets; ``records_before`` counts from the file's first line).
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    magic = head[:4]
    if magic == b"PAR1":
        return plan_parquet(path, rows)
    if magic[:2] == b"\x1f\x8b" or magic in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"):
        return {"whole": "compressed or a workbook"}
    if not head.strip():
        return {"whole": "empty start"}
    bom = 3 if head[:3] == BOM else 0
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or (not bom and _utf16(head[:4096])):
        return {"whole": "UTF-16"}
    if not bom:
        try:
            _refuse_binary(head[:4096], path)
        except CatalogError:
            return {"whole": "binary"}
    whole_head = size <= len(head)
    cut = len(head) if whole_head else head.rfind(b"\n") + 1
    text = decode(head[bom:cut])[0]
    if not whole_head and len(text) < SNIFFED_CHARS:
        return {"whole": "long first lines"}
    try:
        sep, skip = _sniff(text)
    except CatalogError:
        return {"whole": "no separator"}
    if len(sep.encode()) != 1 or sep in '"\r\n':
        return {"whole": "separator"}
    ends = record_ends(path, bom, size, ord(sep))
    if ends is None:
        return {"whole": "quotes or carriage returns the chunked read cannot place"}
    prefix = skip + 1                       # records before the body: sep= line, header
    body = int(ends[prefix - 1]) + 1 if len(ends) >= prefix else size
    tail = int(size > (int(ends[-1]) + 1 if len(ends) >= prefix else size))  # no newline
    starts = [body] + [int(e) + 1 for e in ends[prefix - 1 + rows::rows]]
    chunks = []
    for k, start in enumerate(starts):
        last = k + 1 == len(starts)
        end = size if last else starts[k + 1]
        before = prefix + k * rows
        n = min(rows, max(len(ends) - before, 0)) + (tail if last else 0)
        if start < end or not chunks:
            chunks.append([start, end, before, n])
    return {"bom": bom, "sep": sep, "skip": skip, "body": body, "prefix_records": prefix,
            "chunks": chunks}


def plan_parquet(path: Path, rows: int) -> dict:
    """A parquet file's chunks: runs of whole row groups of at least ``rows`` rows
    (``[[row groups], records_before, records]``), or ``{"whole": why}``."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    if not meta.num_rows:
        return {"whole": "parquet without rows"}
    chunks, groups, n, before = [], [], 0, 0
    for g in range(meta.num_row_groups):
        groups.append(g)
        n += meta.row_group(g).num_rows
        if n >= rows or g + 1 == meta.num_row_groups:
            chunks.append([groups, before, n])
            groups, before, n = [], before + n, 0
    return {"format": "parquet", "chunks": chunks}


def read_parquet_chunk(path: Path, groups: list[int]) -> pd.DataFrame:
    """Row groups of a parquet file as the reader reads the whole file (string columns,
    its ``attrs["read"]``): the same values, row group by row group."""
    import pyarrow.parquet as pq

    df = pq.ParquetFile(path).read_row_groups(groups).to_pandas().astype("string")
    df.attrs["read"] = {"format": "parquet", "encoding": None, "separator": None,
                        "compression": None, "complete": True, "truncated_row": None,
                        "bad_lines": [], "has_nul": False}
    return df


def _utf16(head: bytes) -> bool:
    """reader._decode's test for UTF-16 without a byte-order mark (NULs on one side)."""
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return (len(head) >= 16 and max(even, odd) > 0.4 * len(head) / 2
            and min(even, odd) < 0.05 * len(head))


def record_ends(path: Path, start: int, size: int, sep: int) -> np.ndarray | None:
    """Offsets of the newlines that end a record (outside quotes), or None if a quote or
    a carriage return makes that unsure (the caller reads the file whole)."""
    if size <= start:
        return np.zeros(0, np.int64)
    data = np.memmap(path, np.uint8, mode="r")
    out, quotes, pos = [], 0, start
    delims = np.zeros(256, bool)  # a lookup table: byte -> is a separator or a line end
    delims[[sep, NL, CR]] = True
    while pos < size:
        end = min(pos + BLOCK, size)
        while end < size and data[end - 1] == QUOTE:  # never split a run of quotes
            end += 1
        block = np.asarray(data[pos:end])
        q = np.flatnonzero(block == QUOTE)
        nl = np.flatnonzero(block == NL)
        cr = np.flatnonzero(block == CR)
        if len(cr) and (_next_bytes(block, cr, data, pos, size) != NL).any():
            return None  # a bare carriage return: a line end to pandas, not to this scan
        if len(q) and not _quotes_placed(block, q, quotes, pos, start, size, data, delims):
            return None
        even = (quotes + np.searchsorted(q, nl)) % 2 == 0
        out.append(nl[even].astype(np.int64) + pos)
        quotes += len(q)
        pos = end
    return np.concatenate(out)


def _next_bytes(block: np.ndarray, at: np.ndarray, data: np.ndarray, pos: int,
                size: int) -> np.ndarray:
    """The byte after each position ``at`` of ``block`` (a newline after the file's end)."""
    after = at + 1
    out = np.full(len(at), NL, np.uint8)
    inside = after < len(block)
    out[inside] = block[after[inside]]
    if not inside.all() and pos + len(block) < size:
        out[~inside] = data[pos + len(block)]
    return out


def _prev_bytes(block: np.ndarray, at: np.ndarray, data: np.ndarray, pos: int,
                start: int) -> np.ndarray:
    """The byte before each position ``at`` of ``block`` (a newline before the text)."""
    before = at - 1
    out = np.full(len(at), NL, np.uint8)
    inside = before >= 0
    out[inside] = block[before[inside]]
    if not inside.all() and pos - 1 >= start:
        out[~inside] = data[pos - 1]
    return out


def _quotes_placed(block: np.ndarray, q: np.ndarray, before: int, pos: int, start: int,
                   size: int, data: np.ndarray, delims: np.ndarray) -> bool:
    """Every odd run of quotes opens a value (after a separator or line start) when the
    quotes before it are even in number, and closes one (before a separator or a line end)
    when they are odd; even runs (escaped quotes, an empty value) change nothing."""
    breaks = np.flatnonzero(np.diff(q) != 1) + 1
    first = np.concatenate([[0], breaks])
    last = np.concatenate([breaks - 1, [len(q) - 1]])
    odd = (last - first) % 2 == 0
    first, last = first[odd], last[odd]
    opening = (before + first) % 2 == 0
    prev = _prev_bytes(block, q[first], data, pos, start)
    nxt = _next_bytes(block, q[last], data, pos, size)
    return bool(np.where(opening, delims[prev], delims[nxt]).all())


def decode(data: bytes) -> tuple[str, dict]:
    """A piece of the file cut after a newline: its text and what its encoding's name needs
    (``utf8``: valid UTF-8; line counts of :func:`pipeline.catalog.reader.decode_lines_counted`)."""
    try:
        text = data.decode("utf-8")
        nonascii = 0 if data.isascii() else sum(not ln.isascii() for ln in data.split(b"\n"))
        return text, {"utf8": True, "legacy": 0, "latin": 0, "nonascii": nonascii}
    except UnicodeDecodeError:
        text, legacy, latin, nonascii = decode_lines_counted(data)
        return text, {"utf8": False, "legacy": legacy, "latin": latin, "nonascii": nonascii}


def encoding_name(bom: int, pieces: list[dict]) -> str:
    """The file's encoding as reader._decode names it, from its pieces' :func:`decode`."""
    if all(p["utf8"] for p in pieces):
        return "utf-8-sig" if bom else "utf-8"
    return lines_encoding(*(sum(p[k] for p in pieces) for k in ("legacy", "latin", "nonascii")))


def read_chunk(path: Path, plan: dict, chunk: list[int]) -> tuple[pd.DataFrame, dict]:
    """Chunk ``[start, end, records_before, records]`` of a planned file as a raw table.

    Returns:
        (the table, its ``attrs["read"]`` as the whole read's for these rows, skipped lines
        numbered in the file; the encoding is the file's, named by the combine), the body's
        :func:`decode` counts.

    Raises:
        pandas.errors.ParserError and the like: text the parser refuses (the caller reads
        the file whole, which then says what the local read says).
    """
    start, end, before, _ = chunk
    with open(path, "rb") as fh:
        fh.seek(plan["bom"])
        prefix = fh.read(plan["body"] - plan["bom"])
        fh.seek(start)
        data = fh.read(end - start)
    text, counts = decode(data)
    df, info = _parse(decode(prefix)[0] + text, plan["sep"], plan["skip"], path, True)
    shift = before - plan["prefix_records"]
    info["bad_lines"] = [(line + shift, why) for line, why in info["bad_lines"]]
    df.attrs["read"] = {"format": "csv", "encoding": None, "separator": plan["sep"],
                        "separator_line": bool(plan["skip"]), "compression": None,
                        "complete": True, **info}
    return df, counts
