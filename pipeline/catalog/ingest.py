"""Ingest stage: raw catalog tables in, one validated row per track out.

Pure functions over DataFrames; the orchestrator reads files and writes artifacts.
A problem with the whole file raises :class:`CatalogError`; a problem with some rows
rejects those rows into a rejects table with the reason, and the build goes on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import CatalogError

from .rows import (
    REJECT_COLUMNS,
    TRACK_VALUES,
    damaged_rows,
    duplicate_conflicts,
    source_rows,
)
from .schemas import AUDIO, REQUIRED, to_canonical

log = logging.getLogger(__name__)

# (low, high, what the column means) - used for range checks and for error messages.
RANGES: dict[str, tuple[float, float, str]] = {
    **{c: (0.0, 1.0, "a share between 0 and 1") for c in
       ["danceability", "energy", "speechiness", "acousticness", "instrumentalness",
        "liveness", "valence"]},
    "key": (-1, 11, "a pitch class 0-11 (-1 = unknown)"),
    "mode": (0, 1, "0 (minor) or 1 (major)"),
    "loudness": (-70.0, 10.0, "decibels, usually -60 to 0"),
    "tempo": (0.0, 300.0, "beats per minute"),
    "duration_ms": (1.0, 4 * 3600 * 1000.0, "a length in milliseconds"),
    "popularity": (0.0, 100.0, "a score from 0 to 100"),
    "time_signature": (0, 12, "beats per bar"),
    "year": (1900, 2100, "a release year"),
}
NUMERIC = [*AUDIO, "duration_ms", "popularity", "time_signature", "decade"]
TEXT_FILL = {"track_name": "(untitled)", "artist": "(unknown artist)"}
# The smallest catalog we build: the map places each track among its 30 nearest neighbours
# (projection.n_neighbors) and clustering needs groups of several tracks; 10 tracks built
# to 0 clusters (all noise), 60 to 3. Below 50 a map says nothing a table does not.
MIN_TRACKS = 50
PROFILE = ["danceability", "energy", "loudness", "speechiness", "acousticness", "liveness",
           "valence", "tempo"]  # the required audio features: what places a track on the map


@dataclass
class IngestResult:
    """What the ingest stage produces."""

    tracks: pd.DataFrame        # one row per track_id
    memberships: pd.DataFrame   # (track_id, playlist_id, playlist_name, genre, subgenre)
    rejects: pd.DataFrame       # one row per rejected input row, with the reason
    report: dict = field(default_factory=dict)


def parse_release(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Release year and its precision from the date formats exports use.

    ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` (also with ``/`` or ``.``, and a time after it),
    ``M/D/YYYY`` or ``D.M.YYYY`` (day precision; only the year is used), ``MM/YYYY``.
    Anything else (``unknown``, ``0000``, a year outside 1900-2100) is an unknown year:
    the track is kept, the year is NaN.

    Returns:
        (year as float with NaN, precision in {"day", "month", "year", None}).
    """
    s = text.astype("string").str.strip()
    iso = s.str.extract(r"^(\d{4})(?:[-/.](\d{1,2}))?(?:[-/.](\d{1,2}))?(?:[ T].*)?$")
    dmy = s.str.extract(r"^\d{1,2}[-/.]\d{1,2}[-/.](\d{4})(?:[ T].*)?$")[0]
    my = s.str.extract(r"^\d{1,2}[-/.](\d{4})$")[0]
    year = pd.to_numeric(iso[0].fillna(dmy).fillna(my), errors="coerce").astype(float)
    lo, hi, _ = RANGES["year"]
    year = year.where((year >= lo) & (year <= hi))
    precision = np.where(iso[2].notna() | dmy.notna(), "day",
                         np.where(iso[1].notna() | my.notna(), "month", "year"))
    precision = pd.Series(precision, index=s.index, dtype="object").where(year.notna(), None)
    return year, precision


def check_columns(path: Path, absent: dict[str, list[str]]) -> None:
    """A required column the file lacks, with the file's columns that look like it."""
    for col in REQUIRED:
        if col in absent:
            near = absent[col]
            similar = (f" (similar columns in the file: {', '.join(repr(n) for n in near)})"
                       if near else "")
            raise CatalogError(
                f"{path}: required column '{col}' is missing{similar}. Add it, or rename "
                f"your column to '{col}', and build again.")


def check_file(df: pd.DataFrame, path: Path, absent: dict[str, list[str]]) -> None:
    """Whole-file problems: no rows, a required column missing or entirely empty."""
    empty = [] if df.empty else [c for c in REQUIRED if df[c].isna().all()]
    check_counts(path, 0 if df.empty else len(df), absent, empty)


def check_counts(path: Path, n_rows: int, absent: dict[str, list[str]],
                 empty: list[str]) -> None:
    """:func:`check_file` from counts: ``n_rows`` rows, the required columns the file
    lacks (``absent``) and those with no value in any row (``empty``); a file read in
    chunks is checked once, from every chunk's counts."""
    if not n_rows:
        raise CatalogError(f"{path}: the file has a header but no rows. Export the catalog "
                           "again with at least one track.")
    check_columns(path, absent)
    for col in REQUIRED:
        if col in empty:
            raise CatalogError(
                f"{path}: required column '{col}' is entirely empty. Fill it in (or map "
                f"your column to '{col}') and build again.")


def _validate_rows(df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse numbers and check ranges; return (good rows, reject rows)."""
    problems: list[pd.DataFrame] = []
    out = df.copy()
    for col in NUMERIC:
        raw = out[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad_text = raw.notna() & num.isna()
        if bad_text.any():
            comma = bad_text & raw.astype("string").str.fullmatch(r"\s*-?\d*,\d+\s*").fillna(False)
            if comma.any():
                problems.append(_problem(out, comma, col, raw, "not a number: decimal comma "
                                         "(write 0.7, not 0,7; export with a decimal point)"))
            if (bad_text & ~comma).any():
                problems.append(_problem(out, bad_text & ~comma, col, raw, "not a number"))
        infinite = np.isinf(num.astype(float))
        if infinite.any():
            problems.append(_problem(out, infinite, col, raw, "not a finite number"))
            num = num.where(~infinite)
        if col in REQUIRED:
            empty = raw.isna()
            if empty.any():
                problems.append(_problem(out, empty, col, raw, "empty value in a required column"))
        out[col] = num.astype(float)
        if col in RANGES:
            lo, hi, meaning = RANGES[col]
            outside = num.notna() & ((num < lo) | (num > hi))
            if outside.any():
                problems.append(_problem(out, outside, col, raw, f"out of range: expected {meaning}"))
    # A date that cannot be read costs the year only, never the track (the map needs none).
    out["year"], out["year_precision"] = parse_release(out["release_date"])
    if "track_id" in out and out["track_id"].isna().any():
        problems.append(_problem(out, out["track_id"].isna(), "track_id", out["track_id"],
                                 "empty track id"))
    rejects = _one_per_row(problems)
    bad_rows = set(rejects["source_row"])
    good = out[~out["source_row"].isin(bad_rows)]
    return good, rejects


def _one_per_row(problems: list[pd.DataFrame]) -> pd.DataFrame:
    """Collapse several problems of one input row into one reject row, reasons joined."""
    if not problems:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    allp = pd.concat(problems, ignore_index=True).sort_values("source_row", kind="stable")
    g = allp.groupby(["source_file", "source_row"], sort=False)
    out = g.first()
    out["column"] = g["column"].agg(", ".join)
    out["value"] = g["value"].agg(lambda v: ", ".join("" if pd.isna(x) else str(x) for x in v))
    out["reason"] = g["reason"].agg("; ".join)
    return out.reset_index()[REJECT_COLUMNS]


def _problem(df: pd.DataFrame, mask: pd.Series, col: str, raw: pd.Series, reason: str) -> pd.DataFrame:
    return pd.DataFrame({
        "source_file": df.loc[mask, "source_file"], "source_row": df.loc[mask, "source_row"],
        "track_id": df.loc[mask, "track_id"], "track_name": df.loc[mask, "track_name"],
        "artist": df.loc[mask, "artist"], "column": col,
        "value": raw[mask].astype("string"), "reason": f"column '{col}': {reason}",
    })


def normalise_title(s: pd.Series) -> pd.Series:
    """Casefolded text with punctuation and repeated spaces removed, for same-song matching."""
    s = s.astype("string").str.casefold().str.replace(r"[^\w\s]", " ", regex=True)
    return s.str.replace(r"\s+", " ", regex=True).str.strip()


def _merge_duplicates(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """One row per track_id; keep every playlist and genre a track belongs to.

    Returns:
        (tracks, memberships indexed by their row's position, each track's first position).
    """
    memberships = (rows.loc[rows["playlist_id"].notna(),
                            ["track_id", "playlist_id", "playlist_name", "genre", "subgenre"]]
                   .drop_duplicates(["track_id", "playlist_id"]))
    new = ~rows["track_id"].duplicated()
    first = rows[new].set_index("track_id")
    counts = rows.groupby(["track_id", "genre"]).size().rename("n").reset_index()
    top = counts.sort_values(["n", "genre"], ascending=[False, True]).drop_duplicates("track_id")
    first["genre"] = top.set_index("track_id")["genre"].reindex(first.index)
    first["genres"] = _sorted_sets(rows, "genre", first.index)
    first["subgenres"] = _sorted_sets(rows, "subgenre", first.index)
    first["n_playlists"] = rows.groupby("track_id")["playlist_id"].nunique().reindex(first.index)
    first["n_source_rows"] = rows.groupby("track_id").size().reindex(first.index)
    return first.reset_index(), memberships, rows.index[new.to_numpy()].to_numpy()


def _sorted_sets(rows: pd.DataFrame, col: str, index: pd.Index) -> list[list[str]]:
    """Per track of ``index``, the sorted distinct values of ``col`` (vectorised: distinct
    (track, value) codes, then one slice per track; a row loop took 10 s at 200k rows)."""
    values = rows[col]
    ok = values.notna().to_numpy()
    track = index.get_indexer(rows["track_id"])[ok].astype(np.int64)
    codes, uniques = pd.factorize(values[ok], sort=True)
    if not len(uniques):
        return [[] for _ in range(len(index))]
    pairs = np.unique(track * len(uniques) + codes)
    names = np.asarray(uniques, dtype=object)[pairs % len(uniques)]
    bounds = np.searchsorted(pairs // len(uniques), np.arange(len(index) + 1))
    return [names[bounds[i]:bounds[i + 1]].tolist() for i in range(len(index))]


def _song_keys(tracks: pd.DataFrame) -> pd.Series:
    """Each track's same-song key: normalised name and artist."""
    return normalise_title(tracks["track_name"]) + "\x1f" + normalise_title(tracks["artist"])


def _same_song_groups(key: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Group id (by first appearance) and group size for releases of the same song (the
    same :func:`_song_keys`)."""
    group = pd.Series(pd.factorize(key)[0], index=key.index)
    size = group.map(group.value_counts())
    return group, size


def _finish_types(tracks: pd.DataFrame) -> pd.DataFrame:
    """Final column types of the track table; row-level playlist columns move to memberships."""
    flags = {"true": True, "false": False, "1": True, "0": False}
    tracks["explicit"] = tracks["explicit"].astype("string").str.casefold().map(flags)
    tracks["explicit"] = tracks["explicit"].astype("boolean")
    tracks["is_hit"] = pd.to_numeric(tracks["is_hit"], errors="coerce")
    tracks["spotify_url"] = tracks["uri"].str.replace("spotify:track:", "https://open.spotify.com/track/")
    for col in ["album_id", "album_name", "release_date", "year_precision", "genre", "uri"]:
        tracks[col] = tracks[col].astype("string")
    return tracks.drop(columns=["playlist_id", "playlist_name", "subgenre"])


def _reason_counts(rejected: pd.DataFrame) -> dict[str, int]:
    """How many rows were rejected for each single reason."""
    if rejected.empty:
        return {}
    return rejected["reason"].str.split("; ").explode().value_counts().to_dict()


def _top_reasons(rejected: pd.DataFrame, n: int = 3) -> str:
    """The commonest reject reasons with an example row, for a message (rejects.csv is not
    written when the build stops)."""
    parts = []
    for reason, count in list(_reason_counts(rejected).items())[:n]:
        row = rejected.loc[rejected["reason"].str.contains(reason, regex=False)].iloc[0]
        parts.append(f"{count} x {reason} (e.g. {row['source_file']} row {row['source_row']})")
    return "; ".join(parts)


def _read_report(info: dict, renamed: dict[str, str]) -> dict:
    """How one file was read (its ``attrs["read"]``): format, encoding, separator,
    compression, renamed columns."""
    return {k: v for k, v in {
        "format": info.get("format"), "encoding": info.get("encoding"),
        "separator": {"\t": "tab"}.get(info.get("separator"), info.get("separator")),
        "compression": info.get("compression"), "columns_renamed": renamed,
    }.items() if v}


@dataclass
class FileRows:
    """One file's rows (or one chunk's) mapped, with damaged and invalid rows rejected;
    what the whole-file checks need is kept as counts, which add up over chunks."""

    good: pd.DataFrame          # valid rows, canonical columns + source_file, source_row
    damaged: pd.DataFrame       # rejects of damaged rows and skipped lines (damaged_rows)
    invalid: pd.DataFrame       # rejects of rows with bad values (_validate_rows)
    schema: str
    renamed: dict[str, str]
    absent: dict[str, list[str]]
    n_rows: int                 # rows read
    n_kept: int                 # rows left once damaged rows are rejected
    empty: list[str]            # required columns without a value in any row read
    kept_empty: list[str]       # ... in any row left
    read: dict                  # how the file was read (attrs["read"])


def map_rows(raw: pd.DataFrame, path: Path, rows: np.ndarray | None = None) -> FileRows:
    """Map one file's (or chunk's) raw table, reject damaged and invalid rows.

    Args:
        raw: the table as read (``attrs["read"]``).
        path: its file.
        rows: each row's ``source_row``; default its line in the file (:func:`source_rows`).
    """
    mapped = to_canonical(raw, path)
    df = mapped.table
    df["source_file"] = path.name
    df["source_row"] = source_rows(raw) if rows is None else rows
    damaged, damage_rejects = damaged_rows(raw, df)
    kept = df[~damaged]
    good, bad = _validate_rows(kept, path)
    return FileRows(good, damage_rejects, bad, mapped.schema, mapped.renamed, mapped.absent,
                    len(df), len(kept), _empty_required(df), _empty_required(kept),
                    raw.attrs.get("read", {}))


def _empty_required(df: pd.DataFrame) -> list[str]:
    return [c for c in REQUIRED if df[c].isna().all()]


def file_rows(part: FileRows, path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One file's checks as a whole, then (good rows, rejected rows, the file's read report).

    Raises:
        CatalogError: no rows, a required column missing or empty, no readable row.
    """
    check_counts(path, part.n_rows, part.absent, part.empty)
    if not part.n_kept:
        raise CatalogError(f"{path}: no readable row: {_top_reasons(part.damaged)}.")
    check_counts(path, part.n_kept, part.absent, part.kept_empty)
    bad = (pd.concat([part.damaged, part.invalid], ignore_index=True) if len(part.damaged)
           else part.invalid)
    lines = len(part.read.get("bad_lines", []))  # rows the parser skipped
    report = {"file": path.name, "schema": part.schema, "rows_read": part.n_rows + lines,
              **_read_report(part.read, part.renamed)}
    if part.renamed:
        log.info("%s: columns read as %s", path.name, part.renamed)
    return part.good, bad.sort_values("source_row", kind="stable"), report


def _read_file(raw: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One file: map, check as a whole, reject damaged and invalid rows.

    Returns:
        (good rows, rejected rows, the file's read report).
    """
    return file_rows(map_rows(raw, path), path)


def _check_size(tracks: pd.DataFrame, files: list[Path], report: dict) -> None:
    """Enough distinct tracks for a map: MIN_TRACKS tracks whose audio features differ."""
    names = ", ".join(str(p) for p in files)
    counts = (f"{report['rows_read']} rows read, {report['rejected_rows']} rejected, "
              f"{report['duplicate_ids_merged']} duplicate ids merged")
    if len(tracks) < MIN_TRACKS:
        raise CatalogError(
            f"{names}: {len(tracks)} track{'s' * (len(tracks) != 1)} ({counts}); a catalog "
            f"needs at least {MIN_TRACKS} "
            "tracks for the map, clusters and recommendations. Add tracks and build again.")
    profiles = len(tracks[PROFILE].drop_duplicates())
    if profiles < MIN_TRACKS:
        what = ("every track has the same audio features" if profiles == 1 else
                f"only {profiles} distinct audio-feature profiles")
        raise CatalogError(
            f"{names}: {len(tracks)} tracks but {what} ({', '.join(PROFILE)}); the map needs "
            f"at least {MIN_TRACKS} tracks that differ. Check that the feature columns were "
            "exported with their values (not a constant or a formula) and build again.")


def ingest(files: list[tuple[pd.DataFrame, Path]]) -> IngestResult:
    """Validate, map and merge raw catalog tables into the canonical track table.

    Args:
        files: (raw string table, path) per input file; all must map to a known schema.

    Raises:
        CatalogError: a whole-file problem, every row rejected, or fewer than
            ``MIN_TRACKS`` distinct tracks.
    """
    mapped, rejects, reads = [], [], []
    for raw, path in files:
        good, bad, read = _read_file(raw, path)
        mapped.append(good)
        rejects.append(bad)
        reads.append(read)
    return merge_files(mapped, rejects, reads, [p for _, p in files])


@dataclass
class MergedRows:
    """Rows merged into one row per track (:func:`merge_rows`): all the catalog's rows, or
    those of some track ids; parts of the rows split by track_id join in
    :func:`join_merged` (positions order the rows across parts)."""

    tracks: pd.DataFrame        # one row per track_id, by first position
    first: np.ndarray           # each track's first row's position
    song_keys: pd.Series        # each track's :func:`_song_keys`
    memberships: pd.DataFrame   # indexed by their row's position
    n_rows: int
    filled: dict[str, int]      # text filled in, per column of TEXT_FILL
    n_unknown_dates: int
    unknown_dates: pd.Series    # the first 5 distinct unreadable dates, indexed by position
    conflicts: dict             # :func:`duplicate_conflicts`


def merge_rows(rows: pd.DataFrame) -> MergedRows:
    """Duplicates of a track_id merged (first row wins), in rows whose index is their
    position in the catalog (every row of a track_id must be there)."""
    filled = {c: int(rows[c].isna().sum()) for c in TEXT_FILL}
    unknown = rows.loc[rows["release_date"].notna() & rows["year"].isna(), "release_date"]
    rows = rows.fillna(TEXT_FILL)
    rows["key"] = rows["key"].where(rows["key"] >= 0)  # -1 means "no key detected"
    conflicts = duplicate_conflicts(rows)
    tracks, memberships, first = _merge_duplicates(rows)
    return MergedRows(tracks, first, _song_keys(tracks), memberships, len(rows), filled,
                      len(unknown), unknown.drop_duplicates().head(5), conflicts)


def join_merged(parts: list[MergedRows]) -> MergedRows:
    """The :func:`merge_rows` of parts of the rows holding disjoint track ids, as if merged
    whole: tracks in first-position order, memberships in row order. Consumes the parts'
    tables."""
    parts = [p for p in parts if p.n_rows]
    if len(parts) == 1:
        return parts[0]
    first = np.concatenate([p.first for p in parts])
    order = np.argsort(first, kind="stable")
    tracks = pd.concat([p.tracks for p in parts], ignore_index=True)
    memberships = pd.concat([p.memberships for p in parts])
    for p in parts:  # the parts' copies go before the reordered ones are made (memory)
        p.tracks, p.memberships = p.tracks.iloc[:0], p.memberships.iloc[:0]
    unknown = pd.concat([p.unknown_dates for p in parts]).sort_index(kind="stable")
    columns = {}
    for p in parts:
        for c, n in p.conflicts["columns"].items():
            columns[c] = columns.get(c, 0) + n
    return MergedRows(
        tracks.take(order).reset_index(drop=True), first[order],
        pd.concat([p.song_keys for p in parts], ignore_index=True).take(order)
        .reset_index(drop=True),
        memberships.sort_index(kind="stable"),
        sum(p.n_rows for p in parts),
        {c: sum(p.filled[c] for p in parts) for c in TEXT_FILL},
        sum(p.n_unknown_dates for p in parts), unknown.drop_duplicates().head(5),
        {"ids": sum(p.conflicts["ids"] for p in parts),
         "columns": {c: columns[c] for c in TRACK_VALUES if columns.get(c)}})


def check_rows(n_rows: int, rejected: pd.DataFrame, paths: list[Path]) -> None:
    """Raises CatalogError when every row was rejected."""
    if not n_rows:
        names = ", ".join(str(p) for p in paths)
        raise CatalogError(f"{names}: every row was rejected ({len(rejected)} rows): "
                           f"{_top_reasons(rejected)}. Fix the file and build again.")


def merge_files(mapped: list[pd.DataFrame], rejects: list[pd.DataFrame], reads: list[dict],
                paths: list[Path]) -> IngestResult:
    """The files' good rows merged into one row per track (:func:`file_rows` per file,
    in the catalog's order): duplicates, same-song groups, types, the report.

    Raises:
        CatalogError: every row rejected, or fewer than ``MIN_TRACKS`` distinct tracks.
    """
    rows = pd.concat(mapped, ignore_index=True)
    rejected = pd.concat(rejects, ignore_index=True)
    check_rows(len(rows), rejected, paths)
    return finish_merge(merge_rows(rows), rejected, reads, paths)


def finish_merge(merged: MergedRows, rejected: pd.DataFrame, reads: list[dict],
                 paths: list[Path]) -> IngestResult:
    """Same-song groups, types and the report of the merged rows (:func:`merge_rows`).

    Raises:
        CatalogError: fewer than ``MIN_TRACKS`` distinct tracks.
    """
    tracks = merged.tracks
    memberships = merged.memberships.reset_index(drop=True)
    group, size = _same_song_groups(merged.song_keys)
    tracks["song_group"], tracks["n_releases"] = group.to_numpy(), size.to_numpy()
    tracks["uri"] = np.where(tracks["track_id"].str.contains(":"), None,
                             "spotify:track:" + tracks["track_id"])
    tracks["decade"] = tracks["decade"].fillna((tracks["year"] // 10) * 10)
    tracks = _finish_types(tracks)
    report = {
        "schemas": sorted({r["schema"] for r in reads}), "files": [p.name for p in paths],
        "rows_read": sum(r["rows_read"] for r in reads), "tracks": len(tracks),
        "rejected_rows": len(rejected),
        "reject_reasons": _reason_counts(rejected),
        "duplicate_ids_merged": int(merged.n_rows - len(tracks)),
        "duplicate_ids_conflicting": merged.conflicts,
        "release_date_unknown": {"rows": int(merged.n_unknown_dates),
                                 "examples": merged.unknown_dates.tolist()},
        "same_song_groups": int(tracks.loc[tracks["n_releases"] > 1, "song_group"].nunique()),
        "tracks_in_same_song_groups": int((tracks["n_releases"] > 1).sum()),
        "missing_text_filled": merged.filled,
        "playlists": int(memberships["playlist_id"].nunique()),
        "has_playlists": bool(len(memberships)),
        "input": reads,
    }
    _check_size(tracks, paths, report)
    log.info("ingest: %d rows read, %d tracks, %d rejected", report["rows_read"], len(tracks),
             report["rejected_rows"])
    return IngestResult(tracks, memberships, rejected, report)
