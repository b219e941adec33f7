"""Fuzzy track search by "name", "name, artist" or "artist" (rapidfuzz WRatio).

Catalogs up to ``SCAN_MAX`` tracks score every "title artist" key. Larger ones (1M
tracks: 4-6 s per query, plus ~10 s to build the keys in a Python loop) build the keys
with vectorised pyarrow string functions and score only a prefilter of ``PREFILTER_MAX``
rows: those whose key contains every query word, then the most popular of those that
contain any of them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SCAN_MAX = 200_000
PREFILTER_MAX = 50_000


def _keys(values: pd.Series) -> list[str]:
    from rapidfuzz import utils

    return [utils.default_process(v) for v in values.astype(str)]


def _arrow_keys(values: pd.Series):
    """Lower case, runs of anything but letters and digits -> one space, trimmed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values.astype(str).to_numpy(dtype=object), pa.string())
    low = pc.utf8_lower(arr)
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(low, r"[^\p{L}\p{N}]+", " "))


class TrackSearch:
    """Best fuzzy matches of a query among the catalog's titles and artists."""

    def __init__(self, names: pd.Series, artists: pd.Series, popularity: np.ndarray):
        self.popularity = np.nan_to_num(np.asarray(popularity, float))
        self.large = len(names) > SCAN_MAX
        if self.large:
            import pyarrow.compute as pc

            self._names, self._artists = _arrow_keys(names), _arrow_keys(artists)
            self._keys = pc.binary_join_element_wise(self._names, self._artists, " ")
        else:
            self._names, self._artists = _keys(names), _keys(artists)
            self._keys = [f"{n} {a}" for n, a in zip(self._names, self._artists)]

    def _process(self, text: str) -> str:
        if not self.large:
            from rapidfuzz import utils

            return utils.default_process(text)
        return _arrow_keys(pd.Series([text]))[0].as_py()

    def top(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(row, score 0-100) of the best matches, best first; an exact title (and artist
        after a comma) scores 100, more popular tracks first among equal scores."""
        from rapidfuzz import fuzz, process

        name_q, _, artist_q = query.partition(",")
        name, artist = self._process(name_q), self._process(artist_q)
        text = f"{name} {artist}".strip()
        rows = self._prefilter(text) if self.large else None
        keys = self._keys if rows is None else self._keys.take(rows).to_pylist()
        res = process.extract(text, keys, scorer=fuzz.WRatio, processor=None, limit=limit * 5)
        scored = []
        for _, score, j in res:
            i = int(j if rows is None else rows[j])
            exact = self._name(i) == name and (not artist or self._artist(i) == artist)
            scored.append((i, 100.0 if exact else min(float(score), 99.0)))
        pop = self.popularity
        return sorted(scored, key=lambda h: (-h[1], -pop[h[0]], h[0]))[:limit]

    def _name(self, i: int) -> str:
        return self._names[i] if not self.large else self._names[i].as_py()

    def _artist(self, i: int) -> str:
        return self._artists[i] if not self.large else self._artists[i].as_py()

    def _prefilter(self, text: str) -> np.ndarray:
        """Up to PREFILTER_MAX rows: those whose key contains every query word, then the
        most popular of those containing any word (of all rows if none does)."""
        import pyarrow.compute as pc

        masks = [pc.match_substring(self._keys, w).to_numpy(zero_copy_only=False)
                 for w in set(text.split())]
        n = len(self.popularity)
        every = np.logical_and.reduce(masks) if masks else np.zeros(n, bool)
        some = np.logical_or.reduce(masks) if masks else np.zeros(n, bool)
        if not some.any():
            some = np.ones(n, bool)
        first = self._most_popular(np.flatnonzero(every), PREFILTER_MAX)
        rest = self._most_popular(np.flatnonzero(some & ~every), PREFILTER_MAX - len(first))
        return np.sort(np.concatenate([first, rest]))

    def _most_popular(self, rows: np.ndarray, n: int) -> np.ndarray:
        if len(rows) <= n:
            return rows
        if n <= 0:
            return rows[:0]
        return rows[np.argpartition(-self.popularity[rows], n - 1)[:n]]
