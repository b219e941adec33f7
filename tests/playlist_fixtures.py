"""A synthetic built catalog index for the playlist tests (engine, exports, CLI)."""
from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.api import CatalogIndex
from pipeline.map import knn

N_TRACKS, N_CLUSTERS, DIM = 300, 6, 24
OUTPUT_COLUMNS = ["position", "track_id", "track_name", "artist", "album_name", "year", "genre",
                  "cluster", "energy", "tempo", "valence", "danceability", "popularity",
                  "duration_ms", "spotify_url", "uri", "transition_similarity"]


def make_index(n: int = N_TRACKS, seed: int = 0) -> CatalogIndex:
    """A synthetic built catalog: clustered unit embeddings, a few prolific artists,
    same-song groups, explicit flags with unknowns, NaNs, and some non-Spotify ids."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(string.ascii_letters + string.digits))
    ids = ["".join(rng.choice(alphabet, 22)) for _ in range(n)]
    ids[-20:] = [f"s2k:{i:06x}" for i in range(20)]              # synthetic ids, no Spotify
    cluster = rng.integers(0, N_CLUSTERS, n)
    cluster[rng.random(n) < 0.15] = -1
    centres = rng.normal(size=(N_CLUSTERS + 1, DIM))
    emb = centres[cluster] + 0.6 * rng.normal(size=(n, DIM))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    weights = np.r_[np.full(4, 30.0), np.ones(36)]               # 4 artists with many tracks
    artist = rng.choice([f"Artist {i}" for i in range(40)], n, p=weights / weights.sum())
    song = np.arange(n)
    for g in range(15):                                           # same song, several releases
        song[rng.choice(n, 3, replace=False)] = 10_000 + g
    explicit = pd.array(rng.choice([True, False, None], n, p=[0.2, 0.5, 0.3]), dtype="boolean")
    year = rng.integers(1970, 2021, n).astype(float)
    year[rng.random(n) < 0.03] = np.nan
    tempo = rng.uniform(70, 180, n)
    tempo[:3] = np.nan
    duration = rng.integers(120_000, 360_000, n).astype(float)
    duration[3:5] = np.nan
    uri = pd.Series([None if ":" in t else f"spotify:track:{t}" for t in ids], dtype="string")
    url = uri.str.replace("spotify:track:", "https://open.spotify.com/track/")
    prob = np.where(cluster < 0, 0.0, rng.uniform(0.3, 1, n)).astype(np.float32)
    tracks = pd.DataFrame({
        "track_id": ids, "track_name": [f"Song {i}, part {i % 3}" for i in range(n)],
        "artist": artist, "artists": artist, "album_name": [f"Album {i // 4}" for i in range(n)],
        "year": year, "decade": (year // 10) * 10,
        "popularity": rng.integers(0, 101, n).astype(float),
        "duration_ms": duration, "explicit": explicit, "danceability": rng.random(n),
        "energy": np.clip(0.5 + 0.3 * emb[:, 0] * 3 + 0.1 * rng.normal(size=n), 0, 1),
        "valence": rng.random(n), "tempo": tempo, "acousticness": rng.random(n),
        "genre": rng.choice(["pop", "rock", "edm"], n), "song_group": song,
        "uri": uri.to_numpy(), "spotify_url": url.to_numpy(),
        "cluster": cluster.astype(np.int32), "nearest_cluster": np.where(cluster < 0, 0, cluster),
        "cluster_probability": prob,
    })
    tracks["genres"] = [[g] for g in tracks["genre"]]
    tracks["n_releases"] = tracks.groupby("song_group")["track_id"].transform("size")
    nbr, sim = knn(emb, emb, 50, exclude_self=True)
    membership = rng.dirichlet(np.ones(N_CLUSTERS), n).astype(np.float32)
    manifest = {"pipeline_version": "1.0", "catalog": [{"md5": "0123abcd", "path": "x.csv"}],
                "stages": {"ingest": {"key": "k-ingest"}, "embedding": {"key": "k-emb"},
                           "ranker": {"key": "k-rank"}}}     # not read by playlists
    return CatalogIndex(cache_dir=Path("synthetic"), tracks=tracks, memberships=pd.DataFrame(),
                        embedding=emb, coords=rng.normal(size=(n, 2)).astype(np.float32),
                        labels=tracks["cluster"].to_numpy(), membership=membership,
                        neighbors=nbr, neighbor_sims=sim, metrics={}, manifest=manifest)


INDEX = make_index()   # read-only; built once per test session (about 1 s with torch import)
ALL_IDS = INDEX.tracks["track_id"].tolist()
