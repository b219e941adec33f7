"""Recognise the catalog schemas we know and map each to one canonical row table.

Every mapper takes the file's raw string table and returns canonical columns, still as
loosely typed values; validation (numbers, ranges) happens in :mod:`pipeline.ingest`.
"""
from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from pipeline.errors import CatalogError

AUDIO = [
    "danceability", "energy", "key", "loudness", "mode", "speechiness",
    "acousticness", "instrumentalness", "liveness", "valence", "tempo",
]
# Columns every catalog must provide (after mapping) for the audio-feature models to work.
REQUIRED = ["track_name", "artist", "danceability", "energy", "loudness", "speechiness",
            "acousticness", "liveness", "valence", "tempo"]
CANONICAL = [
    "track_id", "track_name", "artist", "artists", "album_id", "album_name", "release_date",
    "decade", "popularity", "duration_ms", "explicit", *AUDIO, "time_signature", "genre",
    "subgenre", "playlist_id", "playlist_name", "is_hit",
]


@dataclass(frozen=True)
class Schema:
    """A known catalog layout: the columns that identify it and how to map it."""

    name: str
    signature: frozenset[str]
    mapper: Callable[[pd.DataFrame, Path], pd.DataFrame]
    columns: frozenset[str] = frozenset()   # every other column the mapper reads
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> other names


@dataclass
class Mapped:
    """One file's table in canonical columns, and how its header was read."""

    table: pd.DataFrame
    schema: str
    renamed: dict[str, str]     # file column -> the name it was read as
    absent: dict[str, list[str]]  # canonical column the file lacks -> similar file columns


def _stable_id(prefix: str, *parts: pd.Series) -> pd.Series:
    """Deterministic ids for catalogs that have none (hash of the identifying text)."""
    joined = parts[0].fillna("").str.casefold()
    for p in parts[1:]:
        joined = joined + "\x1f" + p.fillna("").astype(str).str.casefold()
    return prefix + joined.map(lambda s: hashlib.md5(s.encode()).hexdigest()[:16])


def _map_songs30k(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = df.rename(columns={
        "track_artist": "artist", "track_popularity": "popularity",
        "track_album_id": "album_id", "track_album_name": "album_name",
        "track_album_release_date": "release_date", "playlist_genre": "genre",
        "playlist_subgenre": "subgenre",
    })
    out["artists"] = out["artist"]
    return out


def _map_hit_predictor(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = df.rename(columns={"track": "track_name", "target": "is_hit"})
    out["track_id"] = out["uri"].str.rsplit(":", n=1).str[-1]
    out["artists"] = out["artist"]
    match = re.search(r"(\d0)s", path.stem)
    if match:  # decade only in the file name: "dataset-of-60s" -> 1960
        d = int(match.group(1))
        out["decade"] = str(2000 + d if d <= 20 else 1900 + d)
    return out


def _map_by_genre(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = df.rename(columns={"artists": "artists_raw", "track_genre": "genre"})
    out["artists"] = out["artists_raw"].str.replace(";", "; ", regex=False)
    out["artist"] = out["artists_raw"].str.split(";").str[0]
    return out


def _map_spotify2000(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = pd.DataFrame({
        "track_name": df["Title"], "artist": df["Artist"], "artists": df["Artist"],
        "genre": df["Top Genre"], "release_date": df["Year"],
        "tempo": df["Beats Per Minute (BPM)"], "loudness": df["Loudness (dB)"],
        "popularity": df["Popularity"],
    })
    for src, dst in [("Energy", "energy"), ("Danceability", "danceability"),
                     ("Liveness", "liveness"), ("Valence", "valence"),
                     ("Acousticness", "acousticness"), ("Speechiness", "speechiness")]:
        out[dst] = _scaled(df[src], 0.01)  # spreadsheet uses a 0-100 scale
    out["duration_ms"] = _scaled(df["Length (Duration)"], 1000.0)  # seconds, "1,412" style
    out["track_id"] = _stable_id("s2k:", df["Title"], df["Artist"], df["Year"])
    return out


def _scaled(col: pd.Series, factor: float) -> pd.Series:
    """Scale a numeric text column, keeping values that are not numbers for validation."""
    text = col.astype("string").str.replace(",", "", regex=False).str.strip()
    num = pd.to_numeric(text, errors="coerce")
    return (num * factor).astype("object").where(num.notna(), col)


def _map_canonical(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = df.copy()
    if "artists" not in out:
        out["artists"] = out["artist"]
    if "track_id" not in out:  # a spreadsheet without ids: stable ids from the text
        out["track_id"] = _stable_id("id:", out["track_name"], out["artist"],
                                     out.get("release_date", pd.Series("", index=out.index)))
    return out


_SONGS30K_READS = frozenset({"track_popularity", "track_album_id", "track_album_name",
                             "playlist_genre", "playlist_subgenre", "playlist_name"})
_SPOTIFY2000_READS = frozenset({"Loudness (dB)", "Popularity", "Danceability", "Liveness",
                                "Valence", "Acousticness", "Speechiness", "Year"})
# Other names spreadsheets and exports give the canonical columns (compared by _key).
CANONICAL_ALIASES: dict[str, tuple[str, ...]] = {
    "track_id": ("id", "spotify_id", "song_id", "track_uri_id"),
    "track_name": ("name", "title", "song", "song_name", "song_title", "track_title", "track"),
    "artist": ("artist_name", "artists", "track_artist", "performer", "artist_s"),
    "album_name": ("album", "track_album_name"),
    "release_date": ("date", "year", "release_year", "album_release_date",
                     "track_album_release_date", "released"),
    "popularity": ("track_popularity",),
    "tempo": ("bpm", "beats_per_minute", "beats_per_minute_bpm"),
    "loudness": ("loudness_db",),
    "genre": ("playlist_genre", "track_genre", "top_genre"),
}

SCHEMAS = [
    Schema("songs30k", frozenset({"track_id", "track_name", "track_artist", "playlist_id",
                                  "track_album_release_date"}), _map_songs30k,
           frozenset(CANONICAL) | _SONGS30K_READS),
    Schema("hit_predictor", frozenset({"track", "artist", "uri", "target"}), _map_hit_predictor,
           frozenset(CANONICAL)),
    Schema("by_genre", frozenset({"track_id", "artists", "track_name", "track_genre"}),
           _map_by_genre, frozenset(CANONICAL)),
    Schema("spotify2000", frozenset({"Title", "Artist", "Top Genre", "Beats Per Minute (BPM)",
                                     "Energy", "Length (Duration)"}), _map_spotify2000,
           _SPOTIFY2000_READS),
    Schema("canonical", frozenset({"track_name", "artist", *REQUIRED}), _map_canonical,
           frozenset(CANONICAL), CANONICAL_ALIASES),
]


def _key(name: str) -> str:
    """A column name as compared: casefolded, every run of other characters one '_'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).casefold()).strip("_")


def _renames(columns: list[str], schema: Schema) -> dict[str, str]:
    """File column -> schema column, for headers that differ only in case, spaces or
    punctuation (``Danceability ``, ``TEMPO``, ``Track Name``) or use a known alias.
    A column already named exactly is never displaced."""
    wanted = schema.signature | schema.columns
    taken = {c for c in columns if c in wanted}
    by_key: dict[str, str] = {}
    for name in sorted(wanted):
        by_key.setdefault(_key(name), name)
        for alias in schema.aliases.get(name, ()):
            by_key.setdefault(_key(alias), name)
    out: dict[str, str] = {}
    for col in columns:
        target = by_key.get(_key(col))
        if col not in wanted and target and target not in taken:
            out[col] = target
            taken.add(target)
    return out


def near_misses(name: str, columns: list[str]) -> list[str]:
    """File columns that look like ``name`` (typos, abbreviations, extra words)."""
    keys = {_key(c): c for c in columns}
    k = _key(name)
    close = difflib.get_close_matches(k, list(keys), n=3, cutoff=0.6)
    close += [key for key in keys if len(k) >= 4 and (k in key or (len(key) >= 4 and key in k))]
    return list(dict.fromkeys(keys[c] for c in close))[:3]


def _describe_missing(missing: list[str], columns: list[str]) -> str:
    parts = []
    for m in sorted(missing):
        near = near_misses(m, columns)
        parts.append(f"'{m}'" + (f" (similar: {', '.join(repr(n) for n in near)})" if near else ""))
    return ", ".join(parts)


def detect(columns: list[str], path: Path) -> Schema:
    """Pick the schema whose signature columns are all present, or explain what is missing."""
    return _detect([str(c).strip() for c in columns], path)[0]


def _detect(columns: list[str], path: Path) -> tuple[Schema, dict[str, str]]:
    best: tuple[int, Schema, set[str]] | None = None
    for schema in SCHEMAS:
        renamed = _renames(columns, schema)
        present = {renamed.get(c, c) for c in columns}
        missing = schema.signature - present
        if not missing:
            return schema, renamed
        score = len(schema.signature) - len(missing)
        if best is None or score > best[0]:
            best = (score, schema, missing)
    needs = "; ".join(f"{s.name}: {', '.join(sorted(s.signature))}" for s in SCHEMAS)
    _, closest, missing = best
    raise CatalogError(
        f"{path}: unknown catalog schema. Columns found: {', '.join(sorted(columns)) or '(none)'}. "
        f"Closest known schema '{closest.name}' lacks {_describe_missing(list(missing), columns)}. "
        f"Rename the columns to match one of the known schemas ({needs})."
    )


def to_canonical(df: pd.DataFrame, path: Path) -> Mapped:
    """Map one file's raw table to the canonical columns (missing ones filled with NA)."""
    original = [str(c) for c in df.columns]
    df = df.rename(columns=lambda c: str(c).strip())
    schema, renamed = _detect(list(df.columns), path)
    mapped = schema.mapper(df.rename(columns=renamed), path)
    absent = {}
    for col in CANONICAL:
        if col not in mapped:
            mapped[col] = pd.NA
            absent[col] = near_misses(col, [c for c in df.columns if c not in renamed])
    read_as = {o: renamed.get(o.strip(), o.strip()) for o in original}
    return Mapped(mapped[CANONICAL].copy(), schema.name,
                  {o: n for o, n in read_as.items() if o != n}, absent)
