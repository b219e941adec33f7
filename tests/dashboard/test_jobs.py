"""Single-flight heavy work (dashboard/jobs.py): the cache lock across processes and
threads, joining a running job, waiting for another process, and the build panel using it."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashboard import jobs
from pipeline.errors import CacheError

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import pathlib, sys, time
sys.path.insert(0, sys.argv[3])
from dashboard.jobs import cache_lock
with cache_lock(pathlib.Path(sys.argv[1])):
    print("held", flush=True)
    while not pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.05)
"""


@contextlib.contextmanager
def held_elsewhere(cache: Path, tmp_path: Path):
    """Another process holding the cache's lock until the block ends, it is killed, or
    ``proc.release`` (a path) is created."""
    release = tmp_path / f"release-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(cache), str(release), str(ROOT)],
                            stdout=subprocess.PIPE, text=True)
    proc.release = release
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        release.touch()
        proc.wait(timeout=30)


def _wait_until(cond, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_lock_lives_beside_the_cache_not_in_it(tmp_path):
    """The cache path is a link switched to each new build: the lock must not move with it."""
    assert jobs.lock_path(tmp_path / "cache") == tmp_path / ".cache.builds" / "build.lock"


def test_lock_excludes_another_process_and_names_it(tmp_path):
    cache = tmp_path / "cache"
    assert jobs.lock_holder(cache) is None
    with held_elsewhere(cache, tmp_path) as proc:
        holder = jobs.lock_holder(cache)
        assert holder.pid == proc.pid
        assert holder.command.startswith("python") and "/" not in holder.command
        assert abs(holder.since - time.time()) < 60
        with pytest.raises(jobs.CacheBusy, match=f"already running in process {proc.pid}"):
            with jobs.cache_lock(cache, wait=0):
                pass
        with pytest.raises(jobs.CacheBusy):
            with jobs.cache_lock(cache, wait=0.5, poll=0.1):
                pass
    assert jobs.lock_holder(cache) is None
    with jobs.cache_lock(cache, wait=0):
        assert jobs.lock_holder(cache).pid == os.getpid()


def test_waiting_for_the_lock_says_who_holds_it_then_gets_it(tmp_path):
    cache = tmp_path / "cache"
    seen, got = [], []
    with held_elsewhere(cache, tmp_path) as proc:
        waiter = threading.Thread(target=lambda: got.append(
            jobs.cache_lock(cache, poll=0.05, on_wait=seen.append).__enter__()))
        waiter.start()
        _wait_until(lambda: seen)
        time.sleep(0.3)
        assert not got, "the lock was taken while another process held it"
    waiter.join(timeout=30)
    assert got and [h.pid for h in seen] == [proc.pid]


def test_a_killed_holder_releases_the_lock(tmp_path):
    cache = tmp_path / "cache"
    with held_elsewhere(cache, tmp_path) as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with jobs.cache_lock(cache, wait=5):
            pass


def test_lock_is_reentrant_in_a_thread_but_excludes_other_threads(tmp_path):
    cache = tmp_path / "cache"
    with jobs.cache_lock(cache, wait=0):
        with jobs.cache_lock(cache, wait=0):   # nested: the same thread
            pass
        errors = []

        def other() -> None:
            try:
                with jobs.cache_lock(cache, wait=0):
                    pass
            except jobs.CacheBusy as exc:
                errors.append(exc)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(errors) == 1
    assert jobs.lock_holder(cache) is None


def test_lock_in_an_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / ".cache.builds"
    blocker.write_text("a file where the lock folder should be")
    with pytest.raises(CacheError, match="cannot create the build lock"):
        with jobs.cache_lock(tmp_path / "cache"):
            pass


def test_second_caller_joins_the_running_job(tmp_path):
    """Two sessions click at once: the work runs once, both see all its progress and get its
    result, the second is told it joined."""
    cache = tmp_path / "cache"
    gate, calls = threading.Event(), []

    def work(report):
        calls.append(1)
        report("ingest", 0, 2, False)
        gate.wait(30)
        report("features", 1, 2, False)
        return {"built": True}

    results, events, said = {}, {"a": [], "b": []}, {"a": [], "b": []}

    def session(name: str) -> None:
        results[name] = jobs.run_shared(cache, "build", work,
                                        progress=lambda *e: events[name].append(e),
                                        say=said[name].append)
    a = threading.Thread(target=session, args=("a",))
    a.start()
    _wait_until(lambda: events["a"])
    b = threading.Thread(target=session, args=("b",))
    b.start()
    _wait_until(lambda: events["b"])   # the joiner got the progress so far
    gate.set()
    a.join(30)
    b.join(30)
    assert calls == [1]
    assert results == {"a": {"built": True}, "b": {"built": True}}
    assert events["a"] == events["b"] == [("ingest", 0, 2, False), ("features", 1, 2, False)]
    assert said["a"] == [] and "already running" in said["b"][0]
    assert jobs.current(cache) is None


def test_a_failure_reaches_every_follower_and_frees_the_cache(tmp_path):
    cache = tmp_path / "cache"
    gate = threading.Event()

    def work(report):
        gate.wait(30)
        raise CacheError("catalog.csv: broken")

    job, joined = jobs.start(cache, "build", work)
    job2, joined2 = jobs.start(cache, "build", work)
    assert job2 is job and (joined, joined2) == (False, True)
    with pytest.raises(jobs.CacheBusy, match="already running"):
        jobs.start(cache, "retrain", work)     # another kind waits its turn
    gate.set()
    for _ in range(2):
        with pytest.raises(CacheError, match="broken"):
            job.follow()
    assert jobs.current(cache) is None
    assert jobs.run_shared(cache, "build", lambda report: 42) == 42   # a new job can start


def test_job_waits_for_a_build_in_another_process_and_says_so(tmp_path):
    cache = tmp_path / "cache"
    calls, said, out = [], [], []
    with held_elsewhere(cache, tmp_path) as proc:
        t = threading.Thread(target=lambda: out.append(jobs.run_shared(
            cache, "build", lambda report: calls.append(1) or "done", say=said.append)))
        t.start()
        _wait_until(lambda: said)
        time.sleep(0.5)
        assert not calls, "the work started while another process held the cache"
        assert f"process {proc.pid}" in said[0] and "waiting for it to finish" in said[0]
    t.join(30)
    assert calls == [1] and out == ["done"]


@pytest.fixture()
def cache_copy(dash_cache, tmp_path, monkeypatch) -> Path:
    """A private copy of the test cache (builds write beside and into it)."""
    copy = tmp_path / "cache"
    shutil.copytree(dash_cache, copy)
    monkeypatch.setenv("CACHE_DIR", str(copy))
    catalog = [c["path"] for c in json.loads((copy / "manifest.json").read_text())["catalog"]]
    monkeypatch.setenv("CATALOG", catalog[0])
    return copy


def test_build_button_waits_for_a_cli_build_then_builds(app, cache_copy, tmp_path,
                                                        monkeypatch):
    """The Overview's build button while another process holds the cache: the page says
    which process it waits for, builds nothing until it is released, then builds."""
    import streamlit as st

    shown = []   # (when, message) of st.info and st.success: the page reruns at the end
    for name in ("info", "success"):
        monkeypatch.setattr(st, name, lambda body, _f=getattr(st, name), **kw: (
            shown.append((time.monotonic(), body)), _f(body, **kw))[1])
    with held_elsewhere(cache_copy, tmp_path) as proc:
        at = app("overview").run()
        for box in at.checkbox:   # the panel may ask to confirm a rebuild of a working cache
            if box.key == "overview_confirm":
                box.check()
        at = at.run()
        released = []
        threading.Timer(4.0, lambda: (released.append(time.monotonic()),
                                      proc.release.touch())).start()
        at.button(key="overview_build").click().run(timeout=120)
        assert proc.poll() is not None, "the page finished while the other process held on"
    assert not at.exception and not at.error
    waited = [m for _, m in shown if "waiting for it to finish" in m]
    assert len(waited) == 1 and f"process {proc.pid}" in waited[0]
    built = [t for t, m in shown if m.startswith("Cache built")]
    assert len(built) == 1 and built[0] > released[0]   # it built, after the wait


def test_cli_build_waits_for_the_dashboards_lock(cache_copy):
    """`python -m pipeline build` on a cache the dashboard is building: it waits on the same
    lock (seen in /proc/locks as a waiter) or refuses; it never builds alongside."""
    manifest = cache_copy / "manifest.json"
    before = manifest.read_bytes()
    cmd = [sys.executable, "-m", "pipeline", "build", "--cache", str(cache_copy),
           "--catalog", os.environ["CATALOG"], "--config", str(cache_copy / "config.json")]
    with jobs.cache_lock(cache_copy, wait=0):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        _wait_until(lambda: proc.poll() is not None or _waits_on_lock(proc.pid, cache_copy),
                    timeout=120)
        assert manifest.read_bytes() == before
        refused = proc.poll() is not None
    out, _ = proc.communicate(timeout=120)
    if refused:
        assert proc.returncode != 0 and "running" in out, out
    else:
        assert proc.returncode == 0, out   # it built once the lock was free


def _waits_on_lock(pid: int, cache: Path) -> bool:
    st = os.stat(jobs.lock_path(cache))
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    lines = Path("/proc/locks").read_text().splitlines()
    return any(ln.split()[1:3] == ["->", "FLOCK"] and ln.split()[5] == str(pid)
               and ln.split()[6] == dev for ln in lines)
