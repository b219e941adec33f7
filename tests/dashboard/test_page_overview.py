"""Overview page: metrics of the build, data quality, the stale-cache warning and the
rebuild panel."""
import json
import shutil

import pytest


@pytest.fixture()
def cache_copy(dash_cache, tmp_path, monkeypatch):
    """A private copy of the test cache for the page (rebuilds write into it)."""
    copy = tmp_path / "cache"
    shutil.copytree(dash_cache, copy)
    monkeypatch.setenv("CACHE_DIR", str(copy))
    catalog = [c["path"] for c in json.loads((copy / "manifest.json").read_text())["catalog"]]
    monkeypatch.setenv("CATALOG", catalog[0])
    return copy


def test_overview_renders_metrics(app, dash_cache):
    metrics = json.loads((dash_cache / "metrics.json").read_text())
    at = app("overview").run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    for label in ("Tracks", "Rejected rows", "Duplicate ids merged", "Same-song groups"):
        assert label in shown
    cat = metrics["catalog"]
    assert shown["Tracks"] == f"{cat['tracks']:,}"
    assert shown["Rejected rows"] == f"{cat['rejected_rows']:,}"
    assert shown["Clusters"] == str(metrics["clusters"]["n_clusters"])
    assert not at.warning  # the cache is current: no stale warning
    assert any(b.label == "Build the cache" for b in at.button)


def test_overview_says_what_the_catalog_is_and_whether_the_build_is_good(app, dash_cache):
    """Issue 13 item 4: a plain-language verdict, the catalog's genres / years / sources,
    what to do next; metric code names and paths only inside the developer expander."""
    import pipeline

    index = pipeline.load(dash_cache)
    at = app("overview").run()
    assert not at.exception
    verdicts = [e.value for e in list(at.success) + list(at.info) + list(at.warning)
                if "This build is" in e.value]
    assert len(verdicts) == 1
    top = at.markdown[0].value
    years = index.tracks["year"].dropna()
    assert f"{int(years.min())}–{int(years.max())}" in top
    for genre in index.tracks["genre"].dropna().astype(str).unique()[:3]:
        assert genre in top
    assert "What to do next" in [h.value for h in at.subheader]
    (dev,) = [e for e in at.expander if e.label.startswith("Developer details")]
    outside = " ".join(e.value for e in at.main.children.values() if hasattr(e, "value")
                       and isinstance(e.value, str))
    for code in ("val_playlist_precision_at_10", "md5", str(index.cache_dir)):
        assert code not in outside, code
    assert dev.json


def test_overview_rebuild_button_runs_the_orchestrator(app, cache_copy):
    """The button runs the real build with the cache's own configuration: every stage is
    reused (quick), and the manifest records the run."""
    manifest = cache_copy / "manifest.json"
    before = manifest.stat().st_mtime_ns
    at = app("overview").run()
    assert at.button(key="overview_build").disabled     # a rebuild asks first
    at.checkbox(key="overview_confirm").check().run()
    assert not at.button(key="overview_build").disabled
    at.button(key="overview_build").click().run()
    assert not at.exception
    assert not at.error
    assert manifest.stat().st_mtime_ns > before
    assert json.loads(manifest.read_text())["last_run"]["recomputed"] == []
    assert any(c.value.endswith("last run recomputed: nothing.") for c in at.caption)


def test_stale_cache_warns_and_rebuilds_the_stale_stage(app, cache_copy):
    """The cache's clustering configuration changed: the pages warn that the clusters stage
    (and the aggregates, which read the clusters) would be rebuilt, and the panel under the
    warning rebuilds just those stages."""
    for name in ("manifest.json", "config.json"):
        path = cache_copy / name
        doc = json.loads(path.read_text())
        cfg = doc["config"] if name == "manifest.json" else doc
        cfg["clusters"]["min_cluster_sizes"] = [40]
        path.write_text(json.dumps(doc))
    at = app("overview").run()
    assert not at.exception
    (warning,) = at.warning
    assert "out of date: stages clusters, aggregates would be rebuilt" in warning.value
    assert {m.label for m in at.metric} >= {"Tracks", "Clusters"}  # the page goes on
    at.button(key="guard_stale_build").click().run()
    assert not at.exception and not at.error
    manifest = json.loads((cache_copy / "manifest.json").read_text())
    assert manifest["last_run"]["recomputed"] == ["clusters", "aggregates"]
    assert not at.warning
