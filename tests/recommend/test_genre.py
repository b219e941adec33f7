"""Genre classifier: labels from the given playlists only, better than chance on the
synthetic catalog (genres have distinct audio profiles), no labels -> no model."""
from __future__ import annotations

import pandas as pd

from pipeline.recommend.genre import build_genre, evaluate_genre, track_labels
from rec_fixtures import cache_inputs


def test_labels_come_from_given_memberships(built_small_cache):
    tracks, mem, *_ = cache_inputs(built_small_cache)
    lab = track_labels(tracks, mem.iloc[:0])
    assert lab.isna().all()
    lab = track_labels(tracks, mem)
    assert lab.notna().sum() == tracks["track_id"].isin(mem["track_id"]).sum()


def test_classifier_beats_chance_and_fills_every_track(built_small_cache):
    tracks, mem, *_ = cache_inputs(built_small_cache)
    rep = evaluate_genre(tracks, mem, seed=3)
    assert rep["accuracy_random_split"] > 0.5 and rep["accuracy_artist_disjoint"] > 0.5
    assert len(rep["confusion_artist_disjoint"]) == len(rep["classes"])
    res = build_genre(tracks, mem, seed=3, evaluate=False)
    assert res.predictions["genre_filled"].notna().all()
    assert len(res.predictions) == len(tracks)


def test_no_labels_no_model(built_small_cache):
    tracks, mem, *_ = cache_inputs(built_small_cache)
    res = build_genre(tracks.assign(genre=pd.NA), mem.assign(genre=None), seed=3)
    assert res.model is None and "no classifier" in res.report["reason"]
