"""User feedback on recommendations: (user, seed, track, +1 | -1 | 0), kept in a SQL database.

Default: an embedded SQLite file inside the cache directory (``feedback.sqlite``), opened in
WAL mode with a busy timeout so that many dashboard sessions (threads of one server, or
several processes) can vote at once without losing a write. Set ``CATALOG_FEEDBACK_URL``
(or pass ``url``) to any SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/db``, to
share feedback between machines.

The table is append-only: the latest row of a (user, seed, track) triple wins, and an undo
appends a 0 ("no vote"), so the history stays auditable. Votes belong to a named profile
(``user_name``, default ``"everyone"``); a database written before profiles existed is
migrated in place on open (its votes become the ``"everyone"`` profile's).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

log = logging.getLogger(__name__)
ENV_URL = "CATALOG_FEEDBACK_URL"
DEFAULT_USER = "everyone"
MAX_USER_LEN = 64
BUSY_TIMEOUT_MS = 30_000   # a writer waits up to 30 s for another's lock instead of failing
_META = sa.MetaData()
FEEDBACK = sa.Table(
    "feedback", _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("seed_id", sa.String(64), nullable=False, index=True),
    sa.Column("track_id", sa.String(64), nullable=False),
    sa.Column("value", sa.SmallInteger, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("user_name", sa.String(MAX_USER_LEN), nullable=False,
              server_default=DEFAULT_USER),
)


def default_url(cache_dir: str | Path) -> str:
    """``$CATALOG_FEEDBACK_URL`` if set, else SQLite beside the cache's builds (votes
    outlive rebuilds: not inside a build generation)."""
    from pipeline.generations import state_dir

    path = state_dir(Path(cache_dir)).resolve() / "feedback.sqlite"
    return os.environ.get(ENV_URL) or f"sqlite:///{path}"


def clean_user(user: str | None) -> str:
    """A profile name as stored: trimmed, ``"everyone"`` when empty; too long is an error."""
    name = str(user or "").strip() or DEFAULT_USER
    if len(name) > MAX_USER_LEN:
        raise ValueError(f"The 'user' parameter of feedback must be at most {MAX_USER_LEN} "
                         f"characters. Got {len(name)} characters instead.")
    return name


def _sqlite_pragmas(dbapi_con, _record) -> None:
    """WAL lets readers and one writer work at once; the busy timeout makes a second
    writer wait for the lock instead of failing with "database is locked"."""
    cur = dbapi_con.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _retry_locked(lambda: cur.execute("PRAGMA journal_mode=WAL"))
    cur.close()


def _retry_locked(step, attempts: int = 60, pause: float = 0.05):
    """Run ``step``, again while SQLite answers "database is locked" at once: some lock
    upgrades (switching to WAL, a reader turning writer) fail without waiting for the busy
    timeout (seen: 1 lost vote of 480 in a clean-clone CI run)."""
    import sqlite3
    import time

    for i in range(attempts):
        try:
            return step()
        except (sqlite3.OperationalError, sa.exc.OperationalError) as exc:
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(pause * (1 + i % 5))


def _engine(url: str) -> sa.Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, future=True, pool_pre_ping=True)
    eng = sa.create_engine(url, future=True,
                           connect_args={"timeout": BUSY_TIMEOUT_MS / 1000,
                                         "check_same_thread": False})
    sa.event.listen(eng, "connect", _sqlite_pragmas)
    return eng


def _ensure_schema(engine: sa.Engine) -> None:
    """Create the table, or add ``user_name`` to one made before profiles existed.

    Several processes may open a new database at once: a "table exists" or "duplicate
    column" error from the loser of that race is fine, the schema is then in place."""
    try:
        _META.create_all(engine)
    except sa.exc.OperationalError as err:
        if "already exists" not in str(err):
            raise
    cols = {c["name"] for c in sa.inspect(engine).get_columns("feedback")}
    if "user_name" in cols:
        return
    try:
        with engine.begin() as con:
            con.execute(sa.text(f"ALTER TABLE feedback ADD COLUMN user_name "
                                f"VARCHAR({MAX_USER_LEN}) NOT NULL DEFAULT '{DEFAULT_USER}'"))
        log.info("feedback: added the user_name column (earlier votes belong to %r)",
                 DEFAULT_USER)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as err:
        if "duplicate column" not in str(err).lower() and "already exists" not in str(err):
            raise


class FeedbackStore:
    """Append-only feedback table; reads return the latest vote per (user, seed, track)."""

    def __init__(self, url: str):
        self.url = url
        self._engine = _engine(url)
        _ensure_schema(self._engine)

    def add(self, seed_id: str, track_id: str, value: int, user: str | None = None) -> None:
        """Record a vote for a profile: +1 (more like this), -1 (not for this seed) or
        0 (undo: no vote)."""
        if isinstance(value, bool) or value not in (1, -1, 0):
            raise ValueError(f"The 'value' parameter of feedback must be +1, -1 or 0 (undo). "
                             f"Got {value!r} instead.")
        if seed_id == track_id:
            raise ValueError(f"feedback: seed_id and track_id are the same track ({seed_id!r}); "
                             "vote on a recommended track, not on the seed.")
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
        row = dict(seed_id=str(seed_id), track_id=str(track_id), value=int(value),
                   created_at=now, user_name=clean_user(user))

        def write() -> None:
            with self._engine.begin() as con:
                con.execute(FEEDBACK.insert().values(**row))

        _retry_locked(write)

    def latest(self, seed_id: str | None = None, user: str | None = None) -> pd.DataFrame:
        """Standing votes (undone ones left out), the latest per (user, seed, track):
        columns user_name, seed_id, track_id, value, created_at. ``user=None``: every
        profile's."""
        q = sa.select(FEEDBACK).order_by(FEEDBACK.c.id)
        if seed_id is not None:
            q = q.where(FEEDBACK.c.seed_id == str(seed_id))
        if user is not None:
            q = q.where(FEEDBACK.c.user_name == clean_user(user))
        cols = ["id", "user_name", "seed_id", "track_id", "value", "created_at"]
        with self._engine.connect() as con:
            df = pd.DataFrame(con.execute(q).mappings().all(), columns=cols)
        df = df.drop_duplicates(["user_name", "seed_id", "track_id"], keep="last")
        return df[df["value"] != 0].drop(columns="id").reset_index(drop=True)

    def for_seed(self, seed_id: str, user: str | None = None) -> dict[str, int]:
        """track_id -> standing vote (+1/-1) of one profile for one seed (one small query)."""
        q = (sa.select(FEEDBACK.c.track_id, FEEDBACK.c.value)
             .where(FEEDBACK.c.seed_id == str(seed_id),
                    FEEDBACK.c.user_name == clean_user(user))
             .order_by(FEEDBACK.c.id))
        with self._engine.connect() as con:
            votes = {t: int(v) for t, v in con.execute(q)}  # later rows overwrite earlier
        return {t: v for t, v in votes.items() if v != 0}

    def count(self) -> int:
        """Rows stored (every vote and undo ever written)."""
        with self._engine.connect() as con:
            return int(con.execute(sa.select(sa.func.count()).select_from(FEEDBACK)).scalar())

    def dispose(self) -> None:
        self._engine.dispose()
