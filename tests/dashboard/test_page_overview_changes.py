"""Overview after a catalog update: the page says what changed since the previous build."""
from __future__ import annotations

from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "views" / "overview.py"


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
