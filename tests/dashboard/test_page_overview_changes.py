"""Overview after a catalog update: the page says what changed since the previous build."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog_fixtures import make_catalog, small_config
from pipeline.build import build

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "views" / "overview.py"


@pytest.fixture(scope="module")
def updated_cache(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("overview-update")
    make_catalog(400, seed=0).to_csv(work / "a.csv", index=False)
    b = make_catalog(430, seed=0)
    b[~b["track_id"].isin([f"T{i:05d}" for i in range(100, 110)])].to_csv(work / "b.csv",
                                                                           index=False)
    build([work / "a.csv"], work / "cache", small_config())
    build([work / "b.csv"], work / "cache", small_config())
    return work / "cache"


def test_overview_reports_the_update(updated_cache, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CACHE_DIR", str(updated_cache))
    at = AppTest.from_file(str(PAGE), default_timeout=90).run()
    assert not at.exception and not at.error
    assert "What changed since the previous build" in [s.value for s in at.subheader]
    text = " ".join(m.value for m in at.markdown)
    assert "updated in place" in text
    assert "30 tracks added, 10 removed and 0 edited" in text


def test_first_build_has_no_changes_section(dash_cache, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CACHE_DIR", str(dash_cache))
    at = AppTest.from_file(str(PAGE), default_timeout=90).run()
    assert not at.exception
    assert "What changed since the previous build" not in [s.value for s in at.subheader]
