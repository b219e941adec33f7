"""Recommendations page: search, recommendations with reasons, steering, feedback, methods."""
from dashboard_helpers import first_artist


def test_recommend_search_and_results(app, dash_cache, feedback_db):
    at = app("recommend").run()
    assert not at.exception
    assert any("Search" in i.value for i in at.info)
    at.text_input(key="rec_search").input(first_artist(dash_cache)).run()
    assert not at.exception, at.exception
    assert at.session_state["seed_track"]
    likes = [b for b in at.button if b.key and b.key.startswith("rec_like_")]
    assert likes
    likes[0].click().run()
    assert not at.exception
    at.radio(key="rec_mode").set_value("content").run()
    at.slider(key="rec_k").set_value(5).run()
    assert not at.exception
    assert len([b for b in at.button if b.key and b.key.startswith("rec_like_")]) <= 5


def test_recommend_keeps_seed_between_pages(app, dash_cache, feedback_db):
    from dashboard_helpers import some_track

    seed = some_track(dash_cache, 3)
    at = app("recommend", seed_track=seed).run()
    assert not at.exception
    assert at.subheader[0].value.startswith("Because you picked")
    steer = [s for s in at.slider if s.key and s.key.startswith("rec_steer_energy")]
    assert steer
    steer[0].set_value(1.0).run()
    assert not at.exception


def test_recommend_methods_side_by_side(app, dash_cache, feedback_db):
    from dashboard_helpers import some_track

    at = app("recommend", seed_track=some_track(dash_cache, 5)).run()
    at.multiselect(key="rec_cmp_methods").set_value(["hybrid", "content", "embedding_knn",
                                                     "cooccurrence"]).run()
    assert not at.exception and not at.error
