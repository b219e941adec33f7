"""Feedback store: latest vote wins, validation names the parameter, SQLite by default."""
from __future__ import annotations

import pytest

from pipeline.recommend.feedback import ENV_URL, FeedbackStore, default_url


def test_latest_vote_wins(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.sqlite'}")
    store.add("s1", "a", 1)
    store.add("s1", "b", -1)
    store.add("s1", "a", -1)
    store.add("s2", "a", 1)
    assert store.for_seed("s1") == {"a": -1, "b": -1}
    assert store.for_seed("s2") == {"a": 1}
    assert len(store.latest()) == 3


@pytest.mark.parametrize("value", [0, 2, "1"])
def test_value_must_be_plus_or_minus_one(tmp_path, value):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.sqlite'}")
    with pytest.raises(ValueError, match="The 'value' parameter of feedback must be \\+1 or -1"):
        store.add("s", "t", value)


def test_vote_on_the_seed_itself_is_refused(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.sqlite'}")
    with pytest.raises(ValueError, match="seed_id and track_id are the same track"):
        store.add("s", "s", 1)


def test_default_is_sqlite_in_cache_unless_env(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    assert default_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'feedback.sqlite'}"
    monkeypatch.setenv(ENV_URL, "postgresql+psycopg://u@h/db")
    assert default_url(tmp_path) == "postgresql+psycopg://u@h/db"
