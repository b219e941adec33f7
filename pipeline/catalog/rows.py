"""Row-level damage that is not a bad value: repeated header lines, NUL bytes, a truncated
last line, lines with too many fields; and duplicate ids whose rows disagree.

Each damaged row is rejected with its reason (``rejects.csv``); the rest of the file goes on.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .schemas import AUDIO

REJECT_COLUMNS = ["source_file", "source_row", "track_id", "track_name", "artist", "column",
                  "value", "reason"]
# Values a track keeps from its first row when several rows share its id (ingest's rule).
TRACK_VALUES = ["track_name", "artist", "album_id", "release_date", "popularity",
                "duration_ms", *AUDIO]


def source_rows(raw: pd.DataFrame) -> np.ndarray:
    """Line number of each row in its file (header on line 1, or 2 after Excel's ``sep=``),
    counting the skipped lines with too many fields. Shape (n_rows,)."""
    info = raw.attrs.get("read", {})
    return line_numbers(len(raw), bool(info.get("separator_line", False)),
                        [line for line, _ in info.get("bad_lines", [])])


def line_numbers(n: int, separator_line: bool, bad_lines: list[int]) -> np.ndarray:
    """:func:`source_rows` from the counts alone: ``n`` rows read, Excel's ``sep=`` line,
    the line numbers of the skipped lines (a file read in chunks numbers its rows at the
    end, from every chunk's counts). Shape (n,)."""
    rows = np.arange(n) + 2 + int(separator_line)
    for line in sorted(bad_lines):
        rows[rows >= line] += 1
    return rows


def damaged_rows(raw: pd.DataFrame, mapped: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Rows to reject before their values are read, and their reject rows.

    Args:
        raw: the file's table as read (original header, ``attrs["read"]``).
        mapped: the same rows in canonical columns, with source_file and source_row.

    Returns:
        (boolean mask over ``mapped``'s rows, reject table in REJECT_COLUMNS).
    """
    info = raw.attrs.get("read", {})
    reasons = pd.Series(None, index=mapped.index, dtype="object")
    header = _repeated_header(raw)
    reasons[header] = "repeated header line (files joined by hand?): not a track"
    if info.get("has_nul"):
        nul = np.zeros(len(raw), bool)
        for col in raw.columns:
            nul |= raw[col].astype("string").str.contains("\x00", regex=False).fillna(False)
        reasons[nul & reasons.isna().to_numpy()] = "contains NUL bytes (damaged data)"
    if info.get("truncated_row") is not None:
        reasons.iloc[info["truncated_row"]] = ("truncated line: the file ends inside this row "
                                               "(cut off while copying or downloading?)")
    mask = reasons.notna()
    out = mapped.loc[mask, ["source_file", "source_row", "track_id", "track_name", "artist"]]
    out = out.assign(column="(row)", value="", reason=reasons[mask])
    extra = pd.DataFrame([{
        "source_file": mapped["source_file"].iloc[0] if len(mapped) else "", "source_row": line,
        "column": "(row)", "value": "",
        "reason": f"line has more fields than the header ({why}): a separator inside an "
                  "unquoted value?"} for line, why in info.get("bad_lines", [])],
        columns=REJECT_COLUMNS)
    frames = [f for f in (out, extra) if len(f)]
    rejects = (pd.concat(frames, ignore_index=True)[REJECT_COLUMNS] if frames
               else pd.DataFrame(columns=REJECT_COLUMNS))
    return mask, rejects


def _repeated_header(raw: pd.DataFrame) -> np.ndarray:
    """Rows that repeat the header: the first column holds its own name and so do at least
    half of the others (a copy of the header line, as files pasted together carry)."""
    if raw.empty:
        return np.zeros(0, bool)
    cols = list(raw.columns)
    first = raw[cols[0]].astype("string").str.strip().str.casefold() == str(cols[0]).strip().casefold()
    candidates = np.flatnonzero(first.fillna(False).to_numpy())
    out = np.zeros(len(raw), bool)
    if not len(candidates):
        return out
    sub = raw.iloc[candidates]
    same = sum((sub[c].astype("string").str.strip().str.casefold()
                == str(c).strip().casefold()).fillna(False).to_numpy() for c in cols)
    out[candidates[same >= max(2, len(cols) / 2)]] = True
    return out


def duplicate_conflicts(rows: pd.DataFrame) -> dict:
    """Ids on several rows whose track values disagree (the first row's values are kept).

    Returns:
        {"ids": ids with a conflict, "columns": {column: ids disagreeing on it}}.
    """
    dup = rows[rows["track_id"].duplicated(keep=False)]
    if dup.empty:
        return {"ids": 0, "columns": {}}
    cols = [c for c in TRACK_VALUES if c in dup]
    differs = dup.groupby("track_id")[cols].nunique(dropna=False) > 1
    per_col = {c: int(n) for c, n in differs.sum().items() if n}
    return {"ids": int(differs.any(axis=1).sum()), "columns": per_col}
