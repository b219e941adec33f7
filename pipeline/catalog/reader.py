"""One catalog file as a table of strings, from what spreadsheets and exports really write.

Compression (``.gz``; ``.zip`` holding one catalog), encodings (UTF-8 with or without BOM,
UTF-16 by its BOM or its NUL pattern, Windows-1252 / Latin-1 lines, decoded line by line
so that a file joined from a UTF-8 and a Windows export has no mojibake), the separator
(``,`` ``;`` tab ``|`` sniffed, or Excel's ``sep=`` first line), a truncated last line,
lines with too many fields and NUL bytes. Values stay strings so that validation can quote
what the file held; what was detected is in ``df.attrs["read"]`` for the ingest report.
"""
from __future__ import annotations

import csv
import gzip
import io
import re
import warnings
import zipfile
from pathlib import Path

import pandas as pd

from pipeline.errors import CatalogError

# Text that means "no value" in the exports we meet (R writes NA, spreadsheets leave blanks).
NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL"]
SEPARATORS = [",", ";", "\t", "|"]
SAMPLE_BYTES = 1 << 20      # what a sample read (the preflight) decodes: about 4,000 rows
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
FIX = "Save it as a CSV file (UTF-8, comma or semicolon separated) or as parquet."


def read_catalog_file(path: Path, sample: bool = False) -> pd.DataFrame:
    """Read one catalog file (CSV/TSV, optionally .gz/.zip, or parquet) as string columns.

    Args:
        path: the file.
        sample: read only about the first MiB (the preflight); ``attrs["read"]["complete"]``
            says whether that was the whole file.

    Returns:
        The raw table; ``df.attrs["read"]`` holds the format, encoding, separator,
        compression, ``truncated_row`` (row position or None), ``bad_lines``
        ([(line, reason)]) and ``has_nul``.
    """
    try:
        if _magic(path) == b"PAR1":
            return _read_parquet(path, sample)
        data, compression, complete = _load_bytes(path, sample)
        if not data.strip():
            raise CatalogError(f"{path}: the file is empty. Export the catalog again with a "
                               "header row and at least one track.")
        text, encoding = _decode(data, path)
        if not complete:  # a sample ends at its last complete line
            text = text[:text.rfind("\n") + 1] or text
        try:
            sep, skip = _sniff(text)
        except CatalogError as exc:
            raise CatalogError(f"{path}: {exc}") from None
        df, info = _parse(text, sep, skip, path, complete)
    except CatalogError:
        raise
    except pd.errors.EmptyDataError:
        raise CatalogError(f"{path}: the file is empty. Export the catalog again with a header "
                           "row and at least one track.") from None
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, ValueError, EOFError,
            zipfile.BadZipFile) as exc:
        raise CatalogError(f"{path}: cannot be read as a catalog ({type(exc).__name__}: "
                           f"{str(exc).strip()}). {FIX}") from None
    df.attrs["read"] = {"format": "csv", "encoding": encoding, "separator": sep,
                        "separator_line": bool(skip), "compression": compression,
                        "complete": complete, **info}
    return df


def _magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def _read_parquet(path: Path, sample: bool) -> pd.DataFrame:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path)
    complete = not sample or meta.metadata.num_rows <= 4000
    if complete:
        df = pd.read_parquet(path).astype("string")
    else:
        df = next(meta.iter_batches(batch_size=4000)).to_pandas().astype("string")
    df.attrs["read"] = {"format": "parquet", "encoding": None, "separator": None,
                        "compression": None, "complete": complete, "truncated_row": None,
                        "bad_lines": [], "has_nul": False}
    return df


def _load_bytes(path: Path, sample: bool) -> tuple[bytes, str | None, bool]:
    """(bytes, compression, complete): the file's bytes, decompressed, maybe only the start."""
    limit = SAMPLE_BYTES + 1 if sample else -1
    magic = _magic(path)
    if magic[:2] == b"\x1f\x8b":
        with gzip.open(path) as fh:
            data, compression = fh.read(limit), "gzip"
    elif magic == b"PK\x03\x04":
        data, compression = _read_zip(path, limit), "zip"
    elif magic == b"\xd0\xcf\x11\xe0":
        raise CatalogError(f"{path}: this is an Excel 97-2003 workbook (.xls), not a CSV file. "
                           f"Open it in a spreadsheet and {FIX[0].lower()}{FIX[1:]}")
    else:
        with open(path, "rb") as fh:
            data, compression = fh.read(limit), None
    complete = not sample or len(data) <= SAMPLE_BYTES
    return (data if complete else data[:SAMPLE_BYTES]), compression, complete


def _read_zip(path: Path, limit: int) -> bytes:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
        if any(n.startswith("xl/") for n in names):
            raise CatalogError(f"{path}: this is an Excel workbook (.xlsx), not a CSV file. "
                               f"Open it in a spreadsheet and {FIX[0].lower()}{FIX[1:]}")
        inner = [n for n in names if n.lower().endswith(TEXT_SUFFIXES)]
        if len(inner) != 1:
            found = ", ".join(names[:10]) or "(nothing)"
            raise CatalogError(
                f"{path}: a .zip catalog must hold exactly one .csv/.tsv/.txt file; it holds "
                f"{found}. Unpack it into a folder and pass the folder instead.")
        with zf.open(inner[0]) as fh:
            return fh.read(limit)


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    """Text and the encoding used (BOM, UTF-16 NUL pattern, UTF-8, then per-line fallback)."""
    if data[:3] == b"\xef\xbb\xbf":
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError:
            return _decode_lines(data[3:])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data[:len(data) // 2 * 2].decode("utf-16"), "utf-16"
    head = data[:4096]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if len(head) >= 16 and max(even, odd) > 0.4 * len(head) / 2 and min(even, odd) < 0.05 * len(head):
        enc = "utf-16-le" if odd > even else "utf-16-be"
        return data[:len(data) // 2 * 2].decode(enc), enc
    _refuse_binary(head, path)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return _decode_lines(data)


def _decode_lines(data: bytes) -> tuple[str, str]:
    """Decode line by line: UTF-8 where it is valid, else Windows-1252, else Latin-1.

    A file joined by hand from a UTF-8 export and a Windows export stays readable; a whole
    Windows-1252 file is reported as such. Newline is one byte in all three encodings.
    """
    text, legacy, latin, utf8 = decode_lines_counted(data)
    return text, lines_encoding(legacy, latin, utf8)


def decode_lines_counted(data: bytes) -> tuple[str, int, int, int]:
    """:func:`_decode_lines`' text and its line counts: (text, Windows-1252 lines, Latin-1
    lines, non-ASCII UTF-8 lines). Counts add up over pieces cut after a newline, so a
    file read in chunks names its encoding as read whole (:func:`lines_encoding`)."""
    out, legacy, latin, utf8 = [], 0, 0, 0
    for line in data.split(b"\n"):
        try:
            out.append(line.decode("utf-8"))
            utf8 += not line.isascii()
        except UnicodeDecodeError:
            try:
                out.append(line.decode("cp1252"))
                legacy += 1
            except UnicodeDecodeError:
                out.append(line.decode("latin-1"))
                latin += 1
    return "\n".join(out), legacy, latin, utf8


def lines_encoding(legacy: int, latin: int, utf8: int) -> str:
    """The encoding's name for a text decoded line by line, from its line counts."""
    name = "cp1252 (Windows-1252)" if not latin else "latin-1"
    if latin and legacy:
        name = f"cp1252 (Windows-1252) + latin-1 ({latin} lines)"
    if utf8:
        name = f"utf-8 + {name} ({legacy + latin} lines)"
    return name


def _refuse_binary(head: bytes, path: Path) -> None:
    """A file that is mostly control bytes is not a text export: say so instead of parsing."""
    controls = sum(head.count(bytes([b])) for b in [*range(0, 9), 11, 12, *range(14, 32)])
    if head and controls > 0.05 * len(head):
        raise CatalogError(f"{path}: cannot be read as a catalog: it holds binary data "
                           f"({controls} control bytes in its first {len(head)}), not text. "
                           f"{FIX}")


def _sniff(text: str) -> tuple[str, int]:
    """(separator, lines to skip): Excel's ``sep=;`` line, else the separator that splits
    the first lines into the same number of fields (more than one), most fields first."""
    first = text[:text.find("\n") if "\n" in text else len(text)].strip()
    m = re.fullmatch(r'"?sep=(.)"?', first)
    if m:
        return m.group(1), 1
    lines = text[:65536].splitlines()[:20]
    best, best_score = ",", (-1, -1)
    for sep in SEPARATORS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=sep)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts)
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = sep, score
    if best_score[0] < 0:
        raise CatalogError(f"cannot be read as a catalog: its first line has no column "
                           f"separator (, ; tab or |): {first[:60]!r}. {FIX}")
    return best, 0


def _parse(text: str, sep: str, skip: int, path: Path, complete: bool) -> tuple[pd.DataFrame, dict]:
    """pandas' C parser; lines with too many fields are skipped and listed (``bad_lines``);
    a last line cut short (a file truncated in transfer) is marked (``truncated_row``)."""
    def read(t: str) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            df = pd.read_csv(io.StringIO(t), sep=sep, dtype=str, keep_default_na=False,
                             na_values=NA_VALUES, skiprows=skip, on_bad_lines="warn")
        bad = []
        for w in caught:
            for m in re.finditer(r"Skipping line (\d+): (.*)", str(w.message)):
                bad.append((int(m.group(1)) + skip, m.group(2).strip()))
        return df, bad

    tail = text[text.rfind("\n") + 1:] if complete and not text.endswith(("\n", "\r")) else ""
    try:
        df, bad = read(text)
    except pd.errors.ParserError as exc:
        if not (tail.strip() and "EOF inside string" in str(exc)):
            raise
        df, bad = read(text[:len(text) - len(tail)])  # cut inside a quoted value
        df = pd.concat([df, _tail_row(tail, sep, df.columns)], ignore_index=True)
        return df, {"truncated_row": len(df) - 1, "bad_lines": bad, "has_nul": "\x00" in text}
    truncated = None
    if tail.strip() and tail.count('"') % 2 == 0 and len(df):
        n = len(next(csv.reader([tail], delimiter=sep)))
        truncated = len(df) - 1 if n < len(df.columns) else None
    return df, {"truncated_row": truncated, "bad_lines": bad, "has_nul": "\x00" in text}


def _tail_row(tail: str, sep: str, columns: pd.Index) -> pd.DataFrame:
    """The fields of a last line that ends inside a quoted value, as one table row."""
    fields = next(csv.reader([tail], delimiter=sep))[:len(columns)]
    values = [None if f in NA_VALUES else f for f in fields]
    return pd.DataFrame([values + [None] * (len(columns) - len(values))], columns=columns,
                        dtype="str")
