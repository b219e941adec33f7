"""Schema mapping on the four real catalogs in ../shared/data."""
from __future__ import annotations

import pytest

from catalog_fixtures import real_data
from pipeline.catalog.ingest import ingest
from pipeline.catalog.reader import read_catalog_file
from pipeline.catalog.sources import resolve_catalog


def _ingest(paths):
    return ingest([(read_catalog_file(p), p) for p in paths])


def test_songs30k(real_catalog):
    res = _ingest([real_catalog])
    r = res.report
    assert r["schemas"] == ["songs30k"]
    assert (r["rows_read"], r["tracks"], r["playlists"]) == (32833, 28356, 471)
    assert r["duplicate_ids_merged"] == 32833 - 28356
    assert r["missing_text_filled"] == {"track_name": 5, "artist": 5}
    assert res.tracks["year"].between(1957, 2020).all()
    assert set(res.memberships["genre"]) == {"edm", "latin", "pop", "r&b", "rap", "rock"}


def test_hit_predictor_decades_from_file_names():
    folder = real_data("hit_predictor")
    res = _ingest(resolve_catalog(folder))
    t = res.tracks
    assert res.report["schemas"] == ["hit_predictor"]
    assert res.report["rows_read"] == 41106
    assert set(t["decade"].dropna().astype(int)) == {1960, 1970, 1980, 1990, 2000, 2010}
    assert t["year"].isna().all() and t["is_hit"].isin([0, 1]).all()
    assert not res.report["has_playlists"]
    assert t["uri"].str.startswith("spotify:track:").all()


def test_by_genre_schema_keeps_all_genres_of_a_track():
    res = _ingest([real_data("spotify_by_genre.csv")])
    t = res.tracks
    assert res.report["schemas"] == ["by_genre"]
    assert len(t) == 5849 and res.report["duplicate_ids_merged"] == 151
    assert t["genres"].map(len).max() >= 2
    assert t["explicit"].notna().all()
    assert not t["artist"].str.contains(";").any()


def test_spotify2000_spreadsheet_export():
    res = _ingest([real_data("Spotify-2000.csv")])
    t = res.tracks
    assert res.report["schemas"] == ["spotify2000"]
    assert t["energy"].between(0, 1).all() and t["danceability"].between(0, 1).all()
    assert t["duration_ms"].min() > 60_000  # seconds were converted to ms
    assert t.loc[t["track_name"] == "Echoes", "duration_ms"].iloc[0] == pytest.approx(1_412_000)
    # The blank "Layla - Acoustic" row is rejected with its reason, not dropped silently.
    assert res.report["rejected_rows"] == 1
    assert "empty value in a required column" in res.rejects["reason"].iloc[0]
    assert t["key"].isna().all()
