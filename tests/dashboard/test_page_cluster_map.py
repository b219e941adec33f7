"""Cluster map page: colourings, noise toggle, search highlight, selection in session state."""
from dashboard_helpers import first_artist


def test_map_colourings_and_noise(app):
    at = app("cluster_map").run()
    assert not at.exception
    for color in ("genre", "energy", "year", "cluster"):
        at.selectbox(key="map_color").set_value(color).run()
        assert not at.exception
    at.toggle(key="map_noise").set_value(False).run()
    assert not at.exception


def test_map_search_selects_and_survives(app, dash_cache):
    artist = first_artist(dash_cache)
    at = app("cluster_map").run()
    at.text_input(key="map_search").input(artist).run()
    assert not at.exception
    assert any("match" in c.value for c in at.caption)
    at.button(key="map_use_hits").click().run()
    ids = at.session_state["map_selection"]
    assert ids
    assert at.subheader[0].value.startswith(f"Selection ({len(ids)} tracks)")
    at.button(key="map_clear").click().run()
    assert at.session_state["map_selection"] == []


def test_map_shows_a_stored_selection(app, dash_cache):
    import pipeline

    ids = pipeline.load(dash_cache).tracks["track_id"].head(7).tolist()
    at = app("cluster_map", map_selection=ids).run()
    assert not at.exception
    assert at.subheader[0].value.startswith("Selection (7 tracks)")
