"""Fixtures for the dashboard's AppTest tests.

Pages run against the session's small synthetic cache (``built_small_cache``); set
``DASHBOARD_TEST_CACHE`` to a built cache directory to use that instead (e.g. ``cache``).
"""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "dashboard" / "pages"


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


class FakeRecommender:
    """The contract of ``pipeline.recommend.Recommender`` on a loaded index (used only when
    the real module is not importable, so the page can still be tested)."""

    feedback_log: list = []

    def __init__(self, index):
        self.index = index

    @classmethod
    def load(cls, cache_dir):
        import pipeline

        return cls(pipeline.load(cache_dir))

    def search(self, query, limit=10):
        t = self.index.tracks
        q = query.lower().strip()
        hit = t[t["track_name"].str.lower().str.contains(q, regex=False)
                | t["artist"].str.lower().str.contains(q, regex=False)].head(limit)
        return hit[["track_id", "track_name", "artist", "year"]].assign(score=1.0)

    def recommend(self, track_id, k=10, mode="hybrid", steer=None, exclude=()):
        sim = self.index.similar(track_id, k)
        t = self.index.tracks.set_index("track_id").loc[sim["track_id"]]
        return pd.DataFrame({"rank": range(1, len(sim) + 1), "track_id": sim["track_id"],
                             "track_name": sim["track_name"], "artist": sim["artist"],
                             "year": sim["year"], "genre": sim["genre"],
                             "score": sim["similarity"], "content_similarity": sim["similarity"],
                             "shared_playlists": 0, "same_artist": False, "same_album": False,
                             "why": "similar sound", "spotify_url": t["spotify_url"].to_numpy()})

    def compare(self, track_id, k=10, methods=("hybrid", "content", "by_genre")):
        return {m: self.recommend(track_id, k, mode=m) for m in methods}

    def feedback(self, seed_id, track_id, value):
        self.feedback_log.append((seed_id, track_id, value))


@pytest.fixture()
def recommender_module(monkeypatch):
    """The real ``pipeline.recommend`` if it imports, else the contract fake above."""
    try:
        import pipeline.recommend  # noqa: F401
        return "real"
    except ImportError:
        fake = types.ModuleType("pipeline.recommend")
        fake.Recommender = FakeRecommender
        monkeypatch.setitem(sys.modules, "pipeline.recommend", fake)
        return "fake"
