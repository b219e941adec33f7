"""Heavy work a session starts (a rebuild, a retrain) is single-flight per cache.

Two layers:

* Across processes (dashboards, ``python -m pipeline build``): :func:`cache_lock`, an
  ``fcntl.flock`` on ``.NAME.builds/build.lock`` beside the cache path ``NAME``, the same
  file the build orchestrator locks (``pipeline.generations.build_lock``), so either side
  excludes the other. :func:`lock_holder` says who holds it (pid and command, read from
  ``/proc/locks``) without taking it.
* Within this server process: :func:`run_shared` runs the work on a background thread, one
  job per cache. A second click, from the same or another session, joins the running job
  (its progress so far is replayed, then followed live) instead of starting another. A
  session rerun or a closed tab does not stop the job. When another process holds the lock,
  the job waits for it and says so, then runs (an unchanged rebuild reuses every stage).

The job registry is module-level on purpose: it is the one place every session of this
server must see.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import CacheError

log = logging.getLogger(__name__)
LOCK_FILE = "build.lock"
Report = Callable[..., None]   # a progress callback; its arguments are the work's own


def lock_path(cache: Path) -> Path:
    """The lock file of ``cache``: ``.NAME.builds/build.lock`` beside it. It is outside the
    cache path itself, which is a link switched to each new build (a lock inside would
    change with every build)."""
    cache = Path(cache).absolute()
    return cache.parent / f".{cache.name}.builds" / LOCK_FILE


@dataclass(frozen=True)
class Holder:
    """The process holding a cache's lock (``pid`` None: not known on this system)."""

    pid: int | None
    command: str = ""
    since: float | None = None   # when that process started (epoch seconds)

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        if self.pid == os.getpid():
            return "this dashboard server"
        what = f"process {self.pid}" + (f" (`{self.command}`)" if self.command else "")
        if self.since:
            what += f", running since {time.strftime('%H:%M:%S', time.localtime(self.since))}"
        return what


class CacheBusy(CacheError):
    """Another build or retrain holds the cache's lock."""

    def __init__(self, cache: Path, holder: Holder):
        self.holder = holder
        super().__init__(f"{cache}: a build or retrain of this cache is already running in "
                         f"{holder.describe()}. Wait for it to finish (its result will be "
                         "served), then run again if needed.")


_held = threading.local()   # lock files this thread holds -> nesting depth (re-entrant)


@contextmanager
def cache_lock(cache: Path, wait: float | None = None, poll: float = 0.2,
               on_wait: Callable[[Holder], None] | None = None) -> Iterator[Path]:
    """Hold the cache's build lock (one build or retrain per cache at a time, across
    processes). Re-entrant within a thread; released when the process dies (kill -9 too).

    Args:
        cache: the cache path as the user names it (``cache``, not a generation).
        wait: seconds to wait for another holder; None waits as long as it takes, 0 not at all.
        poll: seconds between attempts while waiting.
        on_wait: called once with the holder when the lock is busy and we start waiting.
    Yields:
        The lock file's path.
    Raises:
        CacheBusy: the lock is still held after ``wait`` seconds.
        CacheError: the lock cannot be created (the cache's folder is not writable).
    """
    path = lock_path(cache)
    depth = getattr(_held, "depth", None) or {}
    _held.depth = depth
    if depth.get(path):
        depth[path] += 1
        try:
            yield path
        finally:
            depth[path] -= 1
        return
    f = _open_lock(path, cache)
    try:
        _acquire(f, cache, wait, poll, on_wait)
        depth[path] = 1
        try:
            yield path
        finally:
            depth.pop(path, None)
            fcntl.flock(f, fcntl.LOCK_UN)
    finally:
        f.close()


def _open_lock(path: Path, cache: Path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a+")  # noqa: SIM115 - closed by cache_lock
    except OSError as exc:
        raise CacheError(f"{cache}: cannot create the build lock {path} ({exc.strerror}). "
                         "Choose a --cache path in a folder you can write to.") from None


def _acquire(f, cache: Path, wait: float | None, poll: float,
             on_wait: Callable[[Holder], None] | None) -> None:
    deadline = None if wait is None else time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = lock_holder(cache) or Holder(None)
        if deadline is not None and time.monotonic() >= deadline:
            raise CacheBusy(cache, holder)
        if on_wait and not told:
            on_wait(holder)
            told = True
        time.sleep(poll)


def lock_holder(cache: Path) -> Holder | None:
    """Who holds the cache's lock now, or None when nobody does. Reads ``/proc/locks``
    (Linux): looking takes no lock, so it never makes a builder's attempt fail."""
    path = lock_path(cache)
    try:
        st = os.stat(path)
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return _probe(path)
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == dev:
            return _process(int(parts[4]))
    return None


def _probe(path: Path) -> Holder | None:
    """Without /proc/locks: try a shared lock for an instant (held: pid unknown)."""
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder(None)
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def _process(pid: int) -> Holder:
    """The holder's command line and start time from /proc (blank when not readable)."""
    try:
        argv = [a.decode(errors="replace")
                for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        # The program and its subcommand, not its options: they may hold server paths.
        words = [Path(argv[0]).name]
        for arg in argv[1:5]:
            if arg.startswith("--") or "/" in arg:
                break
            words.append(arg)
        command = " ".join(words)
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(float(x.split()[1]) for x in Path("/proc/stat").read_text().splitlines()
                    if x.startswith("btime"))
        return Holder(pid, command, boot + ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, StopIteration):
        return Holder(pid)


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
