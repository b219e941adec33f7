"""Track search: the rows that match a query, and how a track is labelled in lists."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.loaders import _load_index, build_key


@st.cache_data(show_spinner=False, max_entries=64)
def _search_rows(cache: str, mtime: float, query: str, limit: int) -> list[int]:
    t = _load_index(cache, mtime).tracks
    q = query.strip().lower()
    name = t["track_name"].astype(str).str.lower()
    artist = t["artist"].astype(str).str.lower()
    # exact artist, then title, then artist or title containing the text; popular first
    rank = ((artist == q).to_numpy() * 4 + (name == q).to_numpy() * 3
            + artist.str.contains(q, regex=False).to_numpy()
            + name.str.contains(q, regex=False).to_numpy())
    rows = rank.nonzero()[0]
    key = rank[rows] * 1000 + t["popularity"].fillna(0).to_numpy()[rows]
    return rows[(-key).argsort(kind="stable")][:limit].tolist()


def search_rows(query: str, limit: int = 300) -> list[int]:
    """Rows whose title or artist contains ``query`` (case-insensitive); exact artist or title
    matches first, then by popularity."""
    if not query.strip():
        return []
    cache, mtime = build_key()
    return _search_rows(cache, mtime, query, limit)


def track_label(index: Any, track_id: str) -> str:
    """"Title — Artist (year)" for a track id."""
    r = index.tracks.iloc[index.row(track_id)]
    year = "" if pd.isna(r["year"]) else f" ({int(r['year'])})"
    return f"{r['track_name']} — {r['artist']}{year}"
