"""Playlist engine (pipeline.playlist.engine, .ordering): sources, filters, rules,
orderings, smoothness, reports and recipes, on a small in-memory catalog index."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.api import CatalogIndex
from pipeline.playlist import ordering as po
from pipeline.playlist.engine import (
    PlaylistRequest,
    PlaylistResult,
    generate_playlist,
    recipe_mismatch,
    request_from_recipe,
)
from playlist_fixtures import ALL_IDS, INDEX, N_CLUSTERS, OUTPUT_COLUMNS


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return INDEX


def ids_of(res: PlaylistResult) -> list[str]:
    return res.tracks["track_id"].tolist()


def check_rules(index: CatalogIndex, req: PlaylistRequest, res: PlaylistResult) -> None:
    """Every rule and filter of the request holds in the result."""
    t = res.tracks
    rows = index.tracks.set_index("track_id").loc[t["track_id"]]
    if req.target_minutes is None:
        assert len(t) <= req.length
    else:
        assert rows["duration_ms"].sum() <= req.target_minutes * 60_000 + 60_000
        assert rows["duration_ms"].notna().all()
    assert t["track_id"].is_unique
    assert set(t["track_id"]) <= set(index.tracks["track_id"])
    assert rows["song_group"].is_unique
    artists = rows["artist"].str.strip().str.casefold().tolist()
    assert max(pd.Series(artists).value_counts(), default=0) <= req.max_per_artist
    last: dict[str, int] = {}
    for pos, a in enumerate(artists):
        assert a not in last or pos - last[a] > req.min_artist_gap
        last[a] = pos
    for name, col in [("year_range", "year"), ("popularity_range", "popularity"),
                      ("tempo_range", "tempo"), ("energy_range", "energy")]:
        rng = getattr(req, name)
        if rng is not None:
            assert rows[col].between(*rng).all()
    if req.exclude_explicit:
        assert not rows["explicit"].fillna(False).any()
    assert t["position"].tolist() == list(range(1, len(t) + 1))
    assert res.report["delivered"] == len(t)


# --- property tests --------------------------------------------------------------------



def _range(lo: float, hi: float) -> st.SearchStrategy:
    pair = st.tuples(st.floats(lo, hi), st.floats(lo, hi)).map(lambda p: tuple(sorted(p)))
    return st.none() | pair


@st.composite
def requests(draw: st.DrawFn) -> PlaylistRequest:
    clusters = tuple(draw(st.sets(st.integers(-1, N_CLUSTERS - 1), max_size=3)))
    track_ids = tuple(draw(st.lists(st.sampled_from(ALL_IDS), max_size=40)))
    seed_track = draw(st.none() | st.sampled_from(ALL_IDS))
    path = draw(st.none() | st.tuples(st.sampled_from(ALL_IDS), st.sampled_from(ALL_IDS)))
    if not (clusters or track_ids or seed_track or path):
        clusters = (0,)
    ordering = draw(st.sampled_from(["smooth", "energy_arc", "tempo", "curve"]))
    feature = draw(st.sampled_from(["energy", "tempo"]))
    hi = 1.0 if feature == "energy" else 200.0
    curve = tuple(draw(st.lists(st.floats(0, hi), min_size=2, max_size=6)))
    return PlaylistRequest(
        clusters=clusters, track_ids=track_ids, seed_track=seed_track, path=path,
        length=draw(st.integers(1, 60)),
        target_minutes=draw(st.none() | st.floats(2, 180)),
        year_range=draw(_range(1960, 2025)), popularity_range=draw(_range(0, 100)),
        tempo_range=draw(_range(60, 200)), energy_range=draw(_range(0, 1)),
        exclude_explicit=draw(st.booleans()), max_per_artist=draw(st.integers(1, 4)),
        min_artist_gap=draw(st.integers(0, 5)), ordering=ordering, curve_feature=feature,
        curve=curve, seed=draw(st.integers(0, 2**32)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=requests())
def test_rules_and_filters_always_hold(req: PlaylistRequest) -> None:
    res = generate_playlist(INDEX, req)
    check_rules(INDEX, req, res)
    assert json.loads(json.dumps(res.recipe)) == res.recipe
    assert json.loads(json.dumps(res.report)) == res.report
    assert ids_of(generate_playlist(INDEX, req)) == ids_of(res)          # same seed, same list


@settings(max_examples=30, deadline=None)
@given(req=requests())
def test_recipe_round_trip_regenerates_the_same_playlist(req: PlaylistRequest) -> None:
    res = generate_playlist(INDEX, req)
    recipe = json.loads(json.dumps(res.recipe))
    again = request_from_recipe(recipe)
    assert again == req
    assert ids_of(generate_playlist(INDEX, again)) == ids_of(res) == recipe["track_ids"]


@settings(max_examples=40, deadline=None)
@given(clusters=st.sets(st.integers(0, N_CLUSTERS - 1), min_size=1, max_size=3),
       ids=st.lists(st.sampled_from(ALL_IDS), max_size=20))
def test_tracks_come_only_from_the_sources(clusters: set[int], ids: list[str]) -> None:
    req = PlaylistRequest(clusters=tuple(sorted(clusters)), track_ids=tuple(ids), length=40)
    res = generate_playlist(INDEX, req)
    rows = INDEX.tracks.set_index("track_id").loc[ids_of(res)]
    assert (rows["cluster"].isin(clusters) | rows.index.isin(ids)).all()


# --- validation ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({}, "at least one source"),
    ({"clusters": (0,), "year_range": (2020, 2010)}, "'year_range' parameter"),
    ({"clusters": (0,), "tempo_range": (float("nan"), 100)}, "'tempo_range' parameter"),
    ({"clusters": (0,), "ordering": "curve"}, "'curve' parameter"),
    ({"clusters": (0,), "ordering": "curve", "curve": (0.2, 1.5)}, r"energy curve.*\[0, 1\]"),
    ({"clusters": (0,), "ordering": "loud"}, "ordering"),
    ({"clusters": (0,), "length": 0}, "length"),
    ({"clusters": (0,), "target_minutes": -5}, "target_minutes"),
    ({"clusters": (0,), "max_per_artist": 0}, "max_per_artist"),
    ({"clusters": (0,), "colour": "red"}, "colour"),
])
def test_invalid_requests_name_the_parameter(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PlaylistRequest(**kwargs)


def test_request_is_frozen() -> None:
    req = PlaylistRequest(clusters=(1,))
    with pytest.raises(ValueError):
        req.length = 3  # type: ignore[misc]


def test_unknown_track_ids_are_named(index: CatalogIndex) -> None:
    with pytest.raises(ValueError, match="'nope-1'.*'nope-2'"):
        generate_playlist(index, PlaylistRequest(track_ids=(ALL_IDS[0], "nope-1", "nope-2")))
    with pytest.raises(ValueError, match="'ghost'"):
        generate_playlist(index, PlaylistRequest(seed_track="ghost"))
    with pytest.raises(ValueError, match="'ghost'"):
        generate_playlist(index, PlaylistRequest(path=(ALL_IDS[0], "ghost")))


def test_unknown_cluster_ids_are_named(index: CatalogIndex) -> None:
    with pytest.raises(ValueError, match=r"cluster id\(s\) \[42\] do not exist"):
        generate_playlist(index, PlaylistRequest(clusters=(0, 42)))


# --- shortfalls and reports ------------------------------------------------------------

def test_impossible_filters_return_empty_playlist_and_say_why(index: CatalogIndex) -> None:
    res = generate_playlist(index, PlaylistRequest(clusters=(0,), year_range=(1900, 1901)))
    assert res.tracks.empty and list(res.tracks.columns) == OUTPUT_COLUMNS
    rep = res.report
    assert rep["delivered"] == 0 and rep["requested"] == "25 tracks"
    assert rep["removed_by"]["year_range"] == rep["candidates"] > 0
    assert "by year range" in rep["notes"][0]
    assert "widen the year filter" in rep["notes"][0] and np.isnan(res.smoothness)


def test_artist_cap_limits_a_single_artist_source(index: CatalogIndex) -> None:
    t = index.tracks
    ids = tuple(t.loc[t["artist"] == "Artist 0", "track_id"])
    res = generate_playlist(index, PlaylistRequest(track_ids=ids, max_per_artist=3,
                                                   min_artist_gap=0))
    assert len(res.tracks) == 3
    assert res.report["removed_by"]["max_per_artist"] + res.report["removed_by"]["same_song"] \
        == len(ids) - 3
    assert "Only 3 tracks" in res.report["notes"][0]
    gapped = generate_playlist(index, PlaylistRequest(track_ids=ids, max_per_artist=3,
                                                      min_artist_gap=1))
    assert len(gapped.tracks) == 1 and gapped.report["removed_by"]["min_artist_gap"] >= 2


def test_one_release_per_song_and_duplicates_counted(index: CatalogIndex) -> None:
    t = index.tracks
    group = t.loc[t["song_group"] == 10_000, "track_id"].tolist()
    res = generate_playlist(index, PlaylistRequest(track_ids=tuple(group + group[:1]),
                                                   max_per_artist=5, min_artist_gap=0))
    assert len(res.tracks) == 1
    assert res.report["removed_by"]["same_song"] == len(group) - 1
    assert res.report["removed_by"]["duplicate_id"] == 1


def test_exclude_explicit_keeps_unknown(index: CatalogIndex) -> None:
    ids = tuple(index.tracks["track_id"])
    res = generate_playlist(index, PlaylistRequest(track_ids=ids, length=200, max_per_artist=50,
                                                   min_artist_gap=0, exclude_explicit=True))
    flags = index.tracks.set_index("track_id").loc[ids_of(res), "explicit"]
    assert not flags.fillna(False).any() and flags.isna().any()
    assert res.report["removed_by"]["explicit"] == int(index.tracks["explicit"].fillna(False).sum())


def test_target_minutes_is_met_within_a_minute(index: CatalogIndex) -> None:
    res = generate_playlist(index, PlaylistRequest(clusters=(0, 1, 2), target_minutes=45))
    minutes = res.tracks["duration_ms"].sum() / 60_000
    assert 44 <= minutes <= 46 and res.report["requested"] == "45 minutes"
    assert res.report["delivered_minutes"] == pytest.approx(minutes, abs=0.01)


# --- sources and orderings -------------------------------------------------------------

def test_smoothness_is_mean_cosine_of_consecutive_tracks(index: CatalogIndex) -> None:
    res = generate_playlist(index, PlaylistRequest(clusters=(1, 2), length=20))
    e = index.embedding[[index.row(t) for t in ids_of(res)]]
    cos = (e[:-1] * e[1:]).sum(axis=1)
    assert res.smoothness == pytest.approx(cos.mean(), abs=1e-5)
    np.testing.assert_allclose(res.tracks["transition_similarity"].to_numpy()[1:], cos, atol=1e-5)
    assert np.isnan(res.tracks["transition_similarity"].iloc[0])


def test_smooth_order_is_smoother_than_shuffles(index: CatalogIndex) -> None:
    req = PlaylistRequest(clusters=(0, 1, 2, 3), length=30, min_artist_gap=0)
    res = generate_playlist(index, req)
    e = index.embedding[[index.row(t) for t in ids_of(res)]]
    rng = np.random.default_rng(0)
    shuffled = [po.smoothness(e[rng.permutation(len(e))]) for _ in range(50)]
    assert res.smoothness > np.percentile(shuffled, 99)


def test_seed_track_leads_a_playlist_of_its_neighbours(index: CatalogIndex) -> None:
    seed = ALL_IDS[10]
    res = generate_playlist(index, PlaylistRequest(seed_track=seed, length=15))
    assert ids_of(res)[0] == seed
    sims = index.embedding[[index.row(t) for t in ids_of(res)]] @ index.embedding[index.row(seed)]
    assert np.median(sims) > np.median(index.embedding @ index.embedding[index.row(seed)])


def test_path_walks_from_a_to_b(index: CatalogIndex) -> None:
    a, b = ALL_IDS[0], ALL_IDS[1]
    res = generate_playlist(index, PlaylistRequest(path=(a, b), length=12, max_per_artist=3,
                                                   min_artist_gap=0))
    ids = ids_of(res)
    assert ids[0] == a and ids[-1] == b and len(ids) == 12
    e = index.embedding[[index.row(t) for t in ids]]
    to_b = e @ index.embedding[index.row(b)]
    assert np.corrcoef(np.arange(len(ids)), to_b)[0, 1] > 0.7


def test_energy_arc_puts_unknown_energy_last(index: CatalogIndex) -> None:
    import dataclasses

    tracks = index.tracks.copy()
    tracks.loc[tracks["cluster"] == 0, "energy"] = np.where(
        np.arange((tracks["cluster"] == 0).sum()) % 2 == 0, np.nan, 0.5)
    holey = dataclasses.replace(index, tracks=tracks)
    res = generate_playlist(holey, PlaylistRequest(clusters=(0,), ordering="energy_arc",
                                                   length=20, min_artist_gap=0))
    known = res.tracks["energy"].notna().to_numpy()
    assert known.any() and not known.all()
    assert not (known[1:] & ~known[:-1]).any()                   # no known after an unknown


def test_duplicate_clusters_count_once(index: CatalogIndex) -> None:
    once = generate_playlist(index, PlaylistRequest(clusters=(2,)))
    twice = generate_playlist(index, PlaylistRequest(clusters=(2, 2)))
    assert ids_of(once) == ids_of(twice)


def test_tempo_order_ascends(index: CatalogIndex) -> None:
    res = generate_playlist(index, PlaylistRequest(clusters=(0, 1), ordering="tempo",
                                                   min_artist_gap=0, tempo_range=(60, 200)))
    assert res.tracks["tempo"].is_monotonic_increasing


def test_energy_arc_rises_peaks_late_and_cools(index: CatalogIndex) -> None:
    res = generate_playlist(index, PlaylistRequest(clusters=(0, 1, 2, 3), ordering="energy_arc",
                                                   length=30, min_artist_gap=0))
    energy = res.tracks["energy"].to_numpy()
    peak = int(np.argmax(energy))
    assert 0.5 <= peak / (len(energy) - 1) <= 0.8
    assert energy[0] < energy[peak] and energy[-1] < energy[peak]
    assert (np.diff(energy[:peak + 1]) >= 0).all() and (np.diff(energy[peak:]) <= 0).all()


def test_curve_ordering_follows_the_curve(index: CatalogIndex) -> None:
    curve = (0.2, 0.8, 0.3)
    res = generate_playlist(index, PlaylistRequest(clusters=tuple(range(N_CLUSTERS)), length=20,
                                                   ordering="curve", curve=curve))
    target = po.curve_targets(curve, 20)
    energy = res.tracks["energy"].to_numpy()
    assert len(energy) == 20 and np.abs(energy - target).mean() < 0.1


def test_tempo_curve_skips_unknown_tempo(index: CatalogIndex) -> None:
    res = generate_playlist(index, PlaylistRequest(track_ids=tuple(ALL_IDS[:10]), ordering="curve",
                                                   curve_feature="tempo", curve=(80, 160)))
    assert res.tracks["tempo"].notna().all()
    assert res.report["removed_by"]["curve_feature_unknown"] == 3


def test_result_columns_and_recipe_contents(index: CatalogIndex) -> None:
    req = PlaylistRequest(clusters=(3,), seed=7)
    res = generate_playlist(index, req)
    assert list(res.tracks.columns) == OUTPUT_COLUMNS
    assert res.recipe["cache"] == {"catalog_md5": ["0123abcd"], "pipeline_version": "1.0",
                                   "stage_keys": {"embedding": "k-emb", "ingest": "k-ingest"}}
    assert res.recipe["request"]["seed"] == 7 and res.recipe["track_ids"] == ids_of(res)
    assert recipe_mismatch(res.recipe, index) == []
    other = dict(res.recipe, cache=dict(res.recipe["cache"], catalog_md5=["ffff"]))
    assert "catalog_md5" in recipe_mismatch(other, index)[0]


def test_different_seeds_give_different_samples(index: CatalogIndex) -> None:
    a = generate_playlist(index, PlaylistRequest(clusters=(0, 1), seed=1))
    b = generate_playlist(index, PlaylistRequest(clusters=(0, 1), seed=2))
    assert set(ids_of(a)) != set(ids_of(b))


@pytest.mark.parametrize("recipe, match", [
    ([], "expected a JSON object"), ({"recipe_version": 1}, "'request' key"),
    ({"recipe_version": 99, "request": {}}, "recipe_version 99"),
    ({"recipe_version": 1, "request": {"clusters": [1], "lenght": 3}}, "lenght"),
])
def test_bad_recipes_say_what_is_wrong(recipe: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        request_from_recipe(recipe)  # type: ignore[arg-type]


# --- playlist_order helpers ------------------------------------------------------------

def test_rank_match_is_optimal_for_absolute_error() -> None:
    from itertools import permutations

    rng = np.random.default_rng(3)
    values, targets = rng.random(6), rng.random(6)
    order = po.rank_match(values, targets)
    best = min(np.abs(values[list(p)] - targets).sum() for p in permutations(range(6)))
    assert np.abs(values[order] - targets).sum() == pytest.approx(best)


def test_arc_shape_peaks_at_two_thirds() -> None:
    shape = po.arc_shape(21)
    assert int(np.argmax(shape)) == 13 and shape[0] < shape[-1] < shape[13]


@settings(max_examples=100, deadline=None)
@given(artists=st.lists(st.sampled_from("abcd"), min_size=1, max_size=30),
       gap=st.integers(0, 4))
def test_place_with_gap_keeps_order_and_gap(artists: list[str], gap: int) -> None:
    arr = np.array(artists)
    placed, dropped = po.place_with_gap(list(range(len(arr))), arr, gap)
    assert sorted(placed + dropped) == list(range(len(arr)))
    for pos, idx in enumerate(placed):
        assert arr[idx] not in {arr[k] for k in placed[max(0, pos - gap):pos]}


# --- real catalog (the session's build of the default catalog) -------------------------

def test_real_cache_two_clusters(real_cache: Path) -> None:
    import pipeline

    idx = pipeline.load(real_cache)
    sizes = pd.Series(idx.labels[idx.labels >= 0]).value_counts()
    clusters = tuple(int(c) for c in sizes.index[:2])
    req = PlaylistRequest(clusters=clusters, length=25, ordering="smooth", seed=42)
    res = generate_playlist(idx, req)
    check_rules(idx, req, res)
    assert len(res.tracks) == 25 and res.smoothness > 0.5
    assert ids_of(generate_playlist(idx, request_from_recipe(res.recipe))) == ids_of(res)
