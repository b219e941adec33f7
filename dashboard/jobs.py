"""Heavy work a session starts (a rebuild, a retrain) is single-flight per cache.

Two layers:

* Across processes (dashboards, ``python -m pipeline build``): the cache's build lock,
  :func:`pipeline.generations.build_lock` (re-exported here as :func:`cache_lock`), which
  the build orchestrator takes too, so either side excludes the other; :func:`lock_holder`
  says who holds it without taking it.
* Within this server process: :func:`run_shared` runs the work on a background thread, one
  job per cache. A second click, from the same or another session, joins the running job
  (its progress so far is replayed, then followed live) instead of starting another. A
  session rerun or a closed tab does not stop the job. When another process holds the lock,
  the job waits for it and says so, then runs (an unchanged rebuild reuses every stage).

The job registry is module-level on purpose: it is the one place every session of this
server must see.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.generations import CacheBusy, Holder, lock_holder, lock_path
from pipeline.generations import build_lock as cache_lock

__all__ = ["CacheBusy", "Holder", "Job", "cache_lock", "current", "lock_holder", "lock_path",
           "run_shared", "start"]

log = logging.getLogger(__name__)
Report = Callable[..., None]   # a progress callback; its arguments are the work's own


@dataclass
class Job:
    """One run of heavy work on a cache, shared by every session that asks for it."""

    cache: str
    kind: str
    started: float = field(default_factory=time.time)
    events: list[tuple] = field(default_factory=list)
    waiting_for: Holder | None = None
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def report(self, *event: Any) -> None:
        """The work's progress callback: record the event for every follower."""
        self.events.append(event)   # list.append is atomic; followers read by index

    def follow(self, progress: Report | None = None, say: Callable[[str], None] | None = None,
               poll: float = 0.25) -> Any:
        """Replay the progress so far, follow it until the job ends; its result or error."""
        seen, told = 0, False
        while True:
            finished = self.done.wait(poll)
            if self.waiting_for is not None and not told and say:
                say(f"Another {self.kind} of this cache is running in "
                    f"{self.waiting_for.describe()}: waiting for it to finish before this "
                    f"one starts (never two at once; unchanged stages are then reused).")
                told = True
            while seen < len(self.events):
                if progress:
                    progress(*self.events[seen])
                seen += 1
            if finished:
                break
        if self.error is not None:
            raise self.error
        return self.result


_jobs: dict[str, Job] = {}      # cache (absolute path) -> its running job, in this process
_jobs_lock = threading.Lock()


def current(cache: Path) -> Job | None:
    """The job running on ``cache`` in this server process, if any."""
    with _jobs_lock:
        return _jobs.get(str(Path(cache).absolute()))


def start(cache: Path, kind: str, work: Callable[[Report], Any]) -> tuple[Job, bool]:
    """Start ``work(report)`` on a background thread, unless a job already runs on this
    cache: then return that one. Returns ``(job, joined)``.

    Raises:
        CacheBusy: a job of another kind (a retrain during a build) runs on this cache.
    """
    key = str(Path(cache).absolute())
    with _jobs_lock:
        job = _jobs.get(key)
        if job is not None:
            if job.kind != kind:
                raise CacheBusy(Path(cache), Holder(os.getpid(), f"a {job.kind}", job.started))
            return job, True
        job = _jobs[key] = Job(key, kind)
    threading.Thread(target=_run, args=(job, Path(cache), work), daemon=True,
                     name=f"{kind}:{key}").start()
    return job, False


def _run(job: Job, cache: Path, work: Callable[[Report], Any]) -> None:
    try:
        # Another process (a CLI build, a second server) first; the orchestrator takes the
        # same lock, so this wait is what lets the sessions say why nothing moves.
        while (holder := lock_holder(cache)) is not None and holder.pid != os.getpid():
            job.waiting_for = holder
            time.sleep(0.5)
        job.result = work(job.report)
    except BaseException as exc:  # noqa: BLE001 - handed to every follower
        job.error = exc
        log.warning("%s of %s failed: %s", job.kind, cache, exc)
    finally:
        with _jobs_lock:
            _jobs.pop(job.cache, None)
        job.done.set()


def run_shared(cache: Path, kind: str, work: Callable[[Report], Any],
               progress: Report | None = None, say: Callable[[str], None] | None = None) -> Any:
    """Run ``work(report)`` single-flight on ``cache`` and follow it; returns its result.

    A second caller while it runs (another session, or a second click) joins it: ``say``
    tells it so, ``progress`` receives every event (replayed from the start), and it gets
    the same result or exception. ``work`` runs on a background thread: it must not call
    Streamlit; it reports through ``report(*event)``, which reaches each caller's
    ``progress`` on the caller's own thread.
    """
    job, joined = start(cache, kind, work)
    if joined and say:
        say(f"A {kind} of this cache started at "
            f"{time.strftime('%H:%M:%S', time.localtime(job.started))} is already running "
            "(from this or another session): following it instead of starting a second one.")
    return job.follow(progress, say)
