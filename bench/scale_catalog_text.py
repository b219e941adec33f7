"""Names, titles, albums and ids of a scale catalog (bench/make_scale_catalog.py): the
text half of the generator, vectorised over pyarrow arrays."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:  # annotations only: the generator imports this module
    from bench.make_scale_catalog import Source, _Layout

EDITIONS = ["Remastered", "Deluxe Edition", "Expanded Edition", "Anniversary Edition"]
BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                       dtype=np.uint8)


def _normalise(text: pa.Array) -> pa.Array:
    """Lower case, punctuation to spaces, spaces collapsed: how the pipeline matches songs."""
    text = pc.replace_substring_regex(pc.utf8_lower(text), r"[^\p{L}\p{N}_\s]+", " ")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))


def _repeats(names: pa.Array, group: np.ndarray) -> pd.Series:
    """(n,) how many times each (normalised) name came before it within its group."""
    codes = pc.dictionary_encode(_normalise(names)).indices.to_numpy()
    combo = pd.Series(group.astype(np.int64) * (int(codes.max()) + 1) + codes)
    return combo.groupby(combo).cumcount()


def _dedupe(names: pa.Array, group: np.ndarray, sep: str) -> pa.Array:
    """Suffix ``sep + k`` to the k-th repeat of a (normalised) name within a group."""
    for _ in range(8):
        seen = _repeats(names, group).to_numpy()
        dup = seen > 0
        if not dup.any():
            return names
        k = pc.cast(pa.array(seen + 1), pa.string())
        names = pc.if_else(pa.array(dup), pc.binary_join_element_wise(names, k, sep), names)
    raise RuntimeError("could not make the generated names unique")


def _words(names: pd.Series) -> tuple[pa.Array, pa.Array]:
    """First half and second half of each title's words ("(feat. X)", " - Remix" dropped)."""
    base = (names.fillna("").str.replace(r"\s*[\(\[].*?[\)\]]", "", regex=True)
            .str.replace(r"\s+-\s.*$", "", regex=True).str.split())
    head = [" ".join(w[: (len(w) + 1) // 2]) or "Untitled" for w in base]
    tail = [" ".join(w[(len(w) + 1) // 2:] or w[-1:]) for w in base]
    return pa.array(head, pa.string()), pa.array(tail, pa.string())


def _join(left: pa.Array, right: pa.Array) -> pa.Array:
    """``left + " " + right``, or just ``left`` when the two are equal or right is empty."""
    joined = pc.utf8_trim_whitespace(pc.binary_join_element_wise(left, right, " "))
    return pc.if_else(pc.equal(pc.utf8_lower(left), pc.utf8_lower(right)), left, joined)


def _artist_names(src: Source, a: np.ndarray, b: np.ndarray,
                  rng: np.random.Generator) -> pa.Array:
    """(n_artists,) the first name word of parent a's artist and the last of parent b's;
    a name already taken is drawn again from random source tracks' artists, then numbered."""
    words = src.tracks["track_artist"].fillna("").str.split()
    first = pa.array(words.str[0].fillna("Unknown"), pa.string())
    last = pa.array(words.str[-1].fillna("Artist"), pa.string())
    name = _join(first.take(pa.array(a)), last.take(pa.array(b)))
    group = np.zeros(len(a), dtype=np.int64)
    for _ in range(3):
        dup = pa.array(_repeats(name, group).to_numpy() > 0)
        x, y = (pa.array(rng.integers(0, len(first), len(a))) for _ in "xy")
        name = pc.if_else(dup, _join(first.take(x), last.take(y)), name)
    return _dedupe(name, group, " ")


def _track_text(src: Source, artist: np.ndarray, original: np.ndarray, a: np.ndarray,
                b: np.ndarray, rng: np.random.Generator) -> tuple[pa.Array, pa.Array]:
    """Titles from the parents' title words, unique per artist (re-releases copy theirs);
    artist names from the parents of the artist's first and last track, unique.

    Returns:
        (title, artist name), each (n,).
    """
    n, n_artists = len(artist), int(artist[-1]) + 1
    head, tail = _words(src.tracks["track_name"])
    title = _join(head.take(pa.array(a)), tail.take(pa.array(b)))
    reissue = original != np.arange(n)
    group = np.where(reissue, n_artists + np.arange(n), artist)
    title = _dedupe(title, group, " Pt. ").take(pa.array(original))
    lead = np.searchsorted(artist, np.arange(n_artists))
    name = _artist_names(src, a[lead], b[np.append(lead[1:], n) - 1], rng)
    return title, name.take(pa.array(artist))


def _albums(src: Source, artist: np.ndarray, model: np.ndarray, key: np.ndarray,
            original: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Albums: runs of 1-15 tracks of one artist in playlist order, cut like the albums of
    the source artist it was modelled on; every re-release alone on an album of its own
    (numbered last).

    Returns:
        (album of each track (n,), lead track of each album (n_albums,)).
    """
    n = len(artist)
    first_release = original == np.arange(n)
    order = np.lexsort((key, artist))
    order = order[first_release[order]]
    by_artist = artist[order]
    rank = np.arange(len(order)) - np.searchsorted(by_artist, by_artist)
    new = src.album_start[src.artist_starts[model[by_artist]] + rank]
    album = np.empty(n, dtype=np.int64)
    album[order] = np.cumsum(new) - 1
    re = np.flatnonzero(~first_release)
    album[re] = int(new.sum()) + np.arange(len(re))
    return album, np.concatenate([order[new], re])


def _album_text(src: Source, title: pa.Array, album: np.ndarray, lead: np.ndarray,
                original: np.ndarray, date_from: np.ndarray,
                rng: np.random.Generator) -> tuple[pa.Array, pa.Array]:
    """Album names (the lead track's title; "<original album> (Remastered)" and the like for
    re-releases) and release dates (the lead's, from one of its parents), per album."""
    n_first = len(lead) - int((original != np.arange(len(original))).sum())  # not re-releases
    orig_album = album[original[lead[n_first:]]]
    name = title.take(pa.array(lead[:n_first]))
    editions = pa.array([f"({e})" for e in EDITIONS])
    edition = editions.take(pa.array(rng.integers(0, len(EDITIONS), len(orig_album))))
    re_name = pc.binary_join_element_wise(name.take(pa.array(orig_album)), edition, " ")
    dates = pa.array(src.tracks["track_album_release_date"], pa.string())
    date = dates.take(pa.array(date_from[lead[:n_first]]))
    return (pa.concat_arrays([name, re_name]),
            pa.concat_arrays([date, date.take(pa.array(orig_album))]))


def _ids(rng: np.random.Generator, first: int, n: int) -> pa.Array:
    """``n`` 22-character base62 ids: 17 random characters, then a 5-character counter from
    ``first`` (so ids of one catalog never repeat)."""
    if first + n > 62 ** 5:
        raise ValueError(f"too many ids ({first + n}); the counter holds {62 ** 5}")
    chars = BASE62[rng.integers(0, 62, size=(n, 22), dtype=np.uint8)]
    counter = np.arange(first, first + n, dtype=np.int64)
    for pos in range(21, 16, -1):
        chars[:, pos] = BASE62[counter % 62]
        counter //= 62
    offsets = np.arange(0, 22 * (n + 1), 22, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _playlist_columns(src: Source, layout: _Layout, ids: pa.Array) -> dict[str, pa.Array]:
    """Name "<source name> #k" (k counts new playlists per source name), id, genre, subgenre."""
    sp = src.playlists.iloc[layout.source].reset_index(drop=True)
    k = sp.groupby("name", sort=False).cumcount().to_numpy() + 1
    name = pc.binary_join_element_wise(pa.array(sp["name"], pa.string()),
                                       pc.cast(pa.array(k), pa.string()), " #")
    return {"playlist_name": name, "playlist_id": ids,
            "playlist_genre": pa.array(sp["genre"], pa.string()),
            "playlist_subgenre": pa.array(sp["subgenre"], pa.string())}
