"""Features: the circle for key, binary mode, log for skewed columns, JSON round trip."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from catalog_fixtures import make_catalog
from pipeline.catalog.features import FeatureScaler, build_features
from pipeline.catalog.ingest import ingest
from pipeline.config import FeatureConfig


def _tracks():
    raw = make_catalog(120).iloc[30:].astype(str)
    return ingest([(raw, Path("mem.csv"))]).tracks


def test_shape_names_and_standardised():
    t = _tracks()
    x, sc = build_features(t, FeatureConfig())
    assert x.shape == (len(t), len(sc.names_)) and x.dtype == np.float32
    assert {"key_sin", "key_cos", "mode", "year", "popularity"} <= set(sc.names_)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-4)


def test_key_is_circular():
    t = _tracks().iloc[:3].copy()
    t["key"] = [0.0, 11.0, 6.0]
    sc = FeatureScaler(FeatureConfig()).fit(_tracks())
    x = sc.transform(t)
    ks, kc = sc.names_.index("key_sin"), sc.names_.index("key_cos")
    raw = x[:, [ks, kc]] * np.array(sc.scale_)[[ks, kc]] + np.array(sc.mean_)[[ks, kc]]
    d_0_11 = np.linalg.norm(raw[0] - raw[1])
    d_0_6 = np.linalg.norm(raw[0] - raw[2])
    assert d_0_11 < d_0_6  # B sits next to C, F# is opposite


def test_missing_columns_are_left_out_not_invented():
    t = _tracks().drop(columns=["key", "mode", "instrumentalness"])
    x, sc = build_features(t, FeatureConfig())
    assert not {"key_sin", "mode", "instrumentalness"} & set(sc.names_)
    assert np.isfinite(x).all()


def test_scaler_round_trips_through_json():
    t = _tracks()
    sc = FeatureScaler(FeatureConfig()).fit(t)
    again = FeatureScaler.from_dict(json.loads(json.dumps(sc.to_dict())))
    assert np.array_equal(sc.transform(t), again.transform(t))


def test_partition_transform_matches_whole():
    t = _tracks()
    sc = FeatureScaler(FeatureConfig()).fit(t)
    whole = sc.transform(t)
    parts = np.vstack([sc.transform(t.iloc[:40]), sc.transform(t.iloc[40:])])
    assert np.array_equal(whole, parts)
