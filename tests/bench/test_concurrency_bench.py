"""The concurrency bench (bench/concurrency_bench.py): one real Chromium session for ~15 s on
the small test cache gives the JSON report with page views, no errors, render quantiles per
page and the server's CPU per page view; the CPU reading counts a process tree's children."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.concurrency_bench import CHROMIUM, PAGES, _quantiles, tree_cpu

ROOT = Path(__file__).resolve().parents[2]


def test_quantiles_are_nearest_rank():
    assert _quantiles([]) == {"n": 0, "p50": None, "p95": None, "max": None}
    q = _quantiles([float(x) for x in range(1, 101)])
    assert (q["n"], q["p50"], q["p95"], q["max"]) == (100, 51.0, 95.0, 100.0)


def test_tree_cpu_counts_a_busy_child_and_leaves_out_excluded_subtrees():
    child = subprocess.Popen([sys.executable, "-c",
                              "import time\nt = time.process_time()\n"
                              "while time.process_time() - t < 0.6: pass\n"
                              "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 30
        while tree_cpu(child.pid)[0] < 0.5:
            assert time.monotonic() < deadline, "the child's CPU time never showed"
            time.sleep(0.1)
        total, pids = tree_cpu(os.getpid())
        assert child.pid in pids and total >= tree_cpu(child.pid)[0]
        assert child.pid not in tree_cpu(os.getpid(), exclude={child.pid})[1]
    finally:
        child.kill()
        child.wait()


def test_bench_one_session_on_the_small_cache(built_small_cache, tmp_path):
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (`make browser-deps`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    env = {k: v for k, v in os.environ.items() if k != "CATALOG_FEEDBACK_URL"}
    state = [built_small_cache, built_small_cache.parent / f".{built_small_cache.name}.builds"]
    before = _files(state)
    run = subprocess.run([sys.executable, "bench/concurrency_bench.py", "--cache",
                          str(built_small_cache), "--sessions", "1", "--seconds", "15",
                          "--timeout", "120", "--log", str(tmp_path / "server.log")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out["sessions"] == 1 and out["seconds"] == 15
    # A page slower than --timeout is a figure of this machine's load, not a failure (the
    # first page of a CI run took over 60 s once); an error box or a bench error is.
    # An action that started no run ("no widget") is issue 11's open finding (about 1 view
    # in 40 at 2 sessions, docs/DEPLOY.md): the bench reports it; error boxes and bench
    # failures still fail this test.
    hard = {k: n for p in out["pages"].values() for k, n in p["error_kinds"].items()
            if k not in ("timeout", "no widget")}
    assert not hard, out["error_samples"]
    assert out["page_views"] >= 2   # ~4 on a loaded 2-core machine
    assert set(out["pages"]) == {p or "overview" for p, _, _ in PAGES}
    visited = {name: p for name, p in out["pages"].items() if p["open_s"]["n"]}
    assert len(visited) >= 2
    for name, page in visited.items():
        assert 0 < page["render_s"]["p50"] <= page["render_s"]["p95"] <= page["render_s"]["max"]
    acted = [p for n, p in visited.items() if n != "overview"]
    assert any(p["action_s"]["n"] for p in acted), "no page's main action was measured"
    assert out["render_s"]["n"] == sum(p["render_s"]["n"] for p in out["pages"].values())
    server = out["server"]
    assert server["cpu_s"] > 0 and server["cpu_s_per_page_view"] > 0
    assert server["sessions_per_core"] == pytest.approx(
        out["sessions"] * out["wall_s"] / server["cpu_s"], rel=0.05)
    assert _files(state) == before   # the bench's votes database is a temporary one


def _files(folders: list[Path]) -> set[tuple[str, int]]:
    return {(str(f), f.stat().st_mtime_ns) for d in folders if d.is_dir()
            for f in d.iterdir() if f.is_file()}
