"""pipeline.trends: filters, yearly means with bands, shares, distributions, correlations."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.catalog import trends as tr


@pytest.fixture(scope="module")
def tracks() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 2000
    year = rng.integers(1990, 2020, n).astype(float)
    year[:5] = np.nan
    energy = 0.3 + (year - 1990) / 60 + rng.normal(0, 0.05, n)   # rises over time
    return pd.DataFrame({
        "year": year, "energy": energy, "loudness": -12 + 10 * energy,
        "popularity": rng.integers(0, 100, n).astype(float),
        "genre": pd.array(rng.choice(["pop", "rock", "rap"], n), dtype="string"),
        "subgenres": [["a", "b"] if i % 2 else ["a"] for i in range(n)],
        "cluster": rng.integers(-1, 4, n), "key": rng.integers(0, 12, n).astype(float),
        "mode": rng.integers(0, 2, n).astype(float)})


def test_filter_tracks(tracks):
    f = tr.filter_tracks(tracks, (2000, 2004), ["pop"], [0, 1])
    assert len(f) > 0
    assert f["year"].between(2000, 2004).all() and (f["genre"] == "pop").all()
    assert set(f["cluster"]) <= {0, 1}
    assert len(tr.filter_tracks(tracks)) == len(tracks)
    with pytest.raises(ValueError, match="year_range must be"):
        tr.filter_tracks(tracks, (2010, 2000))


def test_feature_by_year_band_contains_mean_and_follows_trend(tracks):
    for band in ("ci95", "iqr"):
        d = tr.feature_by_year(tracks, "energy", band=band)
        assert (d["lo"] <= d["mean"]).all() and (d["mean"] <= d["hi"]).all()
        assert d["n"].min() >= 10 and d["group"].eq("all").all()
    d = tr.feature_by_year(tracks, "energy")
    assert d["mean"].iloc[-1] > d["mean"].iloc[0] + 0.3


def test_feature_by_year_by_group_and_errors(tracks):
    d = tr.feature_by_year(tracks, "energy", by="genre", min_tracks=5)
    assert set(d["group"]) == {"pop", "rock", "rap"}
    with pytest.raises(ValueError, match="band must be"):
        tr.feature_by_year(tracks, "energy", band="sd")
    with pytest.raises(KeyError, match="no column 'tempo'"):
        tr.feature_by_year(tracks, "tempo")


def test_normalised_trends(tracks):
    d = tr.normalised_trends(tracks, ["energy", "popularity"])
    assert set(d["feature"]) == {"energy", "popularity"}
    e = d[d["feature"] == "energy"]
    assert e["z"].iloc[0] < -1 < 1 < e["z"].iloc[-1]
    assert tr.normalised_trends(tracks, []).empty


def test_cluster_share_by_year_sums_to_one(tracks):
    s = tr.cluster_share_by_year(tracks)
    assert np.allclose(s.groupby("year")["share"].sum(), 1.0)
    assert -1 in set(s["cluster"])


def test_correlation_and_distribution(tracks):
    c = tr.correlation_matrix(tracks, ["energy", "loudness", "popularity"])
    assert c.shape == (3, 3) and c.loc["energy", "loudness"] > 0.99
    d = tr.feature_distribution(tracks, "energy", max_points=500)
    assert len(d) == 500 and set(d.columns) == {"group", "energy"}


def test_key_mode_distribution(tracks):
    k = tr.key_mode_distribution(tracks)
    assert k["share"].sum() == pytest.approx(1.0)
    assert set(k["mode"]) == {"major", "minor"} and k["key_name"].iloc[0] == "C"


def test_popularity_by_subgenre_explodes_lists(tracks):
    p = tr.popularity_by_group(tracks, "subgenre")
    counts = p.set_index("group")["tracks"]
    assert counts["a"] == len(tracks) and counts["b"] == len(tracks) // 2
    with pytest.raises(ValueError, match="must be 'genre' or 'subgenre'"):
        tr.popularity_by_group(tracks, "artist")
