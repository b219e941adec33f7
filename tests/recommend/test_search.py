"""The fuzzy track search and its word index: typos found through the index, the rows it
scores ranked exactly as a whole-catalog WRatio scan ranks them, short words exact."""
import numpy as np
import pandas as pd
import pytest

from pipeline.recommend import search as search_mod
from pipeline.recommend.search import TrackSearch, WordIndex

TITLES = ["Bohemian Rhapsody", "Around the World", "One More Time", "Get Lucky",
          "Levels", "Levels - Radio Edit", "Animals", "Someone Like You", "Rolling in the Deep",
          "Love Story", "Lovely", "Glove Box", "Night Fever", "Up All Night", "12:51",
          "Paris 12", "A Sky Full of Stars", "The Nights", "Blinding Lights", "Shape of You"]
ARTISTS = ["Queen", "Daft Punk", "Daft Punk", "Daft Punk", "Avicii", "Avicii",
           "Martin Garrix", "Adele", "Adele", "Taylor Swift", "Billie Eilish", "Nobody",
           "Bee Gees", "Kid Cudi", "The Strokes", "Booba", "Coldplay", "Avicii",
           "The Weeknd", "Ed Sheeran"]


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    """The titles above among 3,000 filler tracks of random words (a catalog where a full
    scan and the index disagree if the index drops a row it should score)."""
    rng = np.random.default_rng(0)
    vocab = ["blue", "sky", "dance", "heart", "fire", "rain", "dream", "gold", "road",
             "moon", "baby", "wild", "home", "lights", "world", "night", "love", "time"]
    filler = [" ".join(rng.choice(vocab, rng.integers(1, 4))) for _ in range(3000)]
    names = TITLES + [f.title() for f in filler]
    artists = ARTISTS + [f"Band {i % 400}" for i in range(3000)]
    return pd.DataFrame({"track_name": names, "artist": artists,
                         "popularity": rng.integers(0, 100, len(names))})


@pytest.fixture(scope="module")
def searcher(catalog) -> TrackSearch:
    return TrackSearch(catalog["track_name"], catalog["artist"], catalog["popularity"].to_numpy())


def _scan(s: TrackSearch, query: str, limit: int) -> list[tuple[int, float]]:
    """The search without its index: WRatio over every key (what it did before)."""
    from unittest import mock

    with mock.patch.object(TrackSearch, "candidates", return_value=None):
        return s.top(query, limit)


def test_word_index_postings(catalog):
    keys = ["daft punk one more time", "daft  punk", "", "queen"]
    idx = WordIndex(keys)
    assert "" not in idx.words
    for word, rows in {"daft": [0, 1], "punk": [0, 1], "queen": [3], "time": [0]}.items():
        (i,) = idx.close_words(word)[idx.close_words(word) == idx.words.index(word)]
        assert idx.rows_of(np.array([i])).tolist() == rows
    assert idx.words[idx.close_words("pnk")[0]] == "punk"          # a typo: ratio >= 75
    assert idx.close_words("on").size == 0                          # short words: exact only


@pytest.mark.parametrize("query, title", [("daft pnk", "Get Lucky"),
                                          ("bohemian rapsody", "Bohemian Rhapsody"),
                                          ("Animals Martin Garrix", "Animals"),
                                          ("Levels Avicii", "Levels"),
                                          ("someone like you, adele", "Someone Like You")])
def test_fuzzy_queries_found(searcher, catalog, query, title):
    rows = [r for r, _ in searcher.top(query, 10)]
    assert title in catalog["track_name"].iloc[rows].tolist()


@pytest.mark.parametrize("query", ["daft pnk", "bohemian rapsody", "levels avicii", "love",
                                   "night", "lights", "the weeknd", "blue sky"])
def test_ranked_as_a_whole_catalog_scan(searcher, query):
    """The index only narrows what is scored: the rows it scores come in the order the
    full scan puts them, and its matches (WRatio >= 80, not partial-word noise) are the
    scan's, in the same order."""
    fast, slow = searcher.top(query, 40), _scan(searcher, query, 40)
    strong = [h for h in slow if h[1] >= 80][:10]
    assert strong and fast[:len(strong)] == strong
    common = {r for r, _ in fast} & {r for r, _ in slow}
    assert [r for r, _ in fast if r in common] == [r for r, _ in slow if r in common]


def test_short_words_match_only_themselves(searcher, catalog):
    """"12" is a word of "Paris 12" and "12:51", not of "Band 120" (which WRatio's partial
    match would score 90): short query words must be there exactly, as the dashboard's
    hits must hold them."""
    keys = (catalog["track_name"] + " " + catalog["artist"]).str.lower()
    holding = {i for i, k in enumerate(keys) if "12" in k.replace(":", " ").split()}
    assert {14, 15} <= holding and keys.str.contains("band 120").any()
    assert set(searcher.candidates("12", 2).tolist()) == holding


def test_candidates_are_bounded_and_cover_every_word_first(searcher, catalog, monkeypatch):
    monkeypatch.setattr(search_mod, "PREFILTER_MAX", 30)
    keys = (catalog["track_name"] + " " + catalog["artist"]).str.lower()
    both = set(np.flatnonzero(keys.str.contains("daft punk")))
    rows = searcher.candidates("daft punk", 10)
    assert len(both) == 3 and both <= set(rows.tolist()) and len(rows) == 10   # + popular
    many = searcher.candidates("love night", 10)
    assert len(many) == 30                                              # PREFILTER_MAX
    has_both = keys.str.split().map(lambda w: "love" in w and "night" in w)
    assert 0 < has_both.sum() < 30
    assert set(np.flatnonzero(has_both)) <= set(many.tolist())        # every word first


def test_nothing_in_the_catalog_still_lists_tracks(searcher):
    assert searcher.candidates("zzqx qqqq", 5) is None                # scored as before
    assert len(searcher.top("zzqx qqqq", 5)) == 5
