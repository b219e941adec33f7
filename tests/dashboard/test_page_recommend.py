"""Recommendations page: search, recommendations with reasons, steering, per-profile votes
with undo, one release per song, methods side by side, formats, catalog text as text.

Feedback goes to a database of the test's own (``feedback_db``) and is read back through
``pipeline.recommend.FeedbackStore``; the list is read from the page (the key of each row's
play button).
"""
import re
from pathlib import Path

import pandas as pd
import pytest

from dashboard_helpers import first_artist, some_track

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "views" / "recommend.py"
ROW = "rec_play_"


@pytest.fixture(scope="module")
def tracks(dash_cache) -> pd.DataFrame:
    import pipeline

    return pipeline.load(dash_cache).tracks.set_index("track_id")


def rows(at) -> list[str]:
    """Track ids of the recommendation rows, in the order shown."""
    return [b.key[len(ROW):] for b in at.button if b.key and b.key.startswith(ROW)]


def open_tab(at, label: str):
    """Open a tab of the page (lazy tabs: only the open one is computed and drawn)."""
    at.session_state["rec_tab"] = label
    return at.run()


def keys(at) -> set[str]:
    return {b.key for b in at.button if b.key}


def plain(markdown: str) -> str:
    """Markdown source as the reader sees it: backslash escapes resolved (CommonMark)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


@pytest.fixture()
def csv_tables(monkeypatch) -> dict:
    """The tables the page hands to its CSV download buttons, by button key (the real
    download button is still drawn)."""
    from dashboard import widgets

    seen: dict = {}
    real = widgets.download_table

    def record(df, name, label="Download CSV", key=None):
        seen[key] = df.copy()
        real(df, name, label, key=key)
    monkeypatch.setattr(widgets, "download_table", record)
    return seen


def test_vote_reranks_at_once_shows_the_vote_and_undoes(app, dash_cache, feedback_db,
                                                        csv_tables):
    from pipeline.recommend import FeedbackStore

    at = app("recommend").run()
    assert not at.exception
    assert any("Search for a track" in i.value for i in at.info)  # the empty state
    assert rows(at) == []
    at.text_input(key="rec_search").input(first_artist(dash_cache)).run()
    assert not at.exception, at.exception
    seed = at.session_state["seed_track"]
    assert seed == at.selectbox(key="rec_choice").value
    before = rows(at)
    assert len(before) == 10 and seed not in before            # "How many" defaults to 10
    assert csv_tables["rec_dl"]["track_id"].tolist() == before
    store = FeedbackStore(feedback_db)
    assert store.for_seed(seed) == {}
    assert at.text_input(key="rec_user").value == "everyone"
    # A like lifts the 20 candidates most like the liked track: show 30 rows, so that some of
    # them are in view whichever ranker ordered the list (the top 10 alone may hold none).
    at.slider(key="rec_k").set_value(30).run()
    before = rows(at)
    assert len(before) == 30 and csv_tables["rec_dl"]["track_id"].tolist() == before

    liked = before[-1]
    at.button(key=f"rec_like_{liked}").click().run()          # one click, no other
    assert not at.exception
    assert store.for_seed(seed) == {liked: 1}
    assert any("Liked" in t.value for t in at.toast)
    after_like = rows(at)
    assert after_like.index(liked) < before.index(liked)       # re-ranked in the same run
    assert csv_tables["rec_dl"]["track_id"].tolist() == after_like   # and its CSV
    assert csv_tables["rec_dl"].set_index("track_id").loc[liked, "feedback"] == 1
    assert f"rec_undo_{liked}" in keys(at) and f"rec_like_{liked}" not in keys(at)  # shown
    why = [plain(c.value) for c in at.caption]
    assert any("you liked it for this seed" in w for w in why)
    assert any("which you liked" in w for w in why)            # tracks like it were lifted

    disliked = next(t for t in after_like if t != liked)
    at.button(key=f"rec_dislike_{disliked}").click().run()
    assert not at.exception
    assert store.for_seed(seed) == {liked: 1, disliked: -1}
    assert disliked not in rows(at) and liked in rows(at)
    assert f"rec_undo_vote_{disliked}" in keys(at)             # its vote, with an undo

    at.button(key=f"rec_undo_vote_{disliked}").click().run()
    at.button(key=f"rec_undo_{liked}").click().run()
    assert not at.exception
    assert store.for_seed(seed) == {}
    assert rows(at) == before                                  # back to the list before
    assert csv_tables["rec_dl"]["track_id"].tolist() == before


def test_the_seed_is_in_the_url_and_a_link_reproduces_it(app, dash_cache, feedback_db):
    seed, other = some_track(dash_cache, 7), some_track(dash_cache, 11)
    at = app("recommend", seed_track=seed).run()
    assert at.query_params["seed"] in (seed, [seed])
    shared = app("recommend")          # a fresh session opened from the link
    shared.query_params["seed"] = other
    shared.run()
    assert not shared.exception and rows(shared)
    assert shared.session_state["seed_track"] == other


def test_votes_belong_to_the_profile(app, dash_cache, feedback_db):
    from pipeline.recommend import FeedbackStore

    seed = some_track(dash_cache, 7)
    at = app("recommend", seed_track=seed).run()
    base = rows(at)
    at.sidebar.text_input(key="rec_user").input("ann").run()
    at.button(key=f"rec_dislike_{base[0]}").click().run()
    assert not at.exception
    assert FeedbackStore(feedback_db).for_seed(seed, "ann") == {base[0]: -1}
    assert FeedbackStore(feedback_db).for_seed(seed) == {}
    assert base[0] not in rows(at)
    at.sidebar.text_input(key="rec_user").input("everyone").run()
    assert rows(at) == base                                    # another profile: unchanged


def test_steering_moves_the_list_and_shows_values(app, dash_cache, feedback_db, tracks):
    import pipeline
    from dashboard.search import track_label

    seed = some_track(dash_cache, 3)
    at = app("recommend", seed_track=seed).run()
    assert not at.exception
    label = track_label(pipeline.load(dash_cache), seed)
    assert plain(at.subheader[0].value) == f"Because you picked: {label}"
    base = rows(at)
    assert len(base) == 10
    energy = lambda ids: tracks.loc[ids, "energy"].mean()  # noqa: E731
    at.slider(key=f"rec_steer_energy_{seed}").set_value(1.0).run()
    assert not at.exception
    high = rows(at)
    assert len(high) == 10 and high != base
    assert energy(high) > energy(base)
    lines = [plain(m.value) for m in at.markdown if "score " in m.value]
    assert len(lines) == 10
    for tid, line in zip(high, lines):                         # the steered value per row
        assert f"energy {tracks.loc[tid, 'energy']:.2f}" in line
    why = [plain(c.value) for c in at.caption]
    assert any(re.search(r"steering \(energy \d\.\d\d, target 1\.00\) moved it up from #\d+", w)
               for w in why)
    at.slider(key=f"rec_steer_energy_{seed}").set_value(0.0).run()
    assert energy(rows(at)) < energy(base)


def test_one_release_per_song(app, dash_cache, feedback_db, tracks):
    """A seed whose raw neighbours repeat a song: the list and every method show it once."""
    from pipeline.recommend import Recommender

    rec = Recommender.load(dash_cache, feedback_url=feedback_db)
    pair = tracks[tracks["n_releases"] > 1].groupby("song_group").head(1)
    checked = 0
    for seed in pair.index[:6]:
        at = app("recommend", seed_track=seed).run()
        at.slider(key="rec_k").set_value(30).run()
        shown = rows(at)
        open_tab(at, "Methods side by side")
        at.multiselect(key="rec_cmp_methods").set_value(["embedding_knn", "cosine_raw"]).run()
        assert not at.exception
        lists = [shown, *(d.value["track_name"].tolist() for d in at.dataframe)]
        songs = tracks.loc[lists[0], "song_group"].tolist()
        assert len(set(songs)) == len(songs) == 30
        assert tracks.loc[seed, "song_group"] not in songs
        for names in lists[1:]:
            assert len(set(names)) == len(names)               # synthetic titles are unique
        raw = rec.compare(seed, 30, ["embedding_knn"])["embedding_knn"]
        checked += len(raw) == 30
    assert checked


def test_methods_side_by_side_human_names_and_formats(app, dash_cache, tracks, feedback_db,
                                                      csv_tables):
    at = app("recommend", seed_track=some_track(dash_cache, 5)).run()
    shown = rows(at)
    lines = [plain(m.value) for m in at.markdown if "score " in m.value]
    assert not at.get("multiselect")                  # the closed tab is not computed
    methods = ["hybrid", "content", "embedding_knn", "cooccurrence"]
    open_tab(at, "Methods side by side")
    assert not rows(at)                               # nor the other one, once closed
    at.multiselect(key="rec_cmp_methods").set_value(methods).run()
    assert not at.exception and not at.error
    names = [m.value.strip("*") for m in at.markdown if m.value.startswith("**")
             and m.value.strip("*") in {"Hybrid (learned ranker)", "Sound only",
                                        "Nearest in the learned embedding", "Shared playlists"}]
    assert names == ["Hybrid (learned ranker)", "Sound only", "Nearest in the learned embedding",
                     "Shared playlists"]
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 4 and all(len(t) == 10 for t in tables)  # "Per method" is 10
    # The hybrid column is the list of the Recommendations tab (same seed, k and no steering).
    assert tables[0]["track_name"].tolist() == tracks.loc[shown, "track_name"].tolist()
    # One format per quantity: the same score with two decimals in both views and CSVs.
    single = csv_tables["rec_dl"]
    assert tables[0]["score"].tolist() == single["score"].tolist()
    assert [float(re.search(r"score (-?\d+\.\d\d)$", s).group(1)) for s in lines] == \
        single["score"].tolist()
    both = csv_tables["rec_cmp_dl"]
    assert set(both["method_name"]) == set(names)
    for df in (single, both):
        text = df.to_csv(index=False)
        assert not re.search(r",(19|20)\d\d\.0,", text)        # years as integers
        assert str(df["year"].dtype) == "Int64"
        assert (df["score"] == df["score"].round(2)).all()


def test_votes_do_not_touch_the_methods_side_by_side(app, dash_cache, feedback_db, tracks):
    seed = some_track(dash_cache, 9)
    at = app("recommend", seed_track=seed).run()
    first = rows(at)[0]                                        # the hybrid's #1
    at.button(key=f"rec_dislike_{first}").click().run()
    assert first not in rows(at)
    fresh = app("recommend", seed_track=seed).run()            # a new visit, votes stored
    assert first not in rows(fresh)
    open_tab(fresh, "Methods side by side")
    fresh.multiselect(key="rec_cmp_methods").set_value(["hybrid", "content"]).run()
    assert not fresh.exception
    hybrid = fresh.dataframe[0].value["track_name"].tolist()
    assert hybrid[0] == tracks.loc[first, "track_name"]       # the baseline stays pure


HOSTILE = {"track_name": "<img src=x onerror=alert(1)>",
           "artist": "**bold** [link](http://x) :red[x]"}


@pytest.fixture(scope="module")
def hostile_cache(tmp_path_factory):
    """A cache whose catalog carries markup in a title and an artist."""
    from catalog_fixtures import make_catalog, small_config
    from pipeline.build import build

    folder = tmp_path_factory.mktemp("hostile")
    cat = make_catalog()
    cat.loc[50, "track_name"] = HOSTILE["track_name"]
    cat.loc[50, "track_artist"] = HOSTILE["artist"]
    cat.to_csv(folder / "catalog.csv", index=False)
    build([folder / "catalog.csv"], folder / "cache", small_config())
    return folder / "cache"


def test_catalog_text_is_shown_as_text(hostile_cache, monkeypatch, tmp_path):
    """The markup of a title and an artist reaches the page escaped (CommonMark backslash
    escapes: shown literally), in no element that allows HTML: as the seed and in a row."""
    from streamlit.testing.v1 import AppTest

    import pipeline
    from dashboard.loaders import _load_recommender
    from pipeline.recommend import ENV_URL, Recommender

    url = f"sqlite:///{tmp_path / 'fb.sqlite'}"
    monkeypatch.setenv("CACHE_DIR", str(hostile_cache))
    monkeypatch.setenv(ENV_URL, url)
    t = pipeline.load(hostile_cache).tracks.set_index("track_id")
    bad = t.index[t["track_name"] == HOSTILE["track_name"]][0]
    rec = Recommender.load(hostile_cache, feedback_url=url)
    other = next(s for s in t.index if s != bad and bad in set(rec.recommend(s, 30)["track_id"]))
    label = f"{HOSTILE['track_name']} — {HOSTILE['artist']} ({t.loc[bad, 'year']:.0f})"
    label_in_row = f"**{HOSTILE['track_name']}** — {HOSTILE['artist']} ({t.loc[bad, 'year']:.0f})"
    _load_recommender.clear()
    try:
        for seed in (bad, other):
            at = AppTest.from_file(str(PAGE), default_timeout=90)
            at.session_state["seed_track"] = seed
            at.run()
            at.slider(key="rec_k").set_value(30).run()
            assert not at.exception
            elements = [*at.markdown, *at.caption, *at.subheader, *at.title, *at.toast]
            texts = [*at.markdown, *at.caption]        # the elements that could allow HTML
            assert texts and not any(e.proto.allow_html for e in texts)
            bodies = [e.value for e in elements]
            assert not any(HOSTILE["track_name"] in b or HOSTILE["artist"] in b
                           for b in bodies)
            assert any(r"\<img src=x onerror=alert\(1\)\>" in b for b in bodies)
            assert any(r"\*\*bold\*\* \[link\]\(http\://x\) \:red\[x\]" in b
                       for b in bodies)
            # read as the plain text (a row sets the title in bold: our own markup)
            assert any(label in plain(b) or label_in_row in plain(b) for b in bodies), seed
        assert bad in rows(at)
    finally:
        _load_recommender.clear()
