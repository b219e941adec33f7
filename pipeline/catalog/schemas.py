"""Recognise the catalog schemas we know and map each to one canonical row table.

Every mapper takes the file's raw string table and returns canonical columns, still as
loosely typed values; validation (numbers, ranges) happens in :mod:`pipeline.ingest`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
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
    return out


SCHEMAS = [
    Schema("songs30k", frozenset({"track_id", "track_name", "track_artist", "playlist_id",
                                  "track_album_release_date"}), _map_songs30k),
    Schema("hit_predictor", frozenset({"track", "artist", "uri", "target"}), _map_hit_predictor),
    Schema("by_genre", frozenset({"track_id", "artists", "track_name", "track_genre"}),
           _map_by_genre),
    Schema("spotify2000", frozenset({"Title", "Artist", "Top Genre", "Beats Per Minute (BPM)",
                                     "Energy", "Length (Duration)"}), _map_spotify2000),
    Schema("canonical", frozenset({"track_id", "track_name", "artist", *REQUIRED}),
           _map_canonical),
]


def detect(columns: list[str], path: Path) -> Schema:
    """Pick the schema whose signature columns are all present, or explain what is missing."""
    present = {c.strip() for c in columns}
    for schema in SCHEMAS:
        if schema.signature <= present:
            return schema
    needs = "; ".join(f"{s.name}: {', '.join(sorted(s.signature))}" for s in SCHEMAS)
    raise CatalogError(
        f"{path}: unknown catalog schema. Columns found: {', '.join(sorted(present)) or '(none)'}. "
        f"Rename the columns to match one of the known schemas ({needs})."
    )


def to_canonical(df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, str]:
    """Map one file's raw table to the canonical columns (missing ones filled with NA)."""
    df = df.rename(columns=lambda c: c.strip())
    schema = detect(list(df.columns), path)
    mapped = schema.mapper(df, path)
    for col in CANONICAL:
        if col not in mapped:
            mapped[col] = pd.NA
    return mapped[CANONICAL].copy(), schema.name
