"""The per-cache build lock: one build or retrain of a cache at a time, across processes.

An ``fcntl.flock`` on ``.NAME.builds/build.lock`` beside the cache path ``NAME`` (outside
the path itself, which is a link switched to each new build). The build orchestrator,
``publish_update`` and the dashboard's single-flight jobs all take this one lock; it is
re-entrant within a thread and released when the process dies (kill -9 too).
:func:`lock_holder` says who holds it (pid and command, from ``/proc/locks``) without
taking it.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import CacheError

LOCK_FILE = "build.lock"


def builds_dir(cache: Path) -> Path:
    """``.NAME.builds`` beside the cache path ``NAME``: generations, lock, shared state."""
    cache = Path(cache).absolute()
    return cache.parent / f".{cache.name}.builds"


def lock_path(cache: Path) -> Path:
    """The lock file of ``cache``: ``.NAME.builds/build.lock`` beside it. It is outside the
    cache path itself, which is a link switched to each new build (a lock inside would
    change with every build)."""
    return builds_dir(cache) / LOCK_FILE


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
            return "this process"
        what = f"process {self.pid}" + (f" (`{self.command}`)" if self.command else "")
        if self.since:
            what += f", running since {time.strftime('%H:%M:%S', time.localtime(self.since))}"
        return what


class CacheBusy(CacheError):
    """Another build or retrain holds the cache's lock."""

    def __init__(self, cache: Path, holder: Holder):
        self.holder = holder
        super().__init__(f"{cache}: another build of this cache is running (a build or "
                         f"retrain, already running in {holder.describe()}). Wait for it to "
                         "finish (its result will be served), then run again if needed.")


_held = threading.local()   # lock files this thread holds -> nesting depth (re-entrant)


@contextmanager
def build_lock(cache: Path, wait: float | None = None, poll: float = 0.2,
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
        if deadline is None:   # no limit: queue on the lock (a waiter in /proc/locks)
            fcntl.flock(f, fcntl.LOCK_EX)
            return
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
