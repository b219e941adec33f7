"""Playlist exports (pipeline.exports): each format parsed back and checked track by track."""
from __future__ import annotations

import dataclasses
import io
import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.playlist.engine import (
    PlaylistRequest,
    PlaylistResult,
    generate_playlist,
    request_from_recipe,
)
from pipeline.playlist.exports import (
    EXPORTERS,
    XSPF_NS,
    spotify_id,
    to_csv,
    to_m3u8,
    to_recipe_json,
    to_spotify_uris,
    to_xspf,
)
from playlist_fixtures import INDEX

NS = {"x": XSPF_NS}


@pytest.fixture(scope="module")
def result() -> PlaylistResult:
    """A playlist that mixes Spotify ids and synthetic ``s2k:`` ids."""
    t = INDEX.tracks
    ids = tuple(t["track_id"].iloc[:6]) + tuple(t["track_id"].iloc[-6:])
    res = generate_playlist(INDEX, PlaylistRequest(track_ids=ids, length=12, max_per_artist=12,
                                                   min_artist_gap=0))
    assert res.tracks["track_id"].str.startswith("s2k:").any()
    return res


def _with_tracks(result: PlaylistResult, **cols: list) -> PlaylistResult:
    tracks = result.tracks.copy()
    for name, values in cols.items():
        tracks[name] = values
    return dataclasses.replace(result, tracks=tracks)


def test_exporters_table() -> None:
    assert set(EXPORTERS) == {"csv", "m3u8", "xspf", "uris", "json"}
    for fn, mime, ext in EXPORTERS.values():
        assert callable(fn) and "/" in mime and not ext.startswith(".")


def test_spotify_id_rules() -> None:
    sid = "4uLU6hMCjMI75M1A2tKUQC"
    assert spotify_id(sid) == sid
    assert spotify_id("x", f"spotify:track:{sid}") == sid
    assert spotify_id("s2k:abc123") is None and spotify_id("s2k:abc", None) is None
    assert spotify_id(None, pd.NA) is None and spotify_id("too-short") is None


def test_csv_round_trip(result: PlaylistResult) -> None:
    back = pd.read_csv(io.StringIO(to_csv(result)))
    assert list(back.columns) == list(result.tracks.columns)
    assert back["track_id"].tolist() == result.tracks["track_id"].tolist()
    assert back["position"].tolist() == list(range(1, len(back) + 1))
    pd.testing.assert_series_equal(back["energy"], result.tracks["energy"], check_dtype=False)


def test_csv_writes_integers_as_integers(result: PlaylistResult) -> None:
    """Years, popularity, durations and positions are written 1970 and 274040, never 1970.0
    (issue 13 item 8); missing values stay empty."""
    import csv

    rows = list(csv.DictReader(io.StringIO(to_csv(result))))
    assert rows
    for col in ("year", "popularity", "duration_ms", "position", "cluster"):
        values = [r[col] for r in rows if r[col] != ""]
        assert values and all(v.lstrip("-").isdigit() for v in values), (col, values[:5])
    back = pd.read_csv(io.StringIO(to_csv(result)))
    known = result.tracks["year"].notna().to_numpy()
    assert (back["year"].to_numpy()[known] == result.tracks["year"].to_numpy()[known]).all()


def test_m3u8_structure(result: PlaylistResult) -> None:
    lines = to_m3u8(result, title="Road trip").splitlines()
    assert lines[0] == "#EXTM3U" and lines[1] == "#PLAYLIST:Road trip"
    body = lines[2:]
    extinf = [i for i, line in enumerate(body) if line.startswith("#EXTINF:")]
    assert len(extinf) == len(result.tracks)
    for i, (_, row) in zip(extinf, result.tracks.iterrows()):
        secs, label = body[i][len("#EXTINF:"):].split(",", 1)
        expected = -1 if pd.isna(row["duration_ms"]) else round(row["duration_ms"] / 1000)
        assert int(secs) == expected and label == f"{row['artist']} - {row['track_name']}"
        nxt = body[i + 1] if i + 1 < len(body) else "#EXTINF"
        if row["track_id"].startswith("s2k:"):
            assert nxt.startswith("#EXTINF")                        # no URL for synthetic ids
        else:
            assert nxt == f"https://open.spotify.com/track/{row['track_id']}"


def test_xspf_parses_in_its_namespace(result: PlaylistResult) -> None:
    root = ET.fromstring(to_xspf(result, title="Mix"))
    assert root.tag == f"{{{XSPF_NS}}}playlist" and root.get("version") == "1"
    assert root.find("x:title", NS).text == "Mix"
    tracks = root.findall("x:trackList/x:track", NS)
    assert len(tracks) == len(result.tracks)
    for el, (_, row) in zip(tracks, result.tracks.iterrows()):
        assert el.find("x:title", NS).text == row["track_name"]
        assert el.find("x:creator", NS).text == row["artist"]
        dur = el.find("x:duration", NS)
        assert (dur is None) == pd.isna(row["duration_ms"])
        if dur is not None:
            assert int(dur.text) == int(row["duration_ms"])
        loc, ident = el.find("x:location", NS), el.find("x:identifier", NS)
        if row["track_id"].startswith("s2k:"):
            assert loc is None and ident is None
        else:
            assert loc.text == f"https://open.spotify.com/track/{row['track_id']}"
            assert ident.text == f"spotify:track:{row['track_id']}"


def test_spotify_uri_list(result: PlaylistResult) -> None:
    lines = to_spotify_uris(result).splitlines()
    real = [t for t in result.tracks["track_id"] if not t.startswith("s2k:")]
    assert lines == [f"spotify:track:{t}" for t in real]


def test_recipe_json_regenerates(result: PlaylistResult) -> None:
    recipe = json.loads(to_recipe_json(result, title="Mine"))
    assert recipe["title"] == "Mine"
    again = generate_playlist(INDEX, request_from_recipe(recipe))
    assert again.tracks["track_id"].tolist() == result.tracks["track_id"].tolist()


def test_empty_playlist_exports(result: PlaylistResult) -> None:
    empty = dataclasses.replace(result, tracks=result.tracks.iloc[:0])
    assert to_m3u8(empty).splitlines()[0] == "#EXTM3U"
    assert ET.fromstring(to_xspf(empty)).findall("x:trackList/x:track", NS) == []
    assert to_spotify_uris(empty) == ""
    assert pd.read_csv(io.StringIO(to_csv(empty))).empty


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.text(max_size=30), min_size=12, max_size=12),
       artists=st.lists(st.text(max_size=20), min_size=12, max_size=12))
def test_any_text_keeps_m3u8_and_xspf_well_formed(result: PlaylistResult, names: list[str],
                                                  artists: list[str]) -> None:
    res = _with_tracks(result, track_name=names[:len(result.tracks)],
                       artist=artists[:len(result.tracks)])
    lines = to_m3u8(res).splitlines()
    assert sum(line.startswith("#EXTINF:") for line in lines) == len(res.tracks)
    assert all(line.startswith(("#", "https://open.spotify.com/track/")) for line in lines)
    root = ET.fromstring(to_xspf(res))
    assert len(root.findall("x:trackList/x:track", NS)) == len(res.tracks)
