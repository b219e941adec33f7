"""Overview page: metrics of the build, data quality, and the rebuild panel."""


def test_overview_renders_metrics(app):
    at = app("overview").run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    for label in ("Tracks", "Rejected rows", "Duplicate ids merged", "Same-song groups"):
        assert label in labels
    assert any(b.label == "Build the cache" for b in at.button)


def test_overview_rebuild_button_runs_the_orchestrator(app, dash_cache, tmp_path, monkeypatch):
    """The button runs the real build (everything cached, so it is quick) with progress."""
    import shutil

    copy = tmp_path / "cache"
    shutil.copytree(dash_cache, copy)
    monkeypatch.setenv("CACHE_DIR", str(copy))
    import json

    catalog = [c["path"] for c in json.loads((copy / "manifest.json").read_text())["catalog"]]
    monkeypatch.setenv("CATALOG", catalog[0])
    at = app("overview").run()
    at.button(key="overview_build").click().run()
    assert not at.exception
    assert not at.error
