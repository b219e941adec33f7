"""Feedback store: latest vote wins per profile, undo, validation names the parameter, SQLite
by default in WAL mode, concurrent writers lose nothing, old databases are migrated."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.recommend.feedback import (
    BUSY_TIMEOUT_MS,
    DEFAULT_USER,
    ENV_URL,
    FeedbackStore,
    default_url,
)

ROOT = Path(__file__).resolve().parents[2]


def test_latest_vote_wins(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.sqlite'}")
    store.add("s1", "a", 1)
    store.add("s1", "b", -1)
    store.add("s1", "a", -1)
    store.add("s2", "a", 1)
    assert store.for_seed("s1") == {"a": -1, "b": -1}
    assert store.for_seed("s2") == {"a": 1}
    assert len(store.latest()) == 3


def test_votes_belong_to_a_profile(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.sqlite'}")
    store.add("s", "a", 1, user="ann")
    store.add("s", "b", -1, user="bob")
    store.add("s", "c", 1)                      # no name: the shared profile
    assert store.for_seed("s", "ann") == {"a": 1}
    assert store.for_seed("s", "bob") == {"b": -1}
    assert store.for_seed("s") == store.for_seed("s", "  ") == {"c": 1}
    assert store.for_seed("s", DEFAULT_USER) == {"c": 1}
    assert sorted(store.latest()["user_name"]) == ["ann", "bob", DEFAULT_USER]
    assert store.latest(user="ann")["track_id"].tolist() == ["a"]
    with pytest.raises(ValueError, match="The 'user' parameter of feedback must be at most 64"):
        store.add("s", "a", 1, user="x" * 65)


def test_undo_takes_a_vote_back_and_keeps_the_history(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.sqlite'}")
    store.add("s", "a", 1, user="ann")
    store.add("s", "b", -1, user="ann")
    store.add("s", "a", 0, user="ann")
    assert store.for_seed("s", "ann") == {"b": -1}
    assert store.latest()["track_id"].tolist() == ["b"]
    assert store.count() == 3                    # append-only: the undo is a row too


@pytest.mark.parametrize("value", [2, -2, "1", True, None])
def test_value_must_be_plus_minus_one_or_zero(tmp_path, value):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.sqlite'}")
    with pytest.raises(ValueError, match="The 'value' parameter of feedback must be \\+1, -1 "
                                         "or 0"):
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


def test_sqlite_is_opened_in_wal_mode_with_a_busy_timeout(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.sqlite'}")
    with store._engine.connect() as con:
        assert con.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert con.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS


def _old_database(path: Path) -> None:
    """A feedback.sqlite as the store wrote it before profiles existed (no user_name)."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE feedback (id INTEGER NOT NULL PRIMARY KEY, seed_id VARCHAR(64) "
                "NOT NULL, track_id VARCHAR(64) NOT NULL, value SMALLINT NOT NULL, "
                "created_at VARCHAR(32) NOT NULL)")
    con.execute("CREATE INDEX ix_feedback_seed_id ON feedback (seed_id)")
    con.executemany("INSERT INTO feedback (seed_id, track_id, value, created_at) VALUES "
                    "(?, ?, ?, '2024-01-01T00:00:00+00:00')", [("s", "a", 1), ("s", "b", -1)])
    con.commit()
    con.close()


def test_database_without_profiles_is_migrated(tmp_path):
    path = tmp_path / "feedback.sqlite"
    _old_database(path)
    store = FeedbackStore(f"sqlite:///{path}")
    assert store.for_seed("s") == {"a": 1, "b": -1}           # old votes: profile "everyone"
    store.add("s", "a", -1, user="ann")
    assert store.for_seed("s", "ann") == {"a": -1}
    assert store.for_seed("s") == {"a": 1, "b": -1}
    again = FeedbackStore(f"sqlite:///{path}")                 # reopening changes nothing
    assert again.count() == 3


# Each writer process: THREADS threads, each writing VOTES votes of its own profile (every
# (profile, track) distinct), with a read of the profile's votes before each write as the
# page does. All processes open the database at the same moment, so they also race to
# create or migrate the table.
WRITER = textwrap.dedent("""
    import sys, threading, time
    sys.path.insert(0, {root!r})
    from pipeline.recommend.feedback import FeedbackStore
    url, proc, start, threads, votes = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \\
        int(sys.argv[4]), int(sys.argv[5])
    time.sleep(max(0.0, start - time.time()))
    store = FeedbackStore(url)
    def write(t):
        user = f"p{{proc}}-t{{t}}"
        for i in range(votes):
            store.for_seed("seed", user)
            store.add("seed", f"track{{i}}", 1 if i % 2 else -1, user=user)
    pool = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for th in pool: th.start()
    for th in pool: th.join()
""")


@pytest.mark.parametrize("old_schema", [False, True])
def test_concurrent_writers_lose_nothing(tmp_path, old_schema):
    procs, threads, votes = 4, 4, 30
    path = tmp_path / "feedback.sqlite"
    if old_schema:
        _old_database(path)
    url = f"sqlite:///{path}"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    start = time.time() + 2.0
    running = [subprocess.Popen([sys.executable, str(script), url, str(p), str(start),
                                 str(threads), str(votes)], stderr=subprocess.PIPE, text=True)
               for p in range(procs)]
    errors = [(p.wait(timeout=240), p.stderr.read()) for p in running]
    assert all(code == 0 for code, _ in errors), [err[-600:] for code, err in errors if code]
    store = FeedbackStore(url)
    expected = procs * threads * votes + (2 if old_schema else 0)
    assert store.count() == expected
    latest = store.latest()
    assert len(latest) == expected
    for p in range(procs):
        for t in range(threads):
            got = store.for_seed("seed", f"p{p}-t{t}")
            assert got == {f"track{i}": 1 if i % 2 else -1 for i in range(votes)}
