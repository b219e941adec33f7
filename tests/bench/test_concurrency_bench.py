"""The concurrency bench (bench/concurrency_bench.py): one real Chromium session for ~15 s on
the small test cache gives the JSON report with page views, no errors, render quantiles per
page and the server's CPU per page view; the CPU reading counts a process tree's children.
The page-side run counter reads Streamlit's real protobuf messages off a (routed) websocket:
an action counts as answered when the page sent a rerun request and a run started after it
and ended, even when the DOM never showed it running (issue 11's lost clicks)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.concurrency_bench import (
    CHROMIUM,
    CHROMIUM_ARGS,
    COUNT_RUNS,
    PAGES,
    PB_FIELDS,
    STATE,
    _quantiles,
    ran,
    tree_cpu,
)

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


def _need_chromium() -> None:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (`make browser-deps`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _messages() -> dict[str, bytes]:
    """Streamlit's own messages, with fields longer than 127 bytes (a two-byte length: the
    parser once skipped them wrongly and never saw a run end)."""
    done = ForwardMsg(hash="h" * 200)
    done.metadata.delta_path.extend([0, 1])
    done.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY   # 0: still on the wire (oneof)
    fragment = ForwardMsg(hash="f")
    fragment.script_finished = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
    early = ForwardMsg(hash="e")
    early.script_finished = ForwardMsg.FINISHED_EARLY_FOR_RERUN
    started = ForwardMsg(hash="s")
    started.new_session.main_script_path = "/app/" + "z" * 2000   # larger than any limit
    delta = ForwardMsg(hash="d")
    delta.delta.new_element.markdown.body = "x" * 300
    rerun = BackMsg()
    rerun.rerun_script.query_string = "q=" + "y" * 300
    rerun.rerun_script.page_script_hash = "p"
    beat = BackMsg(app_heartbeat=True)
    return {name: m.SerializeToString() for name, m in
            [("done", done), ("fragment", fragment), ("early", early), ("started", started),
             ("delta", delta), ("rerun", rerun), ("beat", beat)]}


def _top_fields(msg_bytes: bytes, cls) -> list[list]:
    """[number, wire type, value of a varint] of each top-level field, from the protobuf
    library."""
    delimited = {FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_STRING,
                 FieldDescriptor.TYPE_BYTES}   # the others here are varints (enum, bool)
    return [[d.number, 2, None] if d.type in delimited else [d.number, 0, int(v)]
            for d, v in cls.FromString(msg_bytes).ListFields()]


@pytest.fixture(scope="module")
def browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_the_page_reads_top_level_protobuf_fields_as_the_protobuf_library_does(browser):
    page = browser.new_page()
    for name, raw in _messages().items():
        cls = BackMsg if name in ("rerun", "beat") else ForwardMsg
        got = page.evaluate(f"(b) => ({PB_FIELDS})(new Uint8Array(b))", list(raw))
        assert got == _top_fields(raw, cls), name
    page.close()


def test_an_action_answered_needs_a_run_started_after_its_request_and_ended():
    assert ran(5, 0.0, 0.0, 0.0, after=None)                   # no action to check
    assert ran(3, 10.0, 20.0, 30.0, after=2)
    assert not ran(2, 10.0, 20.0, 30.0, after=2)               # no request sent
    assert not ran(3, 10.0, 5.0, 30.0, after=2)                # the run began before it
    assert not ran(3, 10.0, 20.0, 15.0, after=2)               # started, not ended yet


def test_the_page_records_requests_and_runs_off_the_websocket(browser):
    msgs = _messages()
    replies = []   # what the stand-in server answers to each rerun request, in turn
    ctx = browser.new_context()

    def server(ws):
        def on_message(data):
            if BackMsg.FromString(data).WhichOneof("type") == "rerun_script":
                for name in replies.pop(0):
                    ws.send(msgs[name])
        ws.on_message(on_message)

    ctx.route_web_socket("**/_stcore/stream", server)
    page = ctx.new_page()
    page.route("http://app.test/", lambda route: route.fulfill(body="<html><body></body></html>",
                                                             content_type="text/html"))
    page.goto("http://app.test/")
    # After the route's own stand-in WebSocket is in place (as an init script, the bench's
    # hook would be replaced by it); the hook then wraps the stand-in as it wraps the real one.
    page.evaluate(COUNT_RUNS)
    page.evaluate("""() => new Promise((ok) => {
        window.__ws = new WebSocket('ws://app.test/_stcore/stream');
        window.__ws.binaryType = 'arraybuffer'; window.__ws.onopen = ok; })""")
    send = lambda name: page.evaluate(  # noqa: E731
        "(b) => window.__ws.send(new Uint8Array(b))", list(msgs[name]))

    def state_after(name: str, wait: str | None) -> tuple[int, list]:
        before = page.evaluate(STATE)[0]
        send(name)
        if wait:
            page.wait_for_function(wait, timeout=10_000)
        else:
            page.wait_for_timeout(500)
        return before, page.evaluate(STATE)

    # The page never draws a data-test-script-state: only the messages tell a run ended.
    before, st = state_after("beat", None)
    assert st[0] == before                                    # a heartbeat is no request
    replies.append(["started", "delta", "done"])
    before, st = state_after("rerun", "() => window.__ceEndAt > window.__ceRequestAt")
    sent, _, ended, now, request_at, start_at, end_at = st
    assert sent == before + 1 and ran(sent, request_at, start_at, end_at, before)
    assert 0 < request_at < start_at < end_at == ended <= now
    replies.append(["early"])          # a run that was going on stops for the rerun: no more
    before, st = state_after("rerun", None)
    assert st[0] == before + 1 and st[6] == end_at            # "early" is no run's end
    assert not ran(*st[:1], *st[4:], before)
    replies.append([])                 # the server ignores the request
    before, st = state_after("rerun", None)
    assert st[0] == before + 1 and not ran(*st[:1], *st[4:], before)
    page.evaluate("""() => { const ws = new WebSocket('ws://app.test/other');
        ws.onerror = () => {}; }""")   # another socket: not the app's
    assert page.evaluate(STATE)[0] == st[0]
    ctx.close()


def test_bench_one_session_on_the_small_cache(built_small_cache, tmp_path):
    _need_chromium()
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
    # first page of a CI run took over 60 s once); anything else is: an error box, a bench
    # error, a missing widget, an action that started no run ("no request": the page sent
    # nothing; "no run": it did and no run ended). Those were issue 11's lost clicks, all
    # the bench missing short runs (docs/DEPLOY.md); a real one must fail here.
    hard = {k: n for p in out["pages"].values() for k, n in p["error_kinds"].items()
            if k != "timeout"}
    assert not hard, out["error_samples"]
    assert out["page_views"] >= 2   # ~4 on a loaded 2-core machine
    assert out["missed_clicks"] >= 0 and out["js_errors"] >= 0   # reported, retried
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
