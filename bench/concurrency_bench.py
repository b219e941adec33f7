"""Many users at once: N Chromium sessions use every dashboard page for a while.

Usage (from the repo root, with a built cache)::

    .venv/bin/python bench/concurrency_bench.py --cache cache --sessions 10 --seconds 60

Starts the dashboard as the project does (``streamlit run dashboard/streamlit_app.py``, see
``bench/dashboard_bench.py``), warms it up with one visit of every page, then runs N
headless sessions (one Debian Chromium, ``/usr/bin/chromium``, one browser context per
session) for ``--seconds``. Each session goes round the pages through the sidebar, each
starting on a different page; on each it waits until the page has settled (its title and
content drawn, Streamlit's running indicator gone), then does the page's main action and
waits again: Trends adds or removes a genre filter, the map changes its colouring, the
cluster browser picks a cluster, the playlist builder builds from a cluster, the
recommendations page searches an artist of the catalog and shows its recommendations.

A page view is one visit (open + action). An error is a visit that showed an exception box,
an error box, did not settle within ``--timeout`` seconds, whose action's widget was not
there, or whose action was not answered by a script run ("no request": the page sent no
rerun request; "no run": it sent one and no run for it ended), read off the app's
websocket. Prints JSON: page views, errors, render seconds (each open and each action, from
the click to the app going idle) p50/p95 per page and overall, and the server's CPU seconds
(its process tree, from /proc, during the measured window) per page view with the sessions
per core that implies at this pace. Feedback votes go to a temporary database, never the
cache's.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dashboard_bench import CHROMIUM, CHROMIUM_ARGS, MAP_IFRAME, app_server  # noqa: E402
from bench.scale_bench import tree_rss_mb  # noqa: E402

log = logging.getLogger(__name__)
FAILED = '[data-testid="stException"], [data-testid="stAlertContentError"]'
MAIN, SIDEBAR = '[data-testid="stMain"]', '[data-testid="stSidebar"]'
# (url path, title shown by the page, what must be drawn besides: a chart, the action's widget)
PAGES = [("", "Catalog overview", None), ("trends", "Trends", ".js-plotly-plot"),
         ("map", "Cluster map", MAP_IFRAME), ("clusters", "Cluster browser", None),
         ("playlist", "Playlist builder", "text=Build playlist"),
         ("recommend", "Recommendations", "text=Search a track or artist")]
NAV = {"": "Overview", "trends": "Trends", "map": "Cluster map", "clusters": "Cluster browser",
       "playlist": "Playlist builder", "recommend": "Recommendations"}
COLOURS = ["energy", "valence", "danceability", "acousticness", "tempo", "popularity"]


class Unsettled(Exception):
    """The page did not settle within the timeout."""


class NoWidget(Exception):
    """A page's main action could not find its widget."""


class NoRun(Exception):
    """A page's main action started no script run within the timeout. ``kind`` says where
    it was lost: "no request" (the page sent no rerun request: the click changed nothing
    the app sees) or "no run" (the request was sent; the server ran nothing for it)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Stats:
    """What every session records (one event loop: no locking needed)."""

    opens: dict[str, list[float]] = field(default_factory=dict)
    actions: dict[str, list[float]] = field(default_factory=dict)
    views: dict[str, int] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)   # a few error texts, for the reader
    js_errors: int = 0
    missed_clicks: int = 0   # option clicks the box did not show, tried again (_choose)

    def error(self, page: str, kind: str, text: str) -> None:
        by_kind = self.errors.setdefault(page, {})
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if len(self.samples) < 10:
            self.samples.append(f"{page}: {kind}: {text[:300]}")


# [field number, wire type, value (varints only, else null)] of each top-level field of a
# protobuf message (a Uint8Array).
PB_FIELDS = """(b) => {
  const out = []; let i = 0;
  const varint = () => { let v = 0, m = 1, c;
    do { c = b[i++]; v += (c & 127) * m; m *= 128; } while (c & 128 && i < b.length);
    return v; };
  while (i < b.length) {
    const tag = varint(), w = tag % 8, f = Math.floor(tag / 8);
    if (w === 0) { out.push([f, w, varint()]); continue; }
    out.push([f, w, null]);
    if (w === 1) i += 8;
    else if (w === 2) { const n = varint(); i += n; }   // not i += varint(): i is read first
    else if (w === 5) i += 4; else break;
  }
  return out; }"""
# Records, off the app's websocket (one protobuf ForwardMsg/BackMsg per frame), when the
# page last sent a rerun request (BackMsg rerun_script: every widget change), when a script
# run last started (ForwardMsg new_session, also sent for a fragment's run) and last ended
# (script_finished, other than "stopped early for a rerun"); and counts the requests. The
# DOM's data-test-script-state alone misses runs: when a short run's messages reach a busy
# browser together, React renders once and the attribute never shows "running" (every lost
# action traced under load; docs/DEPLOY.md). The MutationObserver stays for the moment the
# page was drawn idle.
_F, _B = ForwardMsg.DESCRIPTOR.fields_by_name, BackMsg.DESCRIPTOR.fields_by_name
WIRE = {"FINISHED": _F["script_finished"].number,     # an enum: wire type 0
        "EARLY": ForwardMsg.FINISHED_EARLY_FOR_RERUN,
        "STARTED": _F["new_session"].number,          # a message: wire type 2
        "RERUN": _B["rerun_script"].number}           # a message: wire type 2
COUNT_RUNS = """(() => {
  window.__ceRequests = 0;
  window.__ceRequestAt = 0; window.__ceStartAt = 0; window.__ceEndAt = 0; window.__ceIdleAt = 0;
  const fields = """ + PB_FIELDS + """;
  const bytes = (d) => d instanceof ArrayBuffer ? new Uint8Array(d)
    : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes('_stcore/stream')) return;
      this.addEventListener('message', (e) => {   // a few top-level fields: bodies skipped
        const b = bytes(e.data);
        for (const [f, w, v] of b ? fields(b) : []) {
          if (f === STARTED && w === 2) window.__ceStartAt = performance.now();
          if (f === FINISHED && w === 0 && v !== EARLY) window.__ceEndAt = performance.now();
        }
      });
    }
    send(data) {
      const b = bytes(data);
      if (b && String(this.url).includes('_stcore/stream')
          && fields(b).some(([f, w]) => f === RERUN && w === 2)) {
        window.__ceRequests += 1; window.__ceRequestAt = performance.now(); }
      return super.send(data);
    }
  };
  new MutationObserver((records) => {   // one record per change, oldest first
    records.forEach((r, i) => {
      const later = records.slice(i + 1).find((q) => q.target === r.target);
      const next = later ? later.oldValue : r.target.getAttribute('data-test-script-state');
      if (r.oldValue === 'running' && next !== 'running') window.__ceIdleAt = performance.now();
    });
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
})()"""
for _name, _number in WIRE.items():
    COUNT_RUNS = COUNT_RUNS.replace(_name, str(_number))
# [rerun requests sent, DOM script state, when the last run ended (drawn idle, or its end
# message when the DOM never showed it running), now, when the last request was sent, when
# the last run started, when the last run ended] (the page's clock, ms)
STATE = """() => { const a = document.querySelector('[data-testid="stApp"]'), w = window;
  return [w.__ceRequests || 0, a && a.getAttribute('data-test-script-state'),
          Math.max(w.__ceIdleAt || 0, w.__ceEndAt || 0), performance.now(),
          w.__ceRequestAt || 0, w.__ceStartAt || 0, w.__ceEndAt || 0]; }"""
NOW = "() => performance.now()"
POLL_S = 0.25   # the page records when a run ends; polling only reads it (each poll costs
                # the starved browser CPU: at 50 ms, 0.07 CPU s per second per session)
IDLE = ("notRunning", "compilationError")


async def requests(page) -> int:
    """The count of rerun requests the page has sent, to pass to :func:`settle` as
    ``after`` (read just before an action, running or not)."""
    return (await page.evaluate(STATE))[0]


def ran(sent: int, request_at: float, start_at: float, end_at: float,
        after: int | None) -> bool:
    """Whether the action answered: with ``after`` (the request count before it), the page
    sent a rerun request since and a run started after the last request and ended. A run
    already going on at the click does not count (it ends "early for a rerun", or ended
    before the request reached the server)."""
    return after is None or (sent > after and request_at < start_at < end_at)


async def settle(page, t0: float, timeout: float, after: int | None = None,
                 quiet: float = 0.3) -> float:
    """Seconds from ``t0`` (the page's ``performance.now()`` in ms, read just before the
    click) until the app's script stopped running, as the page itself recorded it (and it
    stayed stopped for ``quiet`` seconds, not counted). With ``after`` (from
    :func:`requests`), the action's own run must have ended (:func:`ran`); if it has not
    within ``timeout``, :class:`NoRun` (a starved browser may take many seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent, state, idle_at, now, request_at, start_at, end_at = await page.evaluate(STATE)
        answered = ran(sent, request_at, start_at, end_at, after)
        if answered and state in IDLE and now - idle_at >= quiet * 1000:
            return max(idle_at - t0, 0.0) / 1000
        await asyncio.sleep(POLL_S)
    if not answered:
        if sent > after:
            raise NoRun("no run", f"the page sent the change, no script run for it ended "
                        f"in {timeout:.0f} s")
        raise NoRun("no request", f"the action sent no rerun request in {timeout:.0f} s")
    raise Unsettled(f"still running after {timeout:.0f} s")


async def drawn(page, title: str, ready: str | None, timeout: float) -> None:
    """Wait for a page's title and, if given, its main content."""
    await page.get_by_role("heading", name=title).first.wait_for(timeout=timeout * 1000)
    if ready:
        await page.locator(ready).first.wait_for(timeout=timeout * 1000)


async def open_page(page, path: str, title: str, ready: str | None, timeout: float) -> float:
    """Go to a page through the sidebar (same session); seconds until it settled."""
    t0 = await page.evaluate(NOW)
    await page.locator('[data-testid="stSidebarNav"] a', has_text=NAV[path]).first.click()
    await drawn(page, title, ready, timeout)   # the new page's title: it has run
    return await settle(page, t0, timeout)


# What a selectbox or multiselect shows: a selectbox's choice is its input's value; a
# multiselect's are its tags, one a line (its input holds only the text typed to filter).
SHOWN = """(e) => { const m = e.closest('[data-testid="stMultiSelect"]');
  if (!m) return e.value;
  return Array.from(m.querySelectorAll('[data-tag]'), (t) => t.getAttribute('aria-label'))
    .join('\\n'); }"""
TRIES, TAKE_S = 3, 5.0


async def _took(box, choice: str, before: str, wait_s: float) -> bool:
    """Whether the box shows ``choice`` (and no longer just ``before``) within ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        shown = await box.evaluate(SHOWN)
        if shown != before and (shown == choice or choice in shown.splitlines()):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)


async def _choose(page, scope: str, label: str, rng: random.Random, stats: Stats,
                  skip: tuple[str, ...] = (), wait_s: float = 5.0) -> float:
    """Open the selectbox/multiselect ``label`` in ``scope`` and click a random option
    other than the current one (waiting up to ``wait_s``: a slow page under load is
    slow, not missing its widget); then check that the box shows it. Streamlit's option
    list is virtualised: scrolling an option into view re-renders the list and may reuse
    the element found for the option for another one, so the click can land on the
    current value (the box unchanged, no rerun: 1 of ~200 clicks under load) or find the
    option gone. Such a click is tried again (up to ``TRIES`` times; each miss counted in
    ``stats.missed_clicks``): a user clicks what is drawn. A box that shows the choice
    and still sends no rerun request is the app's fault, and :func:`settle` reports it.
    Returns the page-clock time of the option click that took (a user's wait starts there,
    not while the bench opens the list and reads its options)."""
    box = page.locator(scope).get_by_role("combobox", name=label).first
    for _ in range(TRIES):
        try:
            await box.click(timeout=wait_s * 1000)
        except Exception as exc:  # noqa: BLE001 - reported as the page's missing widget
            raise NoWidget(f"no '{label}' box") from exc
        options = page.get_by_role("option")
        await options.first.wait_for(timeout=wait_s * 1000)
        before = await box.evaluate(SHOWN)
        # Not the current choice: picking it again would change nothing (no rerun).
        # aria-selected marks it, but also follows the pointer: compare with the box too.
        names = [n for n in await page.get_by_role("option", selected=False).all_inner_texts()
                 if n.strip() and n not in skip and n != before]
        if not names:
            raise NoWidget(f"'{label}' has no options")
        choice = rng.choice(names)
        clicked = await page.evaluate(NOW)
        try:
            await page.get_by_role("option", name=choice, exact=True).first.click(
                timeout=TAKE_S * 1000)
        except Exception:  # noqa: BLE001 - the list no longer draws it: a missed click
            pass
        await page.keyboard.press("Escape")
        if await _took(box, choice, before, TAKE_S):
            return clicked
        stats.missed_clicks += 1
    raise NoWidget(f"'{label}' showed none of the options clicked ({TRIES} tries)")


async def act(page, path: str, rng: random.Random, queries: list[str], timeout: float,
              stats: Stats) -> float | None:
    """The page's main action; returns the page-clock time of the click (or Enter) that
    changed the app's input, where a user's wait starts (the bench's own steps before it,
    opening a list and reading its options through a starved browser, are not the app's
    render time); None when the page has none (the overview)."""
    if path == "trends":   # toggle a genre filter (the count caption changes)
        remove = page.locator(SIDEBAR).get_by_role("button", name="Remove ")
        if await remove.count():
            clicked = await page.evaluate(NOW)
            await remove.first.click()
            return clicked
        return await _choose(page, SIDEBAR, "Genres", rng, stats, skip=("Select all",),
                             wait_s=timeout)
    if path == "map":   # the colouring is picked inside the map component's frame
        box = page.frame_locator(MAP_IFRAME).locator("#color")
        now = await box.input_value()
        clicked = await page.evaluate(NOW)
        await box.select_option(rng.choice([c for c in COLOURS if c != now]))
        return clicked
    if path == "clusters":
        return await _choose(page, MAIN, "Cluster", rng, stats, wait_s=timeout)
    if path == "playlist":   # choosing the clusters is a step of its own; the wait timed
        build = page.locator(MAIN).get_by_role("button", name="Build playlist")  # is Build's
        if not await build.count() or await build.first.is_disabled():
            before = await requests(page)
            chosen = await _choose(page, MAIN, "Clusters", rng, stats, skip=("Select all",),
                                   wait_s=timeout)
            await settle(page, chosen, timeout, after=before)
        clicked = await page.evaluate(NOW)
        await build.first.click()
        await page.get_by_role("heading", name="Your playlist").first.wait_for(
            timeout=timeout * 1000)
        return clicked
    if path == "recommend":
        field_ = page.get_by_label("Search a track or artist").first
        now = await field_.input_value()   # the same text again would start no run
        await field_.fill(rng.choice([q for q in queries if q != now] or queries))
        clicked = await page.evaluate(NOW)
        await field_.press("Enter")
        await page.get_by_text("Because you picked").first.wait_for(timeout=timeout * 1000)
        return clicked
    return None


async def visit(page, spec: tuple[str, str, str | None], stats: Stats, rng: random.Random,
                queries: list[str], timeout: float) -> bool:
    """One page view: open, settle, act, settle; times and errors into ``stats``.
    Returns False when it ended in an error."""
    path, title, ready = spec
    name = path or "overview"
    stats.views[name] = stats.views.get(name, 0) + 1
    try:
        stats.opens.setdefault(name, []).append(await open_page(page, path, title, ready,
                                                                timeout))
        if not await page.locator(FAILED).count():
            before = await requests(page)
            clicked = await act(page, path, rng, queries, timeout, stats)
            if clicked is not None:
                stats.actions.setdefault(name, []).append(
                    await settle(page, clicked, timeout, after=before))
    except NoWidget as exc:
        stats.error(name, "no widget", str(exc))
        return False
    except NoRun as exc:
        stats.error(name, exc.kind, str(exc))
        return False
    except (Unsettled, TimeoutError) as exc:
        stats.error(name, "timeout", str(exc))
        return False
    except Exception as exc:  # noqa: BLE001 - Playwright's timeout and anything else
        kind = "timeout" if type(exc).__name__ == "TimeoutError" else "bench"
        stats.error(name, kind, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        return False
    failed = page.locator(FAILED)
    if await failed.count():
        stats.error(name, "error box", (await failed.first.inner_text()).replace("\n", " "))
        return False
    return True


async def session(browser, base: str, n: int, deadline: float, stats: Stats,
                  queries: list[str], timeout: float, think: float, seed: int) -> None:
    """One user: start on page ``n`` (by URL), then round the pages until the deadline."""
    rng = random.Random(seed * 1000 + n)
    ctx = await browser.new_context(viewport={"width": 1440, "height": 1000})
    await ctx.add_init_script(COUNT_RUNS)
    page = await ctx.new_page()
    page.set_default_timeout(timeout * 1000)

    def on_error(exc) -> None:
        if "spotify" not in str(exc).lower():   # the embedded player, offline
            stats.js_errors += 1
    page.on("pageerror", on_error)
    start = n % len(PAGES)
    order = PAGES[start + 1:] + PAGES[:start + 1]
    path, title, ready = PAGES[start]
    try:
        await page.goto(f"{base}/{path}")
        await page.get_by_role("heading", name=title).first.wait_for(timeout=timeout * 1000)
        i = 0
        while time.monotonic() < deadline:
            ok = await visit(page, order[i % len(order)], stats, rng, queries, timeout)
            i += 1
            if not ok:
                await _recover(page, base, order[i % len(order)], timeout)
            if think:
                await asyncio.sleep(think)
    finally:
        await ctx.close()


async def _recover(page, base: str, spec: tuple[str, str, str | None], timeout: float) -> None:
    """After an error or a timeout, reload the next page by URL (a stuck page would
    otherwise fail every following visit)."""
    try:
        await page.goto(f"{base}/{spec[0]}")
        await drawn(page, spec[1], spec[2], timeout)
        await settle(page, 0.0, timeout)       # a new document: its clock starts at 0
    except Exception as exc:  # noqa: BLE001 - the next visit records what is wrong
        log.warning("recovery failed: %s", str(exc).splitlines()[0])


async def warm_up(browser, base: str, timeout: float) -> float:
    """One visit of every page by URL (loads the catalog and the recommender once)."""
    t0 = time.perf_counter()
    ctx = await browser.new_context(viewport={"width": 1440, "height": 1000})
    await ctx.add_init_script(COUNT_RUNS)
    page = await ctx.new_page()
    for path, title, ready in PAGES:
        await page.goto(f"{base}/{path}")
        await drawn(page, title, ready, timeout)
        await settle(page, 0.0, timeout)
    await ctx.close()
    return time.perf_counter() - t0


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu(root: int, exclude: set[int] = frozenset()) -> tuple[float, set[int]]:
    """CPU seconds (user + system, with reaped children) of ``root`` and its descendants
    now alive, leaving out the subtrees of ``exclude``; and the pids counted."""
    parent, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                f = _stat_fields(int(entry))
            except (OSError, IndexError):
                continue
            parent[int(entry)] = int(f[1])
            ticks[int(entry)] = sum(int(x) for x in f[11:15])
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in tree or pid in exclude or pid not in ticks:
            continue
        tree.add(pid)
        todo.extend(c for c, p in parent.items() if p == pid)
    return sum(ticks[p] for p in tree) / os.sysconf("SC_CLK_TCK"), tree


def server_pid() -> int:
    """The streamlit process this bench started (a child of this process)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                f = _stat_fields(int(entry))
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if int(f[1]) == os.getpid() and b"streamlit" in cmd:
                return int(entry)
    raise RuntimeError("the streamlit server process was not found")


def _quantiles(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    s = sorted(xs)
    q = lambda p: s[min(len(s) - 1, round(p * (len(s) - 1)))]  # noqa: E731 - nearest rank
    return {"n": len(s), "p50": round(q(0.5), 3), "p95": round(q(0.95), 3),
            "max": round(s[-1], 3)}


def summary(stats: Stats, args: argparse.Namespace, wall: float, warmup: float,
            server_cpu: float, client_cpu: float, server_rss_mb: float | None = None) -> dict:
    pages = {}
    for path, _, _ in PAGES:
        name = path or "overview"
        opens, acts = stats.opens.get(name, []), stats.actions.get(name, [])
        pages[name] = {"views": stats.views.get(name, 0),
                       "errors": sum(stats.errors.get(name, {}).values()),
                       "error_kinds": stats.errors.get(name, {}),
                       "render_s": _quantiles(opens + acts), "open_s": _quantiles(opens),
                       "action_s": _quantiles(acts)}
    views = sum(stats.views.values())
    per_view = server_cpu / views if views else None
    renders = [t for d in (stats.opens, stats.actions) for ts in d.values() for t in ts]
    return {
        "cache": str(args.cache), "sessions": args.sessions, "seconds": args.seconds,
        "think_s": args.think, "wall_s": round(wall, 1), "warmup_s": round(warmup, 1),
        "page_views": views, "errors": sum(p["errors"] for p in pages.values()),
        "js_errors": stats.js_errors, "missed_clicks": stats.missed_clicks,
        "render_s": _quantiles(renders), "pages": pages,
        "server": {"cpu_s": round(server_cpu, 2),
                   "peak_rss_mb": round(server_rss_mb) if server_rss_mb else None,
                   "cpu_s_per_page_view": round(per_view, 3) if per_view else None,
                   "busy_share_of_one_core": round(server_cpu / wall, 2),
                   # how many sessions at this pace one core could serve
                   "sessions_per_core": (round(args.sessions * wall / server_cpu, 1)
                                         if server_cpu else None)},
        "clients_cpu_s": round(client_cpu, 2), "cores": os.cpu_count(),
        "error_samples": stats.samples,
    }


async def run(args: argparse.Namespace, base: str, queries: list[str]) -> dict:
    from playwright.async_api import async_playwright

    srv = server_pid()
    peak, stop = [0.0], threading.Event()

    def sample_rss() -> None:  # the server's memory over warm-up and sessions
        while not stop.wait(0.5):
            peak[0] = max(peak[0], tree_rss_mb(srv))

    threading.Thread(target=sample_rss, daemon=True).start()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                          args=CHROMIUM_ARGS)
        warm = await warm_up(browser, base, args.timeout) if args.warmup else 0.0
        stats = Stats()
        cpu0, tree = tree_cpu(srv)
        own0, _ = tree_cpu(os.getpid(), exclude=tree)
        t0 = time.monotonic()
        deadline = t0 + args.seconds
        await asyncio.gather(*(session(browser, base, n, deadline, stats, queries,
                                       args.timeout, args.think, args.seed)
                               for n in range(args.sessions)))
        wall = time.monotonic() - t0
        cpu1, tree = tree_cpu(srv)
        own1, _ = tree_cpu(os.getpid(), exclude=tree)
        await browser.close()
    stop.set()
    return summary(stats, args, wall, warm, cpu1 - cpu0, own1 - own0, peak[0])


def search_queries(cache: Path, n: int = 50, seed: int = 0) -> list[str]:
    """Artists of the catalog to type on the recommendations page (so every search hits)."""
    import pipeline

    artists = pipeline.load(cache).tracks["artist"].dropna().astype(str)
    artists = artists[artists.str.len().between(3, 40)]
    return artists.sample(min(n, len(artists)), random_state=seed).tolist()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("CACHE_DIR", "cache")))
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds a page may take to settle before it counts as an error")
    ap.add_argument("--think", type=float, default=0.0,
                    help="pause between page views (0: every session clicks on at once)")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", type=Path, default=Path(tempfile.gettempdir())
                    / "concurrency_bench_server.log")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium (make browser-deps)")
    queries = search_queries(args.cache, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("CATALOG_FEEDBACK_URL", f"sqlite:///{tmp}/feedback.sqlite")
        with app_server(args.cache, log_path=args.log) as base:
            out = asyncio.run(run(args, base, queries))
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
