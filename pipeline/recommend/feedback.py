"""User feedback on recommendations: (seed, track, +1 | -1), kept in a SQL database.

Default: an embedded SQLite file inside the cache directory (``feedback.sqlite``). Set
``CATALOG_FEEDBACK_URL`` (or pass ``url``) to any SQLAlchemy URL, e.g.
``postgresql+psycopg://user@host/db``, to share feedback between machines.
The latest vote of a (seed, track) pair wins.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

ENV_URL = "CATALOG_FEEDBACK_URL"
_META = sa.MetaData()
FEEDBACK = sa.Table(
    "feedback", _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("seed_id", sa.String(64), nullable=False, index=True),
    sa.Column("track_id", sa.String(64), nullable=False),
    sa.Column("value", sa.SmallInteger, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)


def default_url(cache_dir: str | Path) -> str:
    """``$CATALOG_FEEDBACK_URL`` if set, else SQLite in the cache directory."""
    return os.environ.get(ENV_URL) or f"sqlite:///{Path(cache_dir).resolve() / 'feedback.sqlite'}"


class FeedbackStore:
    """Append-only feedback table; reads return the latest vote per (seed, track)."""

    def __init__(self, url: str):
        self.url = url
        self._engine = sa.create_engine(url, future=True)
        _META.create_all(self._engine)

    def add(self, seed_id: str, track_id: str, value: int) -> None:
        """Record a vote. ``value`` must be +1 (more like this) or -1 (not for this seed)."""
        if value not in (1, -1):
            raise ValueError(f"The 'value' parameter of feedback must be +1 or -1. Got {value!r} "
                             "instead.")
        if seed_id == track_id:
            raise ValueError(f"feedback: seed_id and track_id are the same track ({seed_id!r}); "
                             "vote on a recommended track, not on the seed.")
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self._engine.begin() as con:
            con.execute(FEEDBACK.insert().values(seed_id=str(seed_id), track_id=str(track_id),
                                                 value=int(value), created_at=now))

    def latest(self, seed_id: str | None = None) -> pd.DataFrame:
        """Latest vote per (seed_id, track_id): columns seed_id, track_id, value, created_at."""
        q = sa.select(FEEDBACK).order_by(FEEDBACK.c.id)
        if seed_id is not None:
            q = q.where(FEEDBACK.c.seed_id == str(seed_id))
        with self._engine.connect() as con:
            df = pd.DataFrame(con.execute(q).mappings().all(),
                              columns=["id", "seed_id", "track_id", "value", "created_at"])
        df = df.drop_duplicates(["seed_id", "track_id"], keep="last")
        return df.drop(columns="id").reset_index(drop=True)

    def for_seed(self, seed_id: str) -> dict[str, int]:
        """track_id -> latest vote (+1/-1) for one seed (one small query, no pandas)."""
        q = (sa.select(FEEDBACK.c.track_id, FEEDBACK.c.value)
             .where(FEEDBACK.c.seed_id == str(seed_id)).order_by(FEEDBACK.c.id))
        with self._engine.connect() as con:
            return {t: int(v) for t, v in con.execute(q)}  # later rows overwrite earlier

    def dispose(self) -> None:
        self._engine.dispose()
