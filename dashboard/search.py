"""Track search for every page: the Recommendations page's fuzzy search (``TrackSearch``,
rapidfuzz WRatio over "title artist"), one hit per song, and how a track is labelled.

WRatio alone scores any title that shares one short word with the query at 85.5
("zzqx no such track" would "match" every title with "no" in it), so a hit must also
cover the query: each query word of 3+ characters is close (ratio >= ``WORD_MATCH``) to
some word of the track's title or artist, and each shorter word is one of them. ``daft pnk``, ``bohemian rapsody`` and
``Animals Martin Garrix`` pass; ``zzqx ...`` does not.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.loaders import _load_index, build_key, mark_loaded

WORD_MATCH = 75.0      # rapidfuzz ratio (0-100) for a query word to count as present
MIN_WORD = 3           # shorter words ("no", "a", "de") do not have to be present


def _words(text: str) -> list[str]:
    from rapidfuzz import utils

    return utils.default_process(str(text)).split()


def covers(query: str, title: str, artist: str) -> bool:
    """Whether every query word is in the title or artist: words of ``MIN_WORD``+
    characters fuzzily (typos), shorter ones ("12", "de") exactly."""
    from rapidfuzz import fuzz

    have = set(_words(title)) | set(_words(artist))
    q = _words(query.replace(",", " "))
    return bool(q) and all(w in have or (len(w) >= MIN_WORD and any(
        fuzz.ratio(w, h) >= WORD_MATCH for h in have)) for w in q)


def one_per_song(rows: list[int], song_group: np.ndarray) -> list[int]:
    """Rows in the given order, keeping only the first (best-ranked) release of a song."""
    seen: set = set()
    out = []
    for r in rows:
        g = song_group[r]
        if g in seen:
            continue
        seen.add(g)
        out.append(r)
    return out


@st.cache_resource(show_spinner=False, max_entries=2)
def _searcher(cache: str, mtime: float) -> Any:
    from pipeline.recommend import TrackSearch

    t = _load_index(cache, mtime).tracks
    return mark_loaded(TrackSearch(t["track_name"], t["artist"], t["popularity"].to_numpy()))


@st.cache_data(show_spinner=False, max_entries=64)
def _search_rows(cache: str, mtime: float, query: str, limit: int) -> list[int]:
    t = _load_index(cache, mtime).tracks
    idx = [r for r, _ in _searcher(cache, mtime).top(query, limit * 3)]
    # Only the hits' names: a whole column to numpy costs ~0.1 s at 1M tracks.
    names, artists = t["track_name"].iloc[idx].tolist(), t["artist"].iloc[idx].tolist()
    rows = [r for r, n, a in zip(idx, names, artists) if covers(query, n, a)]
    return one_per_song(rows, t["song_group"].to_numpy())[:limit]


def warm(cache: str, mtime: float) -> None:
    """Build the search index ahead of the first search (the Cluster map starts this on a
    background thread: ~1.5 s at 1M tracks)."""
    _searcher(cache, mtime).top("warm up", 1)


def search_rows(query: str, limit: int = 300) -> list[int]:
    """Catalog rows matching ``query`` ("title", "title, artist", "artist", typos allowed),
    best match first (exact title first, then more popular), one release per song."""
    if not query.strip():
        return []
    cache, mtime = build_key()
    return _search_rows(cache, mtime, query.strip(), limit)


def track_label(index: Any, track_id: str) -> str:
    """"Title — Artist (year)" for a track id."""
    r = index.tracks.iloc[index.row(track_id)]
    year = "" if pd.isna(r["year"]) else f" ({int(r['year'])})"
    return f"{r['track_name']} — {r['artist']}{year}"
