"""pipeline.catalog.aggregates / aggregate_views: the precomputed Trends and Cluster browser
tables agree with the live functions on the whole table (means 1e-9 relative, quantiles
within their stored bounds, counts and orders exactly), whatever the chunk size."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.catalog import (
    TREND_FEATURES,
    Aggregates,
    chunk_moments,
    chunk_partials,
    combine_partials,
    first_pass,
    precomputed,
    row_inputs,
    sample_positions,
)
from pipeline.catalog import trends as tr
from pipeline.catalog.aggregate_rows import REP_FEATURES
from pipeline.config import AggregatesConfig
from pipeline.map import (
    PROFILE_FEATURES,
    compare_clusters,
    feature_profile,
    representative_tracks,
    top_values,
)

WIDTHS = AggregatesConfig().bin_widths
RTOL = 1e-9


@pytest.fixture(scope="module")
def tracks() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 1500
    year = rng.integers(1975, 2020, n).astype(float)
    year[:7] = np.nan
    df = pd.DataFrame({"year": year, "decade": (year // 10) * 10})
    for f in TREND_FEATURES:
        df[f] = rng.random(n)
    df["energy"] = np.round(0.2 + (year - 1975) / 80 + rng.normal(0, 0.1, n), 3)  # on the grid
    df["loudness"] = -14 + 9 * df["energy"] + rng.normal(0, 1.3, n)
    df["tempo"] = rng.normal(120, 25, n)
    df["duration_ms"] = rng.integers(90_000, 400_000, n).astype(float)
    df["popularity"] = rng.integers(0, 100, n).astype(float)
    df.loc[10:14, "tempo"] = np.nan
    df["genre"] = pd.array(rng.choice(["pop", "rock", "rap", "edm"], n), dtype="str")
    df.loc[20:22, "genre"] = np.nan
    df["genres"] = [[g] if i % 3 else [g, "latin"] for i, g in enumerate(df["genre"].fillna("pop"))]
    df["subgenres"] = [["a", "b"] if i % 2 else ["c"] for i in range(n)]
    df["artist"] = rng.choice([f"artist {i}" for i in range(60)], n)
    df["key"] = rng.integers(-1, 12, n).astype(float)
    df["mode"] = rng.integers(0, 2, n).astype(float)
    df["cluster"] = rng.integers(-1, 6, n)
    df["cluster_probability"] = rng.random(n).astype(np.float32)
    df["track_id"] = [f"t{i:05d}" for i in rng.permutation(n)]
    df["track_name"] = [f"song {i}" for i in range(n)]
    df["song_group"] = rng.integers(0, n // 3, n)  # releases of one song, across chunks
    df["spotify_url"] = "https://open.spotify.com/track/" + df["track_id"]
    # Songs at the same distance, near cluster 2's centre (so among its most typical):
    # ties are ordered by track id, in whichever chunk they are.
    planted = [30, *range(240, 246), 1400]
    centre = df.loc[df["cluster"] == 2, list(PROFILE_FEATURES)].mean().round(3)
    df.loc[planted, list(PROFILE_FEATURES)] = np.tile(centre.to_numpy(), (len(planted), 1))
    df.loc[planted, "cluster"] = 2
    df.loc[planted, "song_group"] = n + np.arange(len(planted))
    return df


def _aggregates(tracks: pd.DataFrame, chunk_rows: int) -> Aggregates:
    cfg = AggregatesConfig(chunk_rows=chunk_rows, distribution_points=(300, 5000))
    cut = [tracks.iloc[lo:lo + chunk_rows] for lo in range(0, len(tracks), chunk_rows)]
    first = first_pass([chunk_moments(c) for c in cut])
    positions = sample_positions(first["n_valid"], cfg.distribution_points)
    parts = [chunk_partials(c, i * chunk_rows, WIDTHS, row_inputs(first, i, positions, cfg))
             for i, c in enumerate(cut)]
    return Aggregates(combine_partials(parts, top_n=10, reps=15))


@pytest.fixture(scope="module", params=[1500, 211], ids=["one_chunk", "chunks_of_211"])
def agg(request, tracks) -> Aggregates:
    return _aggregates(tracks, request.param)


def _same(pre: pd.DataFrame, live: pd.DataFrame, rtol: float = RTOL, atol: float = 0.0) -> None:
    pd.testing.assert_frame_equal(pre.reset_index(drop=True), live.reset_index(drop=True),
                                  check_exact=False, rtol=rtol, atol=atol, check_dtype=False)


@pytest.mark.parametrize("by", [None, "genre", "cluster"])
def test_feature_by_year_ci95_agrees_with_live(agg, tracks, by):
    for feature in TREND_FEATURES:
        _same(precomputed(agg, "pipeline.catalog", "feature_by_year",
                          {"feature": feature, "by": by, "band": "ci95"}),
              tr.feature_by_year(tracks, feature, by=by, band="ci95"))


@pytest.mark.parametrize("by", [None, "genre", "cluster"])
def test_feature_by_year_iqr_within_its_bound(agg, tracks, by):
    """The band's quartiles: exact on the grid (energy: 3 decimals), else within the bin
    bound stored with each row; the mean and n as in ci95."""
    t = agg["by_year"]
    for feature in TREND_FEATURES:
        pre = precomputed(agg, "pipeline.catalog", "feature_by_year",
                          {"feature": feature, "by": by, "band": "iqr"})
        live = tr.feature_by_year(tracks, feature, by=by, band="iqr")
        _same(pre[["year", "group", "mean", "n"]], live[["year", "group", "mean", "n"]])
        rows = t[(t["feature"] == feature) & (t["by"] == (by or "none")) & (t["n"] >= 10)]
        for q, col in (("q25", "lo"), ("q75", "hi")):
            err = np.abs(pre[col].to_numpy() - live[col].to_numpy())
            assert (err <= rows[f"{q}_err"].to_numpy() + 1e-12).all(), feature
            assert rows[f"{q}_err"].max() <= WIDTHS[feature] * (1 + 1e-9)
        if feature in ("energy", "popularity"):   # values on the grid: exact
            assert (rows[["q25_err", "q75_err"]].to_numpy() == 0).all()
            np.testing.assert_array_equal(pre[["lo", "hi"]], live[["lo", "hi"]])


def test_the_other_trends_tables_agree(agg, tracks):
    feats = ("danceability", "energy", "acousticness", "valence")
    _same(precomputed(agg, "pipeline.catalog", "normalised_trends", {"features": feats}),
          tr.normalised_trends(tracks, feats))
    _same(precomputed(agg, "pipeline.catalog", "cluster_share_by_year", {}),
          tr.cluster_share_by_year(tracks))
    _same(precomputed(agg, "pipeline.catalog", "correlation_matrix", {}),
          tr.correlation_matrix(tracks), atol=1e-12)
    _same(precomputed(agg, "pipeline.catalog", "key_mode_distribution", {}),
          tr.key_mode_distribution(tracks))
    for level in ("genre", "subgenre"):  # popularity: integers, so exact quantiles
        _same(precomputed(agg, "pipeline.catalog", "popularity_by_group", {"by": level}),
              tr.popularity_by_group(tracks, by=level))


def test_distribution_samples_are_the_live_ones(agg, tracks):
    """The same rows in the same order as ``df.sample`` draws them (300: sampled across
    the chunks; 5000: more than the table, every row with a value in table order)."""
    for feature in ("energy", "tempo"):   # tempo has missing values
        for by in ("genre", "decade"):
            for points in (300, 5000):
                kwargs = {"feature": feature, "by": by, "max_points": points}
                pd.testing.assert_frame_equal(
                    precomputed(agg, "pipeline.catalog", "feature_distribution", kwargs),
                    tr.feature_distribution(tracks, **kwargs), check_dtype=False)
    assert precomputed(agg, "pipeline.catalog", "feature_distribution",
                       {"feature": "energy", "max_points": 400}) is None   # not drawn
    assert precomputed(agg, "pipeline.catalog", "feature_distribution",
                       {"feature": "energy", "max_points": 300, "seed": 1}) is None


def test_cluster_browser_tables_agree(agg, tracks):
    feats = {"features": PROFILE_FEATURES}
    _same(precomputed(agg, "pipeline.map", "feature_profile", feats),
          feature_profile(tracks), atol=1e-12)
    for a, b in ((0, 1), (5, -1)):
        _same(precomputed(agg, "pipeline.map", "compare_clusters", {"a": a, "b": b, **feats}),
              compare_clusters(tracks, a, b), atol=1e-12)
    for cluster in range(-1, 6):
        for column, n in (("artist", 10), ("genres", 10), ("decade", 10), ("artist", 8)):
            pre = precomputed(agg, "pipeline.map", "top_values",
                              {"cluster": cluster, "column": column, "n": n})
            live = top_values(tracks, cluster, column, n)
            pd.testing.assert_frame_equal(pre, live, check_dtype=False)  # ties in order too
        for n in (15, 4):  # most typical tracks: one per song, nearest first, across chunks
            pre = precomputed(agg, "pipeline.map", "representative_tracks",
                              {"cluster": cluster, "n": n, **feats})
            _same(pre, representative_tracks(tracks, cluster, n), atol=1e-12)


def test_the_typical_tracks_use_the_profile_features():
    assert REP_FEATURES == PROFILE_FEATURES


def test_requests_the_aggregates_do_not_hold_are_none(agg):
    assert precomputed(agg, "pipeline.map", "representative_tracks", {"cluster": 0}) is None
    assert precomputed(agg, "pipeline.map", "representative_tracks",
                       {"cluster": 0, "n": 16, "features": PROFILE_FEATURES}) is None
    assert precomputed(agg, "pipeline.map", "top_values",
                       {"cluster": 0, "column": "artist", "n": 50}) is None  # kept 10
    assert precomputed(agg, "pipeline.map", "compare_clusters", {"a": 0, "b": 1}) is None
    assert precomputed(agg, "pipeline.catalog", "correlation_matrix",
                       {"features": ("energy", "tempo")}) is None
    assert precomputed(agg, "pipeline.catalog", "feature_by_year",
                       {"feature": "energy", "band": "sd"}) is None


def test_same_chunks_same_bits(tracks):
    """The reduction is a fixed-order function of the chunks: recomputed, bit for bit."""
    a, b = _aggregates(tracks, 700), _aggregates(tracks, 700)
    for name in a.tables:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
