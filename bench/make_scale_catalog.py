"""Large synthetic catalogs for scale benchmarks, grown from the default catalog.

Usage (from the repo root)::

    .venv/bin/python bench/make_scale_catalog.py --tracks N --out PATH [--seed 0] [--source CSV]

Writes an N-track catalog in exactly the schema of the default catalog (the TidyTuesday
"30000 Spotify songs" file, one row per (track, playlist) membership) as CSV, or as parquet
when PATH ends in ``.parquet``. The pipeline and the dashboard must be measured on catalogs
10-40x the default one; copying rows would give duplicate ids and pure random numbers would
have none of the structure the models learn from, so every new track is *blended* from two
real tracks:

* **Playlists.** About ``471 * N / 28356`` new playlists, each derived from one source
  playlist (its genre and subgenre, the name "<source name> #k", its size), every source
  playlist equally often, so sizes follow the source's. Tracks belong to 1..8 playlists as
  often as in the source (90% to one); a track's other playlists share the genre of its own
  as often as in the source (45%, against 17% by chance).
* **Tracks.** A track in a playlist derived from source playlist P is a blend of two members
  a and b of P: audio features ``w*a + (1-w)*b`` with ``w ~ U(0.2, 0.8)`` plus small noise,
  clipped to the valid ranges; key, mode and release date from a or b; popularity blended.
  New 22-character base62 ids (a counter inside, so unique; checked against the source ids),
  titles joined from the words of the two parents' titles.
* **Artists and albums.** New artists with the source's heavy-tailed tracks-per-artist
  distribution; an artist's tracks sit close together in a genre-sorted playlist order, so
  they come from a few neighbouring source playlists of one genre (15% are strays placed
  anywhere), as in real data. Albums are runs of 1-15 tracks of one artist, cut like the
  albums of a source artist of the same size; an album's tracks share its lead track's
  release date (so only lead tracks take the date of a parent).
* **Same-song releases.** About 7.5% of the tracks (the source's 2,126 of 28,356) are another
  release of a track of the same artist: same name and artist, new id and album
  ("<album> (Remastered)" ...), near-identical features.

Fully vectorised (numpy, pyarrow); loops run over a handful of steps, never over tracks.
Same arguments, same bytes. Prints one summary line at the end.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scale_catalog_text import (  # noqa: E402
    _album_text,
    _albums,
    _ids,
    _playlist_columns,
    _track_text,
)

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    "track_id", "track_name", "track_artist", "track_popularity", "track_album_id",
    "track_album_name", "track_album_release_date", "playlist_name", "playlist_id",
    "playlist_genre", "playlist_subgenre", "danceability", "energy", "key", "loudness", "mode",
    "speechiness", "acousticness", "instrumentalness", "liveness", "valence", "tempo",
    "duration_ms",
]
TEXT = ["track_id", "track_name", "track_artist", "track_album_id", "track_album_name",
        "track_album_release_date", "playlist_name", "playlist_id", "playlist_genre",
        "playlist_subgenre"]
SYMMETRIC = ["danceability", "energy", "valence", "loudness", "tempo", "duration_ms"]
SKEWED = ["speechiness", "acousticness", "instrumentalness", "liveness"]  # many values near 0
BLENDED = SYMMETRIC + SKEWED
SHARES = ["danceability", "energy", "speechiness", "acousticness", "instrumentalness",
          "liveness", "valence"]
LIMITS = {**{c: (0.0, 1.0) for c in SHARES}, "loudness": (-60.0, 5.0),
          "duration_ms": (1000.0, 4 * 3600 * 1000.0)}  # tempo: the source's positive range
NOISE = 0.05           # additive noise sd, as a share of the feature's source sd
SKEW_NOISE = 0.10      # multiplicative (log-normal) noise sd for the skewed shares
REISSUE_NOISE = 0.005  # noise of a re-release around its original, share of the source sd
ARTIST_SPREAD = 1.0    # sd of an artist's track positions, in mean playlist sizes
STRAY_SHARE = 0.15     # tracks placed anywhere instead of next to their artist
MAX_ALBUM = 15
STREAMS = ("layout", "artists", "keys", "blend", "albums", "ids", "order", "names")


@dataclass(frozen=True)
class Source:
    """The default catalog reduced to what the generator samples from."""

    tracks: pd.DataFrame      # one row per unique track_id, (n_src,)
    playlists: pd.DataFrame   # id, name, genre, subgenre (the playlist's most common pair)
    members: np.ndarray       # (n_memberships,) rows of ``tracks``, grouped by playlist
    starts: np.ndarray        # (n_playlists + 1,) offsets of each playlist in ``members``
    per_track: np.ndarray     # (n_src,) playlists per track
    per_artist: np.ndarray    # (n_artists,) tracks per artist
    artist_starts: np.ndarray  # (n_artists,) offsets of each artist in ``album_start``
    album_start: np.ndarray   # (n_artist_tracks,) True where an album begins, by artist
    reissue_share: float      # ids that repeat another id's (name, artist), per id
    same_genre: float         # extra memberships in the genre of the track's first playlist
    ids: pa.Array             # every track, album and playlist id of the source


@dataclass(frozen=True)
class ScaleCatalog:
    """A generated catalog: the rows to write and where each track came from."""

    rows: pa.Table            # COLUMNS, one row per (track, playlist), grouped by playlist
    provenance: pa.Table      # per track: track_id, source_playlist_id, source_genre,
    #                           parent_a, parent_b, weight, reissue_of (track_id or null)
    tracks_per_artist: np.ndarray   # (n_artists,)
    playlist_sizes: np.ndarray      # (n_playlists,)


def default_source() -> Path:
    """$CATALOG_TEST_DATA/spotify_songs.csv if set, else ../shared/data beside the project."""
    data = os.environ.get("CATALOG_TEST_DATA")
    return Path(data) / "spotify_songs.csv" if data else (
        ROOT.parent / "shared" / "data" / "spotify_songs.csv")


def load_source(path: Path) -> Source:
    """Read the default catalog and measure the distributions the generator copies."""
    df = pd.read_csv(path, dtype={c: str for c in TEXT}, keep_default_na=False,
                     na_values=[""])
    missing = sorted(set(COLUMNS) - set(df.columns))
    if missing:
        raise ValueError(f"{path}: not the 30k-songs schema; missing columns {missing}")
    tracks = df.drop_duplicates("track_id").reset_index(drop=True)
    pairs = df.drop_duplicates(["track_id", "playlist_id"])
    top = (df.groupby(["playlist_id", "playlist_genre", "playlist_subgenre"]).size()
           .rename("n").reset_index()
           .sort_values(["playlist_id", "n", "playlist_genre", "playlist_subgenre"],
                        ascending=[True, False, True, True])
           .drop_duplicates("playlist_id"))
    names = pairs.drop_duplicates("playlist_id").set_index("playlist_id")["playlist_name"]
    playlists = pd.DataFrame({"id": top["playlist_id"].to_numpy(),
                              "name": names.reindex(top["playlist_id"]).to_numpy(),
                              "genre": top["playlist_genre"].to_numpy(),
                              "subgenre": top["playlist_subgenre"].to_numpy()})
    row = pd.Index(tracks["track_id"]).get_indexer(pairs["track_id"])
    pl = pd.Index(playlists["id"]).get_indexer(pairs["playlist_id"])
    order = np.argsort(pl, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(pl, minlength=len(playlists)))])
    key = tracks["track_name"] + "\x1f" + tracks["track_artist"]
    dup = key.notna() & key.duplicated(keep=False)
    ids = pd.concat([df["track_id"], df["track_album_id"], df["playlist_id"]]).dropna()
    return Source(
        tracks=tracks, playlists=playlists, members=row[order], starts=starts,
        per_track=np.bincount(row, minlength=len(tracks)),
        **_album_pattern(tracks),
        reissue_share=float((dup.sum() - key[dup].nunique()) / len(tracks)),
        same_genre=_same_genre_share(pairs), ids=pa.array(ids.unique()))


def _album_pattern(tracks: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each artist's tracks, album by album: where albums begin (at most MAX_ALBUM long)."""
    t = tracks.dropna(subset=["track_artist"]).sort_values(
        ["track_artist", "track_album_id", "track_id"])
    per_artist = t.groupby("track_artist", sort=True).size().to_numpy()
    in_album = t.groupby(["track_artist", "track_album_id"], sort=False).cumcount().to_numpy()
    return {"per_artist": per_artist, "artist_starts": _starts(per_artist),
            "album_start": in_album % MAX_ALBUM == 0}


def _same_genre_share(pairs: pd.DataFrame) -> float:
    """Share of a track's 2nd, 3rd... memberships whose genre is its first playlist's."""
    first = pairs.drop_duplicates("track_id").set_index("track_id")["playlist_genre"]
    rest = pairs[pairs.duplicated("track_id")]
    if rest.empty:
        return 1.0
    return float((rest["playlist_genre"].to_numpy()
                  == first.reindex(rest["track_id"]).to_numpy()).mean())


def _draw(rng: np.random.Generator, values: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws from the empirical distribution of ``values``."""
    return values[rng.integers(0, len(values), size=n)]


def _cover(rng: np.random.Generator, values: np.ndarray, total: int,
           cycle: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Groups copied from ``values`` (random draws, or with ``cycle`` a random permutation
    repeated) until their sizes cover ``total``; the last group is cut short.

    Returns:
        (indices into ``values``, sizes adding up to ``total``), each (n_groups,).
    """
    n = int(total / values.mean() * 1.1) + 16
    perm = rng.permutation(len(values))
    while True:
        idx = perm[np.arange(n) % len(values)] if cycle else rng.integers(0, len(values), n)
        cum = np.cumsum(values[idx])
        if cum[-1] >= total:
            break
        n *= 2
    k = int(np.searchsorted(cum, total))
    idx, sizes = idx[: k + 1], values[idx[: k + 1]].copy()
    sizes[-1] -= cum[k] - total
    return idx, sizes


def _starts(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]])


@dataclass(frozen=True)
class _Layout:
    """New playlists and the genre-sorted order of their slots (one slot per membership)."""

    source: np.ndarray         # (n_playlists,) source playlist row of each new playlist
    sizes: np.ndarray          # (n_playlists,)
    slot_playlist: np.ndarray  # (n_slots,) new playlist of each slot, in genre-sorted order
    genre: np.ndarray          # (n_playlists,) genre code
    genre_bounds: np.ndarray   # (n_genres + 1,) slot offsets of each genre


def _plan_playlists(src: Source, n_slots: int, rng: np.random.Generator) -> _Layout:
    """Each source playlist copied equally often (a random subset when there are fewer new
    playlists) with its size; slots ordered by genre, subgenre, source playlist."""
    source, sizes = _cover(rng, np.diff(src.starts), n_slots, cycle=True)
    n_src = len(src.playlists)
    genre_codes, genres = pd.factorize(src.playlists["genre"], sort=True)
    sub_codes = pd.factorize(src.playlists["subgenre"], sort=True)[0]
    family = rng.permutation(n_src)
    order = np.lexsort((np.arange(len(sizes)), family[source], sub_codes[source],
                        genre_codes[source]))
    slot_playlist = np.repeat(order, sizes[order])
    slot_genre = genre_codes[source][slot_playlist]
    bounds = np.searchsorted(slot_genre, np.arange(len(genres) + 1))
    return _Layout(source, sizes, slot_playlist, genre_codes[source], bounds)


def _plan_reissues(artist: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """(n,) the original of each track (itself for originals): a re-release points to an
    earlier track of the same artist; chains are followed to the first release."""
    n = len(artist)
    first = np.searchsorted(artist, artist)  # tracks are sorted by artist
    rank = np.arange(n) - first
    eligible = np.flatnonzero(rank > 0)
    chosen = rng.choice(eligible, size=min(round(share * n), len(eligible)), replace=False)
    original = np.arange(n)
    original[chosen] = first[chosen] + (rng.random(len(chosen)) * rank[chosen]).astype(np.int64)
    while True:
        nxt = original[original]
        if np.array_equal(nxt, original):
            return original
        original = nxt


def _unit_keys(layout: _Layout, artist: np.ndarray, original: np.ndarray,
               per_track: np.ndarray, same_genre: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A position in the slot order for every membership (the track's first, then extras).

    Returns:
        (unit_track, unit_key), each (n_slots,).
    """
    n, n_slots = len(artist), len(layout.slot_playlist)
    spread = ARTIST_SPREAD * layout.sizes.mean()
    centre = rng.random(artist[-1] + 1) * n_slots
    key = np.where(rng.random(n) < STRAY_SHARE, rng.random(n) * n_slots,
                   centre[artist] + rng.normal(0.0, spread, n))
    reissue = original != np.arange(n)
    key = np.where(reissue, key[original] + rng.normal(0.0, spread, n), key)
    key = np.clip(key, 0.0, np.nextafter(n_slots, 0))
    extra = np.repeat(np.arange(n), per_track - 1)
    bounds = layout.genre_bounds
    genre = np.searchsorted(bounds, key[extra], side="right") - 1
    chance = ((np.diff(bounds) / n_slots) ** 2).sum()  # P(same genre) if placed anywhere
    p_same = np.clip((same_genre - chance) / (1 - chance), 0, 1) if chance < 1 else 1.0
    lo, width = bounds[genre], np.diff(bounds)[genre]
    extra_key = np.where(rng.random(len(extra)) < p_same, lo + rng.random(len(extra)) * width,
                         rng.random(len(extra)) * n_slots)
    return np.concatenate([np.arange(n), extra]), np.concatenate([key, extra_key])


def _assign(layout: _Layout, unit_track: np.ndarray, unit_key: np.ndarray,
            n_playlists: int) -> tuple[np.ndarray, np.ndarray]:
    """Slots to memberships by rank of key; a track's repeat of a playlist is dropped.

    Returns:
        (track, playlist) per kept membership; the first n rows are the tracks' own playlists.
    """
    playlist = np.empty(len(unit_key), dtype=np.int64)
    playlist[np.argsort(unit_key, kind="stable")] = layout.slot_playlist
    _, keep = np.unique(unit_track * n_playlists + playlist, return_index=True)
    keep.sort()
    return unit_track[keep], playlist[keep]


def _limits(src: Source, col: str) -> tuple[float, float]:
    """Valid range of a blended column; tempo keeps the source's positive range."""
    if col in LIMITS:
        return LIMITS[col]
    v = src.tracks[col].to_numpy(dtype=float)
    return float(v[v > 0].min()), float(v.max())


def _round(x: np.ndarray, col: str) -> np.ndarray:
    """The source's precision: 3 significant digits for skewed shares, else 3 decimals."""
    if col == "duration_ms":
        return np.rint(x).astype(np.int64)
    if col not in SKEWED:
        return np.round(x, 3)
    safe = np.where(x > 0, x, 1.0)
    scale = 10.0 ** (2 - np.floor(np.log10(safe)))
    return np.where(x > 0, np.round(safe * scale) / scale, 0.0)


def _blend(src: Source, parent_pl: np.ndarray,
           rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                              np.ndarray]:
    """Blend each track from two members of its source playlist.

    Returns:
        (columns, a, b, w): feature/popularity/key/mode columns and a per-track "date_from"
        row; the parents' source-track rows and the weight, each (n,).
    """
    n = len(parent_pl)
    start, size = src.starts[parent_pl], np.diff(src.starts)[parent_pl]
    ia = (rng.random(n) * size).astype(np.int64)
    ib = (ia + 1 + (rng.random(n) * (size - 1)).astype(np.int64)) % size
    a, b = src.members[start + ia], src.members[start + ib]
    w = rng.uniform(0.2, 0.8, n)
    t, cols = src.tracks, {}
    for col in BLENDED:
        v = t[col].to_numpy(dtype=float)
        x = w * v[a] + (1 - w) * v[b]
        if col in SKEWED:
            x = x * np.exp(rng.normal(0.0, SKEW_NOISE, n))
        else:
            x = x + rng.normal(0.0, NOISE * v.std(), n)
        cols[col] = np.clip(x, *_limits(src, col))
    pop = t["track_popularity"].to_numpy(dtype=float)
    cols["track_popularity"] = np.clip(np.rint(w * pop[a] + (1 - w) * pop[b]), 0, 100)
    pick = np.where(rng.random(n) < w, a, b)
    for col in ["key", "mode"]:
        cols[col] = t[col].to_numpy()[pick]
    cols["date_from"] = pick
    return cols, a, b, w


def _copy_reissues(cols: dict[str, np.ndarray], original: np.ndarray, src: Source,
                   rng: np.random.Generator) -> None:
    """Re-releases take their original's values, with a hair of noise on the features."""
    re = np.flatnonzero(original != np.arange(len(original)))
    orig = original[re]
    for values in cols.values():
        values[re] = values[orig]
    for col in BLENDED:
        sd = REISSUE_NOISE * src.tracks[col].to_numpy(dtype=float).std()
        cols[col][re] = np.clip(cols[col][re] + rng.normal(0.0, sd, len(re)),
                                *_limits(src, col))
    cols["track_popularity"][re] = np.clip(
        cols["track_popularity"][re] + rng.integers(-3, 4, len(re)), 0, 100)


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    """One independent stream per step, all from one seed."""
    seeds = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, seeds, strict=True)}


def _structure(src: Source, n: int, rng: dict[str, np.random.Generator]) -> dict:
    """Playlists, artists, re-releases and every membership, before any value is made."""
    per_track = _draw(rng["layout"], src.per_track, n)
    layout = _plan_playlists(src, int(per_track.sum()), rng["layout"])
    model, artist_sizes = _cover(rng["artists"], src.per_artist, n)
    artist = np.repeat(np.arange(len(artist_sizes)), artist_sizes)
    original = _plan_reissues(artist, rng["artists"], src.reissue_share)
    unit_track, unit_key = _unit_keys(layout, artist, original, per_track, src.same_genre,
                                      rng["keys"])
    track_of, playlist_of = _assign(layout, unit_track, unit_key, len(layout.sizes))
    own = playlist_of[:n]  # the tracks' own playlists come first, in track order
    # A re-release that landed in another genre than its original becomes a song of its own.
    original = np.where(layout.genre[own] == layout.genre[own[original]], original,
                        np.arange(n))
    log.info("structure: %d playlists, %d artists, %d memberships, %d re-releases",
             len(layout.sizes), len(artist_sizes), len(track_of),
             int((original != np.arange(n)).sum()))
    return {"layout": layout, "artist": artist, "model": model, "original": original,
            "key": unit_key[:n],
            "own": own, "track_of": track_of, "playlist_of": playlist_of}


def _track_columns(src: Source, s: dict, rng: dict[str, np.random.Generator]
                   ) -> tuple[dict[str, pa.Array], pa.Table, int]:
    """Every per-track column of the output, the provenance table and the album count."""
    n, original = len(s["artist"]), s["original"]
    parent_pl = s["layout"].source[s["own"]]
    cols, a, b, w = _blend(src, parent_pl, rng["blend"])
    _copy_reissues(cols, original, src, rng["blend"])
    a, b, w, parent_pl = a[original], b[original], w[original], parent_pl[original]
    title, artist_name = _track_text(src, s["artist"], original, a, b, rng["names"])
    album, lead = _albums(src, s["artist"], s["model"], s["key"], original)
    album_name, date = _album_text(src, title, album, lead, original, cols["date_from"],
                                   rng["albums"])
    track_id = _ids(rng["ids"], 0, n)
    album_ids = _ids(rng["ids"], n, len(lead))
    out = {"track_id": track_id, "track_name": title, "track_artist": artist_name,
           "track_popularity": pa.array(cols["track_popularity"].astype(np.int64)),
           "track_album_id": album_ids.take(pa.array(album)),
           "track_album_name": album_name.take(pa.array(album)),
           "track_album_release_date": date.take(pa.array(album))}
    for col in ["key", "mode"]:
        out[col] = pa.array(cols[col].astype(np.int64))
    for col in BLENDED:
        out[col] = pa.array(_round(cols[col], col))
    src_ids = pa.array(src.tracks["track_id"], pa.string())
    provenance = pa.table({
        "track_id": track_id,
        "source_playlist_id": pa.array(src.playlists["id"].to_numpy()[parent_pl], pa.string()),
        "source_genre": pa.array(src.playlists["genre"].to_numpy()[parent_pl], pa.string()),
        "parent_a": src_ids.take(pa.array(a)), "parent_b": src_ids.take(pa.array(b)),
        "weight": pa.array(w),
        "reissue_of": pc.if_else(pa.array(original != np.arange(n)),
                                 track_id.take(pa.array(original)), pa.nulls(n, pa.string()))})
    return out, provenance, len(lead)


def generate(src: Source, n_tracks: int, seed: int = 0) -> ScaleCatalog:
    """An ``n_tracks`` catalog blended from ``src``; the same arguments give the same table."""
    if n_tracks < 1:
        raise ValueError(f"The 'n_tracks' parameter of generate must be >= 1. Got {n_tracks}.")
    rng = _rngs(seed)
    s = _structure(src, n_tracks, rng)
    tracks, provenance, n_albums = _track_columns(src, s, rng)
    n_playlists = len(s["layout"].sizes)
    pl_ids = _ids(rng["ids"], n_tracks + n_albums, n_playlists)
    new_ids = pa.chunked_array([tracks["track_id"], tracks["track_album_id"], pl_ids])
    if pc.any(pc.is_in(new_ids, value_set=src.ids)).as_py():
        raise RuntimeError("a generated id equals a source id; use another --seed")
    playlists = _playlist_columns(src, s["layout"], pl_ids)
    order = np.lexsort((rng["order"].random(len(s["track_of"])), s["playlist_of"]))
    row_track = pa.array(s["track_of"][order])
    row_pl = pa.array(s["playlist_of"][order])
    rows = pa.table({c: (playlists[c].take(row_pl) if c in playlists
                         else tracks[c].take(row_track)) for c in COLUMNS})
    log.info("generated %d rows", rows.num_rows)
    return ScaleCatalog(rows, provenance, np.bincount(s["artist"]),
                        np.bincount(s["playlist_of"], minlength=n_playlists))


def write_catalog(table: pa.Table, path: Path) -> None:
    """CSV (header unquoted, text quoted) or parquet by suffix; written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".parquet":
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_header="none"))
    os.replace(tmp, path)


def summary(cat: ScaleCatalog, seconds: float, path: Path) -> str:
    """One line of figures about a generated catalog."""
    sizes = cat.playlist_sizes[cat.playlist_sizes > 0]
    tpa = cat.tracks_per_artist
    return (f"tracks {cat.provenance.num_rows:,} | rows {cat.rows.num_rows:,} | "
            f"playlists {len(sizes):,} | artists {len(tpa):,} | playlist size median "
            f"{np.median(sizes):.0f} p99 {np.percentile(sizes, 99):.0f} | tracks/artist median "
            f"{np.median(tpa):.0f} p99 {np.percentile(tpa, 99):.0f} | {seconds:.1f} s | "
            f"{path.stat().st_size / 1e6:.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, required=True, help="number of tracks")
    parser.add_argument("--out", type=Path, required=True, help="output .csv or .parquet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", type=Path, default=None,
                        help="the default catalog (default: $CATALOG_TEST_DATA/spotify_songs"
                             ".csv, else ../shared/data/spotify_songs.csv)")
    args = parser.parse_args(argv)
    if args.tracks < 1:
        parser.error(f"--tracks must be at least 1, got {args.tracks}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    start = time.perf_counter()
    source = args.source or default_source()
    if not source.exists():
        parser.error(f"{source} not found: pass --source or set CATALOG_TEST_DATA")
    src = load_source(source)
    log.info("source: %d tracks, %d playlists from %s", len(src.tracks), len(src.playlists),
             source)
    cat = generate(src, args.tracks, args.seed)
    write_catalog(cat.rows, args.out)
    print(summary(cat, time.perf_counter() - start, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
