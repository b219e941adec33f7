"""Every page: a missing cache gives a clear message and a build button, never a traceback."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PAGES = ["overview", "trends", "cluster_map", "clusters", "playlist", "recommend"]


@pytest.mark.parametrize("page", PAGES)
def test_missing_cache_shows_message_and_build_button(page, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "nowhere"))
    page_file = ROOT / "dashboard" / "views" / f"{page}.py"
    at = AppTest.from_file(str(page_file), default_timeout=60).run()
    assert not at.exception
    assert at.error and "cache" in at.error[0].value.lower()
    assert "pipeline build" in at.error[0].value
    assert any(b.label == "Build the cache" for b in at.button)


def test_router_lists_every_page(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "nowhere"))
    at = AppTest.from_file(str(ROOT / "dashboard" / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
