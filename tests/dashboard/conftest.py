"""Fixtures for the dashboard's AppTest tests.

Pages run against the session's small synthetic cache (``built_small_cache``); set
``DASHBOARD_TEST_CACHE`` to a built cache directory to use that instead (e.g. ``cache``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "dashboard" / "views"


@pytest.fixture(scope="session")
def dash_cache(request) -> Path:
    override = os.environ.get("DASHBOARD_TEST_CACHE")
    if override:
        return Path(override)
    return request.getfixturevalue("built_small_cache")


@pytest.fixture()
def app(dash_cache, monkeypatch):
    """``app("overview")``: an AppTest of one page with CACHE_DIR pointing at the test cache."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CACHE_DIR", str(dash_cache))

    def make(page: str, **state):
        at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=90)
        for k, v in state.items():
            at.session_state[k] = v
        return at
    return make


@pytest.fixture()
def feedback_db(tmp_path, monkeypatch) -> str:
    """A feedback database of this test alone (its SQLAlchemy URL), never the cache's.

    The page's recommender is a ``st.cache_resource`` shared by every AppTest of the
    process and it opens the feedback store when it loads, so it is dropped before and after
    the test: otherwise votes would go to the database of whichever test loaded it first.
    """
    from dashboard.loaders import _load_recommender
    from pipeline.recommend import ENV_URL

    url = f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    monkeypatch.setenv(ENV_URL, url)
    _load_recommender.clear()
    yield url
    _load_recommender.clear()
