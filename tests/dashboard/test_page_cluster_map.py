"""Cluster map page (AppTest): what the map component is asked to draw, and what the page
does with the map's events (colour, lasso/box, click), which are injected as the
component's value in session state, the way the browser sets them.

The browser side (drawing, hover, the lasso itself) is tests/e2e/test_browser_map.py."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard_helpers import first_artist, misspell

EVENT = "cluster_map"


@pytest.fixture(autouse=True)
def map_root(tmp_path_factory, monkeypatch) -> Path:
    root = tmp_path_factory.getbasetemp() / "map_files"
    monkeypatch.setenv("MAP_FILES_DIR", str(root))
    return root


@pytest.fixture(scope="module")
def index(dash_cache):
    import pipeline

    return pipeline.load(dash_cache)


@pytest.fixture(scope="module")
def tracks(index) -> pd.DataFrame:
    return index.tracks


@pytest.fixture(scope="module")
def noisy_cache(dash_cache, tmp_path_factory) -> Path:
    """The test cache, with some tracks unclustered (label -1) if HDBSCAN left none: the
    small synthetic catalog clusters completely, and the noise toggle needs noise to hide."""
    import shutil

    from pipeline import store
    from pipeline.generations import record_checksums

    cache = tmp_path_factory.mktemp("noisy") / "cache"
    shutil.copytree(dash_cache, cache)
    c = store.read_parquet(cache / "clusters.parquet")
    if not (c["cluster"] == -1).any():
        c.loc[c.index % 7 == 3, ["cluster", "probability"]] = (-1, 0.0)
        store.write_parquet(cache / "clusters.parquet", c)
        record_checksums(cache, ["clusters.parquet"])  # planted on purpose: not damage
    return cache


def _args(at) -> dict:
    (el,) = at.get("component_instance")
    assert el.proto.component_name.endswith("map_view.cluster_map")
    return json.loads(el.proto.json_args)


def _mask(args: dict, n: int) -> np.ndarray:
    if args["mask"] is None:
        return np.ones(n, dtype=bool)
    bits = np.frombuffer(base64.b64decode(args["mask"]), dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[:n].astype(bool)


def _event(at, **parts) -> None:
    """Set the map's value as the browser would after an event (each with a fresh id)."""
    value = dict((at.session_state[EVENT] if EVENT in at.session_state else None) or {})
    value.update(parts)
    at.session_state[EVENT] = value


def _square(xy: np.ndarray, q: float = 0.3) -> list[list[float]]:
    """A box over the middle of the map (from the q to the 1-q quantiles)."""
    (x0, y0), (x1, y1) = np.quantile(xy, [q, 1 - q], axis=0)
    return [[float(x0), float(y0)], [float(x1), float(y0)], [float(x1), float(y1)],
            [float(x0), float(y1)]]


def test_map_draws_the_build_from_its_files(app, tracks, map_root):
    at = app("cluster_map").run()
    assert not at.exception
    a = _args(at)
    key = a["base"].rstrip("/").rsplit("/", 1)[-1]
    assert a["base"].startswith("../dashboard.components.map_view.map_files/")
    meta = json.loads((map_root / key / "meta.json").read_text())
    assert meta["n"] == len(tracks)
    assert a["color"] == "cluster" and a["mask"] is None and a["selection"] is None
    assert a["hits"] is None and a["clicked"] == -1
    assert any(c.value.startswith(f"Showing all {len(tracks):,} tracks.") for c in at.caption)


def test_noise_toggle_and_filters_set_what_is_shown(app, noisy_cache, monkeypatch):
    import pipeline

    monkeypatch.setenv("CACHE_DIR", str(noisy_cache))
    t = pipeline.load(noisy_cache).tracks
    n, noise = len(t), t["cluster"].to_numpy() == -1
    at = app("cluster_map").run()
    at.toggle(key="map_noise").set_value(False).run()
    assert not at.exception
    a = _args(at)
    assert np.array_equal(_mask(a, n), ~noise)
    assert any(f"{int(noise.sum()):,} unclustered hidden" in c.value for c in at.caption)
    genre = str(t["genre"].dropna().iloc[0])
    at.multiselect(key="map_genres").set_value([genre]).run()
    want = ~noise & (t["genre"] == genre).fillna(False).to_numpy()
    b = _args(at)
    assert np.array_equal(_mask(b, n), want) and b["mask_rev"] != a["mask_rev"]
    at.slider(key="map_range_energy").set_value((0.3, 0.7)).run()
    e = t["energy"].to_numpy()
    assert np.array_equal(_mask(_args(at), n), want & (e >= 0.3) & (e <= 0.7))
    assert at.query_params["energy"] == "0.3-0.7" and at.query_params["genre"] == genre
    cap = next(c.value for c in at.caption if c.value.startswith("Showing"))
    assert cap.startswith(f"Showing {int((want & (e >= 0.3) & (e <= 0.7)).sum()):,} of {n:,}")


def test_colour_comes_from_the_map_and_the_url(app):
    at = app("cluster_map").run()
    _event(at, color="genre")
    at.run()
    assert _args(at)["color"] == "genre" and at.query_params["color"] == "genre"
    at = app("cluster_map")
    at.query_params["color"] = "energy"
    at.run()
    assert _args(at)["color"] == "energy"


def test_lasso_selects_the_shown_tracks_inside(app, noisy_cache, monkeypatch):
    import pipeline
    from dashboard.map_data import rows_in_polygon

    monkeypatch.setenv("CACHE_DIR", str(noisy_cache))
    index = pipeline.load(noisy_cache)
    noise = index.tracks["cluster"].to_numpy() == -1
    poly = _square(index.coords)
    at = app("cluster_map").run()
    at.toggle(key="map_noise").set_value(False).run()
    _event(at, select={"id": "s1", "polygon": poly, "count": 0})
    at.run()
    assert not at.exception
    rows = rows_in_polygon(index.coords.astype("float32"), poly, ~noise)
    ids = at.session_state["map_selection"]
    assert ids == index.tracks["track_id"].to_numpy()[rows].tolist() and len(ids) > 0
    assert not noise[[index.row(t) for t in ids]].any()
    assert at.subheader[0].value == f"Selection ({len(ids):,} tracks)"
    assert _args(at)["selection"] == {"rev": "s1", "polygon": poly}
    # A colour change keeps the selection drawn and listed; the same event is not re-applied.
    _event(at, color="valence")
    at.run()
    assert _args(at)["selection"] == {"rev": "s1", "polygon": poly}
    assert at.session_state["map_selection"] == ids
    at.button(key="map_clear").click().run()
    assert at.session_state["map_selection"] == [] and _args(at)["selection"] is None
    # Clearing from the map's toolbar (polygon None) clears too.
    _event(at, select={"id": "s2", "polygon": poly, "count": 0})
    at.run()
    assert at.session_state["map_selection"]
    _event(at, select={"id": "s3", "polygon": None, "count": 0})
    at.run()
    assert at.session_state["map_selection"] == [] and _args(at)["selection"] is None


def test_lasso_leaves_out_what_the_legend_hides(app, dash_cache):
    """Clusters hidden in the map's legend (browser only) come with the lasso: the ids are
    the tracks the map drew inside it, not the hidden ones."""
    import pipeline
    from dashboard.map_data import rows_in_polygon

    index = pipeline.load(dash_cache)
    poly = _square(index.coords)
    at = app("cluster_map").run()
    xy = index.coords.astype("float32")
    inside = rows_in_polygon(xy, poly)
    from dashboard.map_data import cluster_channel, map_arrays

    codes = cluster_channel(map_arrays(index.tracks, index.coords).cluster, {}).codes
    present = np.unique(codes[inside])
    assert len(present) >= 2
    hide = [int(present[0])]
    _event(at, select={"id": "h1", "polygon": poly, "count": 0,
                       "hide": {"color": "cluster", "codes": hide}})
    at.run()
    assert not at.exception
    rows = [index.row(t) for t in at.session_state["map_selection"]]
    want = inside[~np.isin(codes[inside], hide)]
    assert rows == want.tolist() and 0 < len(rows) < len(inside)
    assert _args(at)["selection"] == {"rev": "h1", "polygon": poly,      # drawn the same
                                      "hide": {"color": "cluster", "codes": hide}}
    _event(at, select={"id": "h2", "polygon": poly, "count": 0,
                       "hide": {"color": "energy", "codes": [1]}})   # not a legend of entries
    at.run()
    assert any("could not be read" in w.value for w in at.warning)


def test_a_bad_polygon_is_a_warning(app):
    at = app("cluster_map").run()
    _event(at, select={"id": "bad", "polygon": [[0, 0], [1, 1]], "count": 0})
    at.run()
    assert not at.exception
    assert any("could not be read" in w.value for w in at.warning)


def test_map_search_highlights_zooms_and_selects(app, dash_cache, tracks, index):
    """The map's search is the fuzzy one: an artist's name finds all of their songs (one
    release each), and every hit holds each query word in its title or artist."""
    from dashboard.map_data import bounds
    from dashboard.search import covers

    artist = first_artist(dash_cache)
    at = app("cluster_map").run()
    at.text_input(key="map_search").input(artist).run()
    assert not at.exception
    n_hits = int(next(c.value for c in at.caption if "match" in c.value).split()[0])
    hits = _args(at)["hits"]
    assert len(hits["rows"]) == n_hits > 0
    assert hits["focus"] == bounds(index.coords.astype("float32"), hits["rows"][:50])
    found = tracks.iloc[hits["rows"]]
    assert found["song_group"].is_unique                         # one release per song
    assert set(tracks[tracks["artist"] == artist]["song_group"]) <= set(found["song_group"])
    assert all(covers(artist, n, a) for n, a in zip(found["track_name"], found["artist"]))
    assert at.query_params["q"] == artist
    at.button(key="map_use_hits").click().run()
    ids = at.session_state["map_selection"]
    assert ids == tracks["track_id"].iloc[hits["rows"]].tolist()
    assert _args(at)["selection"]["rows"] == hits["rows"]     # drawn as rows, not a lasso
    assert at.subheader[0].value == f"Selection ({len(ids):,} tracks)"


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
        names = tracks.iloc[_args(at)["hits"]["rows"]]["artist"]
        assert artist in set(names), query


def test_map_state_comes_from_the_url(app):
    """Issue 13 item 12: ?color=genre&q=...&noise=0 reproduces the view."""
    at = app("cluster_map")
    at.query_params["color"] = "genre"
    at.query_params["q"] = "zzqx no such track"
    at.query_params["noise"] = "0"
    at.run()
    assert _args(at)["color"] == "genre"
    assert at.text_input(key="map_search").value == "zzqx no such track"
    assert at.toggle(key="map_noise").value is False


def test_map_search_without_match_shows_the_empty_state(app):
    at = app("cluster_map").run()
    at.text_input(key="map_search").input("zzqx no such track").run()
    assert not at.exception
    assert any("No track or artist matches" in i.value for i in at.info)
    assert not any("match" in c.value for c in at.caption)
    assert _args(at)["hits"] is None


def test_click_opens_the_card_with_links_and_actions(app, tracks):
    at = app("cluster_map").run()
    _event(at, click={"id": "c1", "row": 3})
    at.run()
    assert not at.exception
    t = tracks.iloc[3]
    assert _args(at)["clicked"] == 3
    text = " ".join(m.value for m in at.markdown)
    assert "youtube.com/results?search_query=" in text
    assert "YouTube search" in text and "Spotify" in text
    at.button(key="map_card_add").click().run()
    assert at.session_state["map_selection"] == [t["track_id"]]
    at.button(key="map_card_add").click().run()                  # not twice
    assert at.session_state["map_selection"] == [t["track_id"]]
    at.button(key="map_card_rec").click().run()
    assert at.session_state["seed_track"] == t["track_id"]
    at.button(key="map_card_close").click().run()
    assert _args(at)["clicked"] == -1


def test_map_shows_a_stored_selection(app, tracks):
    ids = tracks["track_id"].head(7).tolist()
    at = app("cluster_map", map_selection=ids).run()
    assert not at.exception
    assert at.subheader[0].value == "Selection (7 tracks)"
    table = at.dataframe[-1].value
    assert table["track_name"].tolist() == tracks["track_name"].head(7).tolist()
    assert table["youtube_url"].str.startswith("https://www.youtube.com/results?").all()
    assert _args(at)["selection"]["rows"] == list(range(7))


def test_cluster_and_genre_colours_are_fixed(app, map_root):
    """Issue 13 item 9: the map's colours are the shared palette's."""
    from dashboard import colors

    at = app("cluster_map").run()
    key = _args(at)["base"].rstrip("/").rsplit("/", 1)[-1]
    meta = json.loads((map_root / key / "meta.json").read_text())["channels"]
    assert meta["cluster"]["colors"] == [colors.cluster_color(c) for c in meta["cluster"]["ids"]]
    assert meta["genre"]["colors"] == [colors.genre_color(g) for g in meta["genre"]["labels"]]


def test_new_tracks_colour_and_filter_after_an_update(app, updated_cache, map_root,
                                                      monkeypatch):
    import pipeline

    monkeypatch.setenv("CACHE_DIR", str(updated_cache))
    index = pipeline.load(updated_cache)
    new = (index.track_status["status"] != "kept").to_numpy()
    assert new.sum() == 30
    at = app("cluster_map").run()
    assert not at.exception
    key = _args(at)["base"].rstrip("/").rsplit("/", 1)[-1]
    meta = json.loads((map_root / key / "meta.json").read_text())
    assert "new tracks" in meta["color_by"]
    assert meta["channels"]["new tracks"]["counts"][:2] == [len(new) - 30, 30]
    at.toggle(key="map_new").set_value(True).run()
    assert not at.exception
    assert np.array_equal(_mask(_args(at), len(new)), new)
    assert at.query_params["new"] == "1"
    assert any(c.value.startswith(f"Showing 30 of {len(new):,} tracks (only tracks new")
               for c in at.caption)


def test_a_first_build_has_no_new_tracks_colouring(app, map_root):
    at = app("cluster_map")
    at.query_params["color"] = "new tracks"
    at.run()
    assert not at.exception
    assert _args(at)["color"] == "cluster"
    assert "map_new" not in [t.key for t in at.toggle]


def test_a_colouring_picked_again_applies(app):
    at = app("cluster_map").run()
    _event(at, color="genre", color_id="a")
    at.run()
    assert _args(at)["color"] == "genre"
    at.session_state["map_color"] = "energy"      # set elsewhere (a URL, a later visit)
    at.run()
    assert _args(at)["color"] == "energy"
    _event(at, color="genre", color_id="b")       # the same colouring, a new event
    at.run()
    assert _args(at)["color"] == "genre"
