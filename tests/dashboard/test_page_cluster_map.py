"""Cluster map page: colourings, noise toggle, search highlight, selection in session state.

The figure is read back from the chart element's JSON (what the browser draws): every trace
carries the catalog row of each point in ``customdata[:, 0]``."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard_helpers import first_artist, misspell, plotly_array, plotly_figures


@pytest.fixture(scope="module")
def tracks(dash_cache) -> pd.DataFrame:
    import pipeline

    return pipeline.load(dash_cache).tracks


@pytest.fixture(scope="module")
def noisy_cache(dash_cache, tmp_path_factory) -> Path:
    """The test cache, with some tracks unclustered (label -1) if HDBSCAN left none: the
    small synthetic catalog clusters completely, and the noise toggle needs noise to hide."""
    import shutil

    from pipeline import store

    cache = tmp_path_factory.mktemp("noisy") / "cache"
    shutil.copytree(dash_cache, cache)
    c = store.read_parquet(cache / "clusters.parquet")
    if not (c["cluster"] == -1).any():
        c.loc[c.index % 7 == 3, ["cluster", "probability"]] = (-1, 0.0)
        store.write_parquet(cache / "clusters.parquet", c)
    return cache


def _traces(at) -> list[tuple[str, np.ndarray, dict]]:
    """(name, catalog rows (n,), marker) of each map trace except the search highlight."""
    (fig,) = plotly_figures(at)
    return [(t["name"], plotly_array(t["customdata"])[:, 0].astype(int), t["marker"])
            for t in fig["data"] if t["name"] != "search hits"]


def _cluster_of(name: str) -> int:
    return -1 if name == "unclustered" else int(name.split(" ")[0])


def test_map_colourings_and_noise(app, noisy_cache, monkeypatch):
    import pipeline

    monkeypatch.setenv("CACHE_DIR", str(noisy_cache))
    tracks = pipeline.load(noisy_cache).tracks
    noise = tracks["cluster"].to_numpy() == -1
    assert noise.any()
    at = app("cluster_map").run()
    assert not at.exception
    # Default: one trace per cluster (noise first, grey), every track drawn once.
    traces = _traces(at)
    assert traces[0][0] == "unclustered" and traces[0][2]["color"] == "#c9c9c9"
    assert sorted(np.concatenate([r for _, r, _ in traces])) == list(range(len(tracks)))
    for name, rows, _ in traces:
        assert (tracks["cluster"].to_numpy()[rows] == _cluster_of(name)).all(), name

    at.selectbox(key="map_color").set_value("genre").run()
    traces = _traces(at)
    genre = tracks["genre"].astype("string").fillna("unknown").to_numpy()
    assert [n for n, _, _ in traces] == sorted(set(genre))
    for name, rows, _ in traces:
        assert (genre[rows] == name).all(), name

    for feature in ("energy", "year"):
        at.selectbox(key="map_color").set_value(feature).run()
        assert not at.exception
        ((name, rows, marker),) = _traces(at)
        assert name == feature and marker["colorbar"]["title"]["text"] == feature
        assert len(rows) == len(tracks)
        np.testing.assert_array_equal(plotly_array(marker["color"]),
                                      tracks[feature].to_numpy("float32")[rows])

    at.toggle(key="map_noise").set_value(False).run()
    assert not at.exception
    ((_, rows, _),) = _traces(at)
    assert sorted(rows) == list(np.flatnonzero(~noise))
    at.selectbox(key="map_color").set_value("cluster").run()
    traces = _traces(at)
    assert "unclustered" not in [n for n, _, _ in traces]
    assert sorted(np.concatenate([r for _, r, _ in traces])) == list(np.flatnonzero(~noise))


def test_map_search_selects_and_survives(app, dash_cache, tracks):
    """The map's search is the fuzzy one: an artist's name finds all of their songs (one
    release each), and every hit holds each query word in its title or artist."""
    from dashboard.search import covers

    artist = first_artist(dash_cache)
    at = app("cluster_map").run()
    at.text_input(key="map_search").input(artist).run()
    assert not at.exception
    n_hits = int(next(c.value for c in at.caption if "match" in c.value).split()[0])
    (fig,) = plotly_figures(at)
    (hl,) = [t for t in fig["data"] if t["name"] == "search hits"]
    hit_rows = plotly_array(hl["customdata"])[:, 0].astype(int)
    assert len(hit_rows) == n_hits > 0
    hits = tracks.iloc[hit_rows]
    assert hits["song_group"].is_unique                         # one release per song
    by_artist = tracks[tracks["artist"] == artist]
    assert set(by_artist["song_group"]) <= set(hits["song_group"])
    assert all(covers(artist, n, a) for n, a in zip(hits["track_name"], hits["artist"]))
    assert at.query_params["q"] == artist
    at.button(key="map_use_hits").click().run()
    ids = at.session_state["map_selection"]
    assert sorted(ids) == sorted(tracks["track_id"].iloc[hit_rows])
    assert at.subheader[0].value.startswith(f"Selection ({len(ids)} tracks)")
    at.button(key="map_clear").click().run()
    assert at.session_state["map_selection"] == []
    assert at.subheader[0].value.startswith("Selection (0 tracks)")


def test_map_search_forgives_typos_and_word_order(app, dash_cache, tracks):
    """Issue 13 item 2: a misspelt artist and "title artist" both find the track."""
    artist = first_artist(dash_cache)
    row = tracks[tracks["artist"] == artist].iloc[0]
    typo = misspell(artist)
    assert typo != artist
    for query in (typo, f"{row['track_name']} {artist}"):
        at = app("cluster_map").run()
        at.text_input(key="map_search").input(query).run()
        assert not at.exception and not at.info, query
        (fig,) = plotly_figures(at)
        (hl,) = [t for t in fig["data"] if t["name"] == "search hits"]
        names = tracks.iloc[plotly_array(hl["customdata"])[:, 0].astype(int)]["artist"]
        assert artist in set(names), query


def test_map_state_comes_from_the_url(app):
    """Issue 13 item 12: ?color=genre&q=... reproduces the view."""
    at = app("cluster_map")
    at.query_params["color"] = "genre"
    at.query_params["q"] = "zzqx no such track"
    at.run()
    assert at.selectbox(key="map_color").value == "genre"
    assert at.text_input(key="map_search").value == "zzqx no such track"


def test_cluster_and_genre_colours_are_fixed(app):
    """Issue 13 item 9: a cluster's colour is the shared palette's, whatever is shown."""
    from dashboard import colors

    at = app("cluster_map").run()
    (fig,) = plotly_figures(at)
    for t in fig["data"]:
        assert t["marker"]["color"] == colors.cluster_color(colors.cluster_id(t["name"]))
    at.selectbox(key="map_color").set_value("genre").run()
    (fig,) = plotly_figures(at)
    for t in fig["data"]:
        assert t["marker"]["color"] == colors.genre_color(t["name"])


def test_map_search_without_match_shows_the_empty_state(app):
    at = app("cluster_map").run()
    at.text_input(key="map_search").input("zzqx no such track").run()
    assert not at.exception
    assert any("No track or artist matches" in i.value for i in at.info)
    assert not any("match" in c.value for c in at.caption)
    (fig,) = plotly_figures(at)
    assert "search hits" not in [t["name"] for t in fig["data"]]


def test_map_shows_a_stored_selection(app, tracks):
    ids = tracks["track_id"].head(7).tolist()
    at = app("cluster_map", map_selection=ids).run()
    assert not at.exception
    assert at.subheader[0].value.startswith("Selection (7 tracks)")
    assert at.dataframe[-1].value["track_name"].tolist() == tracks["track_name"].head(7).tolist()
