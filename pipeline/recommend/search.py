"""Fuzzy track search by "name", "name, artist" or "artist" (rapidfuzz WRatio).

Scoring every "title artist" key with WRatio took 0.14-0.2 s per query at 30k tracks and
4-6 s at 1M, so the search first narrows the catalog with a word index built once per
catalog (:class:`WordIndex`: every distinct word of the keys -> the rows holding it). A
query word finds its close words in that vocabulary (rapidfuzz ratio >= ``WORD_MATCH``;
words shorter than ``MIN_WORD`` letters only themselves), and only the rows holding a close
word of every query word (then of some of them, most words first, then the most popular)
are scored with WRatio: at most ``PREFILTER_MAX`` rows. The ranking of the rows scored is
the one a whole-catalog scan gives them. A query none of whose words is in the catalog
scores the whole catalog up to ``SCAN_MAX`` tracks, else its most popular rows.

Catalogs up to ``SCAN_MAX`` tracks keep their keys as Python strings (rapidfuzz's own
``default_process``); larger ones (building the keys in a Python loop took ~10 s at 1M)
make them with vectorised pyarrow string functions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

SCAN_MAX = 200_000
PREFILTER_MAX = 50_000
WORD_MATCH = 75.0      # rapidfuzz ratio (0-100) for a vocabulary word to match a query word
MIN_WORD = 3           # shorter query words match only themselves


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


class WordIndex:
    """Distinct words of the catalog's keys and the rows holding each (built once).

    Attributes:
        words: the vocabulary, (n_words,) Python strings.
        rows: (n_tokens,) int64 rows, grouped by word; ``starts`` (n_words + 1,) bounds
            each word's group (compressed-sparse-row postings).
    """

    def __init__(self, keys) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = keys if isinstance(keys, (pa.Array, pa.ChunkedArray)) else pa.array(keys, pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        split = pc.split_pattern(arr, " ")
        lengths = pc.list_value_length(split).fill_null(0).to_numpy(zero_copy_only=False)
        tokens = pc.list_flatten(split)
        row_of = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        keep = pc.not_equal(tokens, "").fill_null(False)       # runs of spaces, empty keys
        row_of = row_of[np.asarray(keep.to_numpy(zero_copy_only=False), bool)]
        enc = pc.dictionary_encode(pc.filter(tokens, keep))
        codes = enc.indices.to_numpy(zero_copy_only=False)
        self.words: list[str] = enc.dictionary.to_pylist()
        # Group the rows by word: scipy's COO -> CSR is a counting sort in C (a stable
        # numpy argsort of the 4.8M tokens of the 1M catalog took 1.3 s).
        postings = sparse.csr_matrix((np.ones(len(codes), np.int8), (codes, row_of)),
                                     shape=(len(self.words), len(lengths)))
        self.rows, self.starts = postings.indices.astype(np.int64), postings.indptr

    def close_words(self, word: str) -> np.ndarray:
        """Vocabulary ids of the words close to ``word`` (itself if shorter than MIN_WORD)."""
        from rapidfuzz import fuzz, process

        if len(word) < MIN_WORD:
            return np.array([i for i in self._exact(word)], np.int64)
        hits = process.extract(word, self.words, scorer=fuzz.ratio, processor=None,
                               score_cutoff=WORD_MATCH, limit=None)
        return np.array([j for _, _, j in hits], np.int64)

    def _exact(self, word: str) -> list[int]:
        if not hasattr(self, "_lookup"):
            self._lookup = {w: i for i, w in enumerate(self.words)}
        i = self._lookup.get(word)
        return [] if i is None else [i]

    def rows_of(self, word_ids: np.ndarray) -> np.ndarray:
        """Distinct rows holding any of the words, sorted."""
        if not len(word_ids):
            return np.zeros(0, np.int64)
        parts = [self.rows[self.starts[i]:self.starts[i + 1]] for i in word_ids]
        return np.unique(np.concatenate(parts))


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
        self.index = WordIndex(self._keys)

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
        rows = self.candidates(text, limit * 5)
        if rows is None:
            keys = self._keys
        elif self.large:
            keys = self._keys.take(rows).to_pylist()
        else:
            keys = [self._keys[i] for i in rows]
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

    def candidates(self, text: str, pool: int) -> np.ndarray | None:
        """Rows to score for a processed query (None: every row), at most PREFILTER_MAX:
        those holding a close word of every query word, then of fewer of them (most
        first), each group's most popular first; topped up with the most popular other
        rows to at least ``pool`` rows (so a list is always as long as asked)."""
        n = len(self.popularity)
        sets = [self.index.rows_of(self.index.close_words(w)) for w in set(text.split())]
        sets = [s for s in sets if len(s)]
        if not sets:
            return None if not self.large else self._most_popular(np.arange(n), PREFILTER_MAX)
        hits = np.concatenate(sets)
        counts = np.bincount(hits, minlength=n)
        chosen: list[np.ndarray] = []
        left = PREFILTER_MAX
        for k in range(len(sets), 0, -1):      # every word first, then fewer
            group = self._most_popular(np.flatnonzero(counts == k), left)
            chosen.append(group)
            left -= len(group)
            if left <= 0:
                break
        out = np.concatenate(chosen)
        if len(out) < min(pool, n):
            rest = np.setdiff1d(np.arange(n), out, assume_unique=True)
            out = np.concatenate([out, self._most_popular(rest, min(pool, n) - len(out))])
        return np.sort(out)

    def _most_popular(self, rows: np.ndarray, n: int) -> np.ndarray:
        if len(rows) <= n:
            return rows
        if n <= 0:
            return rows[:0]
        return rows[np.argpartition(-self.popularity[rows], n - 1)[:n]]
