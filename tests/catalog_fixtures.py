"""Test data helpers: a small synthetic catalog with planted problems, a fast config and
the real catalogs (../shared/data, or $CATALOG_TEST_DATA).

A plain module, not conftest.py: tests import from it by name, and two conftest.py files
(tests/ and tests/dashboard/) would shadow each other as the module ``conftest``."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import EmbeddingConfig, PipelineConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CATALOG_TEST_DATA", ROOT.parent / "shared" / "data"))
GENRES = ["pop", "rock", "rap", "edm", "latin", "r&b"]

# Planted problems in the synthetic catalog (row numbers are 0-based data rows).
BAD_TEMPO_ROW = 5         # tempo "fast" -> not a number
BAD_ENERGY_ROW = 9        # energy 1.7 -> out of range
EMPTY_VALENCE_ROW = 13    # valence empty -> required value missing
BAD_DATE_ROW = 17         # release date "someday" -> kept, with an unknown year
N_PLANTED_BAD = 3         # rows rejected (the bad date costs the year, not the track)


def make_catalog(n_tracks: int = 400, seed: int = 0) -> pd.DataFrame:
    """A catalog in the 30k-songs schema: playlists with genre-specific audio profiles,
    duplicate ids across playlists, same-song releases, NaN text and planted bad rows."""
    rng = np.random.default_rng(seed)
    n_playlists = 24
    pl_genre = [GENRES[i % len(GENRES)] for i in range(n_playlists)]
    centre = {g: rng.uniform(0.15, 0.85, 6) for g in GENRES}
    artists = [f"Artist {i}" for i in range(60)]
    rows = []
    for t in range(n_tracks):
        p = int(rng.integers(n_playlists))
        g = pl_genre[p]
        c = centre[g] + rng.normal(0, 0.06, 6)
        year = int(rng.integers(1975, 2020))
        rows.append({
            "track_id": f"T{t:05d}", "track_name": f"Song {t}",
            "track_artist": artists[(t * 7 + p) % len(artists)],
            "track_popularity": int(rng.integers(0, 100)), "track_album_id": f"A{t // 3}",
            "track_album_name": f"Album {t // 3}",
            "track_album_release_date": [f"{year}", f"{year}-04", f"{year}-04-21"][t % 3],
            "playlist_name": f"List {p}", "playlist_id": f"P{p:03d}",
            "playlist_genre": g, "playlist_subgenre": f"{g} sub{p % 2}",
            "danceability": c[0].clip(0, 1), "energy": c[1].clip(0, 1), "key": int(rng.integers(0, 12)),
            "loudness": -20 + 18 * c[2].clip(0, 1), "mode": int(rng.integers(0, 2)),
            "speechiness": c[3].clip(0, 1) * 0.3, "acousticness": c[4].clip(0, 1),
            "instrumentalness": float(rng.uniform(0, 0.05)), "liveness": float(rng.uniform(0.05, 0.4)),
            "valence": c[5].clip(0, 1), "tempo": 80 + 80 * c[0].clip(0, 1),
            "duration_ms": int(rng.integers(120_000, 300_000)),
        })
    df = pd.DataFrame(rows)
    # The same track in a second playlist (duplicate id, different playlist and genre).
    dup = df.iloc[:30].copy()
    dup["playlist_id"], dup["playlist_name"] = "P999", "Mixed"
    dup["playlist_genre"], dup["playlist_subgenre"] = "pop", "pop mixed"
    # The same song on another release (new id, same name and artist).
    rel = df.iloc[30:40].copy()
    rel["track_id"] = [f"R{i:05d}" for i in range(len(rel))]
    df = pd.concat([df, dup, rel], ignore_index=True)
    df = df.astype({"tempo": object, "energy": object, "valence": object})
    df.loc[BAD_TEMPO_ROW, "tempo"] = "fast"
    df.loc[BAD_ENERGY_ROW, "energy"] = 1.7
    df.loc[EMPTY_VALENCE_ROW, "valence"] = None
    df.loc[BAD_DATE_ROW, "track_album_release_date"] = "someday"
    df.loc[21, ["track_name", "track_artist"]] = None  # kept, with placeholder text
    return df


def small_config(seed: int = 7) -> PipelineConfig:
    """Defaults, with a shorter embedding schedule so tests stay fast."""
    return PipelineConfig(seed=seed, embedding=EmbeddingConfig(epochs=3, pairs_per_epoch=3000,
                                                               batch_size=256))


def real_data(name: str) -> Path:
    """A real catalog file; skipped when missing, except in CI (``CI=true``), where a
    missing catalog fails the run instead of silently skipping the real-data tests."""
    path = DATA / name
    if not path.exists():
        message = (f"{path} not found: put the shared data beside the project or set "
                   "CATALOG_TEST_DATA")
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: real-catalog tests must run)")
        pytest.skip(message)
    return path
