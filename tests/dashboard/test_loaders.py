"""dashboard.loaders: the unfiltered Trends and Cluster browser tables are read from the
build's aggregates, and agree with the live computation (means 1e-9 relative, IQR bands
within the histogram bound); filters, or a cache built before the aggregates stage,
compute live; the pages draw the same figures either way."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import loaders
from dashboard_helpers import plotly_figures
from pipeline import generations as gens
from pipeline.catalog import TREND_FEATURES
from pipeline.config import AggregatesConfig
from pipeline.map import PROFILE_FEATURES
from pipeline.store import LAYOUT

RTOL = 1e-9
# (module, fn, kwargs) the two pages ask for unfiltered
REQUESTS = [
    *[("pipeline.catalog", "feature_by_year", {"feature": f, "by": by, "band": "ci95"})
      for f in TREND_FEATURES for by in (None, "genre", "cluster")],
    ("pipeline.catalog", "normalised_trends",
     {"features": ("danceability", "energy", "acousticness", "valence")}),
    ("pipeline.catalog", "cluster_share_by_year", {}),
    ("pipeline.catalog", "correlation_matrix", {}),
    ("pipeline.catalog", "key_mode_distribution", {}),
    ("pipeline.catalog", "popularity_by_group", {"by": "genre"}),
    ("pipeline.catalog", "popularity_by_group", {"by": "subgenre"}),
    ("pipeline.map", "feature_profile", {"features": PROFILE_FEATURES}),
    ("pipeline.map", "compare_clusters", {"a": 0, "b": 1, "features": PROFILE_FEATURES}),
    ("pipeline.map", "top_values", {"cluster": 0, "column": "artist", "n": 10}),
    ("pipeline.map", "top_values", {"cluster": 1, "column": "genres", "n": 10}),
    ("pipeline.map", "top_values", {"cluster": -1, "column": "decade", "n": 10}),
    ("pipeline.map", "representative_tracks", {"cluster": 0, "n": 15,
                                               "features": PROFILE_FEATURES}),
    *[("pipeline.catalog", "feature_distribution", {"feature": "tempo", "by": by,
                                                    "max_points": k})
      for by in ("genre", "decade") for k in (6000, 20000)],
]


def _live(cache: Path, module: str, fn: str, kwargs: dict) -> pd.DataFrame:
    import importlib

    import pipeline

    return getattr(importlib.import_module(module), fn)(pipeline.load(cache).tracks, **kwargs)


@pytest.fixture(scope="module")
def without_aggregates(dash_cache, tmp_path_factory) -> Path:
    """The same build as a plain folder without the aggregates (a cache built before the
    stage): pages compute every table live."""
    cache = tmp_path_factory.mktemp("no_agg") / "cache"
    shutil.copytree(gens.resolve(dash_cache), cache)
    manifest = json.loads((cache / "manifest.json").read_text())
    manifest["stages"].pop("aggregates")
    for name in LAYOUT["aggregates"]:
        (cache / name).unlink()
        manifest["artifacts"].pop(name, None)
    (cache / "manifest.json").write_text(json.dumps(manifest))
    return cache


def test_unfiltered_tables_come_from_the_aggregates_and_agree(dash_cache):
    key = (str(dash_cache), loaders._manifest_mtime(dash_cache))
    for module, fn, kwargs in REQUESTS:
        pre = loaders.precomputed(*key, module, fn, (None, None, None), kwargs)
        assert pre is not None, (fn, kwargs)
        pd.testing.assert_frame_equal(pre, _live(dash_cache, module, fn, kwargs),
                                      check_exact=False, rtol=RTOL, atol=1e-12,
                                      check_dtype=False, obj=f"{fn} {kwargs}")


def test_iqr_bands_agree_within_the_histogram_bound(dash_cache):
    key = (str(dash_cache), loaders._manifest_mtime(dash_cache))
    widths = AggregatesConfig().bin_widths
    for feature in TREND_FEATURES:
        kwargs = {"feature": feature, "band": "iqr"}
        pre = loaders.precomputed(*key, "pipeline.catalog", "feature_by_year",
                                  (None, None, None), kwargs)
        live = _live(dash_cache, "pipeline.catalog", "feature_by_year", kwargs)
        assert np.array_equal(pre["year"], live["year"])
        err = np.abs(pre[["lo", "hi"]].to_numpy() - live[["lo", "hi"]].to_numpy())
        assert err.max() <= widths[feature] * (1 + 1e-9), feature


def test_filters_and_older_caches_compute_live(dash_cache, without_aggregates):
    key = (str(dash_cache), loaders._manifest_mtime(dash_cache))
    kwargs = {"feature": "energy", "by": None, "band": "ci95"}
    for filters in (((1990, 2000), None, None), (None, ("pop",), None), (None, None, (0,))):
        assert loaders.precomputed(*key, "pipeline.catalog", "feature_by_year", filters,
                                   kwargs) is None
    assert loaders.precomputed(*key, "pipeline.catalog", "feature_distribution",
                               (None, None, None), {"feature": "energy", "seed": 3}) is None
    old = (str(without_aggregates), loaders._manifest_mtime(without_aggregates))
    assert loaders.precomputed(*old, "pipeline.catalog", "feature_by_year",
                               (None, None, None), kwargs) is None


def _close(a, b, path: str = "") -> None:
    """Two plotly figure specs: the same structure and strings, numbers within RTOL (the
    IQR band is not drawn by these views)."""
    from dashboard_helpers import plotly_array

    if isinstance(a, dict) and "bdata" in a:
        np.testing.assert_allclose(plotly_array(a), plotly_array(b), rtol=RTOL, atol=1e-12,
                                   err_msg=path)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=RTOL, abs=1e-12), path
    else:
        assert a == b, path


def _figures(app, monkeypatch, cache: Path, page: str, steps) -> list:
    monkeypatch.setenv("CACHE_DIR", str(cache))
    at = app(page).run()
    out = []
    for step in steps:
        step(at)
        assert not at.exception
        out.append((plotly_figures(at), [d.value for d in at.dataframe]))
    return out


def test_pages_draw_the_same_figures_precomputed_or_live(app, monkeypatch, dash_cache,
                                                         without_aggregates):
    views = ["Over time", "Features together", "Cluster shares", "Distributions",
             "Correlations", "Key & mode", "Popularity"]
    trends = [lambda at: None] + [
        (lambda v: lambda at: at.radio(key="trends_view").set_value(v).run())(v)
        for v in views[1:]]
    clusters = [lambda at: None,
                lambda at: at.radio(key="cb_view").set_value("Compare two").run()]
    for page, steps in (("trends", trends), ("clusters", clusters)):
        pre = _figures(app, monkeypatch, dash_cache, page, steps)
        live = _figures(app, monkeypatch, without_aggregates, page, steps)
        for (fa, ta), (fb, tb) in zip(pre, live):
            assert len(fa) == len(fb) >= 1
            _close(fa, fb, page)
            for x, y in zip(ta, tb):
                pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=RTOL)
