"""Recommendations page: search, recommendations with reasons, steering, feedback, methods.

Feedback goes to a database of the test's own (``feedback_db``) and is read back through
``pipeline.recommend.FeedbackStore``; the list is read from the page (one like button per row).
"""
import pandas as pd
import pytest

from dashboard_helpers import first_artist, shown_ids, some_track


@pytest.fixture(scope="module")
def tracks(dash_cache) -> pd.DataFrame:
    import pipeline

    return pipeline.load(dash_cache).tracks.set_index("track_id")


def test_recommend_search_and_results(app, dash_cache, feedback_db):
    from pipeline.recommend import FeedbackStore

    at = app("recommend").run()
    assert not at.exception
    assert any("Search for a track" in i.value for i in at.info)  # the empty state
    assert shown_ids(at) == []
    at.text_input(key="rec_search").input(first_artist(dash_cache)).run()
    assert not at.exception, at.exception
    seed = at.session_state["seed_track"]
    assert seed == at.selectbox(key="rec_choice").value
    before = shown_ids(at)
    assert len(before) == 10 and seed not in before            # "How many" defaults to 10
    store = FeedbackStore(feedback_db)
    assert store.for_seed(seed) == {}

    liked = before[-1]
    at.button(key=f"rec_like_{liked}").click().run()
    assert not at.exception
    assert store.for_seed(seed) == {liked: 1}
    assert any("noted" in t.value for t in at.toast)
    after_like = shown_ids(at)
    assert after_like.index(liked) < before.index(liked)       # applied at once

    disliked = next(t for t in after_like if t != liked)
    at.button(key=f"rec_dislike_{disliked}").click().run()
    assert not at.exception
    assert store.for_seed(seed) == {liked: 1, disliked: -1}
    assert disliked not in shown_ids(at) and liked in shown_ids(at)

    at.radio(key="rec_mode").set_value("content").run()
    at.slider(key="rec_k").set_value(5).run()
    assert not at.exception
    assert len(shown_ids(at)) == 5 and disliked not in shown_ids(at)


def test_recommend_keeps_seed_and_steering_moves_the_list(app, dash_cache, feedback_db, tracks):
    import pipeline
    from dashboard.search import track_label

    seed = some_track(dash_cache, 3)
    at = app("recommend", seed_track=seed).run()
    assert not at.exception
    label = track_label(pipeline.load(dash_cache), seed)
    assert at.subheader[0].value == f"Because you picked: {label}"
    base = shown_ids(at)
    assert len(base) == 10
    energy = lambda ids: tracks.loc[ids, "energy"].mean()  # noqa: E731
    at.slider(key=f"rec_steer_energy_{seed}").set_value(1.0).run()
    assert not at.exception
    high = shown_ids(at)
    assert len(high) == 10 and high != base
    assert energy(high) > energy(base)
    at.slider(key=f"rec_steer_energy_{seed}").set_value(0.0).run()
    low = shown_ids(at)
    assert energy(low) < energy(base)


def test_recommend_methods_side_by_side(app, dash_cache, tracks, feedback_db):
    at = app("recommend", seed_track=some_track(dash_cache, 5)).run()
    methods = ["hybrid", "content", "embedding_knn", "cooccurrence"]
    at.multiselect(key="rec_cmp_methods").set_value(methods).run()
    assert not at.exception and not at.error
    names = [m.value.strip("*") for m in at.markdown if m.value.strip("*") in methods]
    assert names == methods
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 4 and all(len(t) == 10 for t in tables)  # "Per method" is 10
    # The hybrid column is the list of the Recommendations tab (same seed, k and no steering).
    assert tables[0]["track_name"].tolist() == tracks.loc[shown_ids(at), "track_name"].tolist()
