"""Playlist builder page: build from clusters, the map selection and a seed; curve ordering;
exports; the playlist survives in session state."""
from dashboard_helpers import first_artist


def _first_cluster(at):
    return at.multiselect(key="pl_clusters").options[0]


def test_playlist_from_clusters_and_exports(app):
    at = app("playlist").run()
    assert not at.exception
    assert any("No playlist yet" in i.value for i in at.info)
    opts = at.multiselect(key="pl_clusters").options
    chosen = [int(o.split(" ")[0]) for o in opts[:2]]
    at.multiselect(key="pl_clusters").set_value(chosen).run()
    at.number_input(key="pl_length").set_value(12).run()
    at.button(key="pl_build").click().run()
    assert not at.exception and not at.error
    result = at.session_state["current_playlist"]
    assert 0 < len(result.tracks) <= 12
    assert set(result.tracks["cluster"]) <= set(chosen)
    assert not any("No playlist yet" in i.value for i in at.info)
    assert at.dataframe[-1].value["track_name"].tolist() == result.tracks["track_name"].tolist()
    labels = {b.label for b in at.get("download_button")}
    assert {"CSV", "M3U8", "XSPF", "Spotify URIs", "JSON recipe"} <= labels


def test_playlist_curve_and_map_selection(app, dash_cache):
    import pipeline

    ids = pipeline.load(dash_cache).tracks["track_id"].head(60).tolist()
    at = app("playlist", map_selection=ids).run()
    assert at.checkbox(key="pl_use_selection").value
    assert at.checkbox(key="pl_use_selection").label == "Map selection (60 tracks)"
    at.selectbox(key="pl_ordering").set_value("curve").run()
    at.radio(key="pl_curve_feature").set_value("tempo").run()
    at.button(key="pl_build").click().run()
    assert not at.exception and not at.error
    got = set(at.session_state["current_playlist"].tracks["track_id"])
    assert got and got <= set(ids)


def test_playlist_from_seed_by_minutes(app, dash_cache):
    at = app("playlist").run()
    at.checkbox(key="pl_use_seed").check().run()
    at.text_input(key="pl_seed_q").input(first_artist(dash_cache)).run()
    assert at.selectbox(key="pl_seed_pick").value
    at.radio(key="pl_len_by").set_value("minutes").run()
    at.number_input(key="pl_minutes").set_value(30).run()
    at.button(key="pl_build").click().run()
    assert not at.exception and not at.error
    assert len(at.session_state["current_playlist"].tracks) > 0
