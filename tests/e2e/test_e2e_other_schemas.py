"""Catalogs without playlists still build end to end, with the fallback objective stated."""
from __future__ import annotations

import json

import pytest

import pipeline
from catalog_fixtures import real_data, small_config
from pipeline.build import build
from pipeline.catalog.sources import resolve_catalog


@pytest.mark.parametrize("name", ["Spotify-2000.csv", "spotify_by_genre.csv"])
def test_build_without_playlists(name, tmp_path):
    cache = tmp_path / "cache"
    metrics = build(resolve_catalog(real_data(name)), cache, small_config())
    assert metrics["catalog"]["has_playlists"] is False
    assert metrics["embedding"]["objective"].startswith("self-supervised")
    assert metrics["clusters"]["n_clusters"] >= 2
    idx = pipeline.load(cache)
    assert len(idx.similar(idx.tracks["track_id"].iloc[0], 5)) == 5
    if name == "Spotify-2000.csv":
        assert json.loads((cache / "metrics.json").read_text())["catalog"]["rejected_rows"] == 1
        assert (cache / "rejects.csv").read_text().count("Layla - Acoustic") == 1
