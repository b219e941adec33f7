"""Playlist builder page: build from clusters, the map selection and a seed; curve ordering;
exports; the playlist survives in session state."""
from dashboard_helpers import first_artist, misspell


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
    shown = at.dataframe[-1].value
    assert shown["track_name"].tolist() == result.tracks["track_name"].tolist()
    from dashboard.widgets import youtube_url

    assert shown["youtube_url"].tolist() == [youtube_url(a, t) for a, t in
                                             zip(shown["artist"], shown["track_name"])]
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


def test_two_clusters_show_as_short_chips_with_full_names_listed(app):
    """Issue 13 item 10: two picked clusters both fit as chips (short labels) and their
    full names are listed under the box."""
    at = app("playlist").run()
    box = at.multiselect(key="pl_clusters")
    chosen = [int(o.split(" ")[0]) for o in box.options[:2]]
    at.multiselect(key="pl_clusters").set_value(chosen).run()
    assert not at.exception
    assert all(len(o) <= 30 for o in at.multiselect(key="pl_clusters").options)
    listed = "\n".join(m.value for m in at.markdown)
    for c in chosen:
        assert f"- {c} · " in listed
    assert at.query_params["cluster"] == [str(c) for c in chosen]


def test_recipe_fills_the_form_and_exports_follow_the_title(app, dash_cache):
    """A recipe's request fills every widget (not the defaults) and the playlist is rebuilt;
    exports are named after the title."""
    import pipeline
    from pipeline.playlist import PlaylistRequest

    t = pipeline.load(dash_cache).tracks
    seed = str(t["track_id"].iloc[3])
    req = PlaylistRequest(seed_track=seed, target_minutes=40, energy_range=(0.2, 0.9),
                          max_per_artist=1, min_artist_gap=5, ordering="curve",
                          curve_feature="energy", curve=(0.2, 0.5, 0.8), seed=7)
    at = app("playlist", pl_pending_recipe=req, pl_title="Sunday: chill / 2020").run()
    assert not at.exception and not at.error
    assert at.checkbox(key="pl_use_seed").value
    assert at.selectbox(key="pl_seed_pick").value == seed
    assert at.radio(key="pl_len_by").value == "minutes"
    assert at.number_input(key="pl_minutes").value == 40
    assert tuple(at.slider(key="pl_energy").value) == (0.2, 0.9)
    assert at.number_input(key="pl_max_artist").value == 1
    assert at.number_input(key="pl_gap").value == 5
    assert at.selectbox(key="pl_ordering").value == "curve"
    assert at.number_input(key="pl_seed_n").value == 7
    result = at.session_state["current_playlist"]
    assert result.request == req
    assert any("Sunday_chill_2020.csv" in c.value for c in at.caption)


def test_seed_track_from_the_url(app, dash_cache):
    """Issue 13 item 12: ?seed=<track id> opens the builder with that seed picked."""
    import pipeline

    seed = str(pipeline.load(dash_cache).tracks["track_id"].iloc[5])
    at = app("playlist")
    at.query_params["seed"] = seed
    at.run()
    assert not at.exception
    assert at.checkbox(key="pl_use_seed").value
    assert at.selectbox(key="pl_seed_pick").value == seed


def test_seed_picker_is_fuzzy_and_lists_one_release_per_song(app, dash_cache):
    """Issue 13 items 2-3: a misspelt artist finds the artist's tracks; one entry per song."""
    artist = first_artist(dash_cache)
    typo = misspell(artist)
    at = app("playlist").run()
    at.checkbox(key="pl_use_seed").check().run()
    at.text_input(key="pl_seed_q").input(typo).run()
    labels = at.selectbox(key="pl_seed_pick").options
    assert labels, f"no match for {typo!r}"
    assert any(f" — {artist}" in lab for lab in labels)
    songs = [lab.rsplit(" (", 1)[0].casefold() for lab in labels]   # title — artist
    assert len(songs) == len(set(songs)), "a song is listed twice"
