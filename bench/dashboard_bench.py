"""Dashboard speed in a real browser: each page's first render and the Cluster map's
interactions (issue 10), printed as JSON with each target marked met or not.

Usage (from the repo root, with a built cache)::

    .venv/bin/python bench/dashboard_bench.py --cache cache [--repeat 3] [--out result.json]

Starts ``streamlit run dashboard/streamlit_app.py`` on a free port, drives Debian's
Chromium (``/usr/bin/chromium``, software rendering, no GPU) with Playwright and measures,
in seconds:

- ``page: X (open URL)`` / ``(sidebar)``: navigation start -> the page's content drawn and
  the script idle; for the map, until the map component has drawn its first frame;
- ``map: first render``: open the map's URL in a new browser session -> first frame drawn
  (points or density); the first repeat, the first visit after the server started (cache
  loaded then), is reported on its own;
- ``map: colour change, drawn``: a colouring picked in the map's toolbar -> the frame in that
  colouring drawn (no server round trip); ``..., script rerun done``: -> the page idle again;
- ``map: lasso ~10% -> ids in Python``: mouse released on a lasso around ~10% of the tracks
  -> the "Selection (N tracks)" heading shows N and the script is idle;
- ``map: search -> highlighted``: Enter in the search box -> the matches drawn on the map;
- ``map: hover card``: the mouse over a track -> its card shown;
- ``server RSS MB``: the Streamlit process's resident memory at the end.

``--cpu`` measures instead what each page view COSTS, in CPU seconds (user + system, from
``/proc``, so robust to other load on the machine, unlike wall times): one browser session
goes round the pages ``--repeat`` times doing ``bench/concurrency_bench.py``'s visit (open
through the sidebar, the page's main action), and each view's CPU seconds of the client
(the bench's process tree minus the server: Chromium, Playwright's driver, the bench), of
Chromium's renderer processes alone and of the server are recorded; plus each page's
first open by URL in a new browser context.

Page opens in the first repeat include loading the cache and the recommender.
The server and browser helpers here are also used by the browser tests.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
SERVERS: dict[str, subprocess.Popen] = {}   # base URL -> the server process (for its RSS)
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
MAP_IFRAME = 'iframe[title$="map_view.cluster_map"]'
# (url path, title shown by the page, selector present once its main content is drawn)
PAGES = [
    ("", "Catalog overview", "text=Build metrics"),
    ("trends", "Trends", ".js-plotly-plot"),
    ("map", "Cluster map", MAP_IFRAME),
    ("clusters", "Cluster browser", ".js-plotly-plot"),
    ("playlist", "Playlist builder", "text=Build playlist"),
    ("recommend", "Recommendations", "text=Search a track or artist"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(cache: Path, port: int | None = None, timeout: float = 90,
               log_path: Path | None = None) -> Iterator[str]:
    """Run the dashboard on ``cache``; yields its base URL; always stops the server."""
    port = port or free_port()
    env = {**os.environ, "CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    out = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/streamlit_app.py",
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode} before "
                                   f"serving (log: {log_path})")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer {base}/_stcore/health "
                                   f"within {timeout:.0f} s (log: {log_path})")
            time.sleep(0.3)
        SERVERS[base] = proc
        yield base
    finally:
        SERVERS.pop(base, None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if log_path:
            out.close()


@contextlib.contextmanager
def chromium(headless: bool = True) -> Iterator:
    """A Playwright browser on Debian's Chromium (never a downloaded build)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=headless,
                                    args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_idle(page, timeout: float = 60, quiet: float = 0.4) -> float:
    """Wait until Streamlit's "running" indicator has been absent for ``quiet`` seconds.

    Returns the ``time.perf_counter()`` at which it was last seen gone (the quiet period
    itself is not part of a measurement).
    """
    deadline = time.monotonic() + timeout
    calm_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            calm_since = None
        elif calm_since is None:
            calm_since = time.perf_counter()
        elif time.perf_counter() - calm_since >= quiet:
            return calm_since
        page.wait_for_timeout(30)
    raise TimeoutError(f"the app was still running after {timeout:.0f} s")


def wait_page(page, title: str, ready: str, timeout: float = 60) -> float:
    """Wait for a page's title and main content, then for the script to finish.

    Returns the ``perf_counter`` time at which the page was complete.
    """
    page.get_by_role("heading", name=title).first.wait_for(timeout=timeout * 1000)
    page.locator(ready).first.wait_for(timeout=timeout * 1000)
    if ready == MAP_IFRAME:
        wait_map(page, lambda d: d.get("ready") == "1", timeout)
    seen = time.perf_counter()
    return max(seen if page.locator('[data-testid="stStatusWidget"]').count() == 0 else 0,
               wait_idle(page, timeout))


def goto_nav(page, title: str) -> None:
    """Move to a page through the sidebar (keeps the session, hence the session state)."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()


def search(page, label: str, query: str) -> None:
    field = page.get_by_role("textbox", name=label).first
    field.fill(query)
    field.press("Enter")




# ---- the Cluster map component (an iframe drawing on a canvas; state in body.dataset) ----

def map_frame(page, timeout: float = 60):
    """The map component's frame (waits for it to exist)."""
    page.locator(MAP_IFRAME).first.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in page.frames:
            if "map_view.cluster_map" in f.url:
                return f
        page.wait_for_timeout(30)
    raise TimeoutError("no map frame")


def map_state(page) -> dict:
    """The map's ``document.body.dataset`` (ready, mode, inview, color, frame, hits, ...)."""
    return map_frame(page).evaluate("() => Object.assign({}, document.body.dataset)")


def wait_map(page, pred, timeout: float = 60, poll_ms: int = 10) -> float:
    """Wait until ``pred(map_state)`` holds; returns the ``perf_counter`` when it did."""
    frame = map_frame(page, timeout)
    deadline = time.monotonic() + timeout
    last = {}
    while time.monotonic() < deadline:
        try:
            last = frame.evaluate("() => Object.assign({}, document.body.dataset)")
        except Exception:  # noqa: BLE001 - the frame may be replaced while the page reruns
            frame = map_frame(page, timeout)
            continue
        if last.get("error"):
            raise RuntimeError(f"the map failed: {last['error']}")
        if pred(last):
            return time.perf_counter()
        page.wait_for_timeout(poll_ms)
    raise TimeoutError(f"the map did not reach the state within {timeout:.0f} s (last: {last})")


def map_to_screen(page, x: float, y: float) -> tuple[float, float]:
    """Page pixels of map coordinates (x, y) in the current view."""
    frame = map_frame(page)
    fx, fy = frame.evaluate(
        "([x, y]) => { const r = document.getElementById('over').getBoundingClientRect();"
        " const c = document.getElementById('base'), v = window.__map.view;"
        " return [r.left + (x - v.cx) * v.s + c.width / 2, r.top + c.height / 2 - (y - v.cy) * v.s]; }",
        [float(x), float(y)])
    box = page.locator(MAP_IFRAME).first.bounding_box()
    return box["x"] + fx, box["y"] + fy


def map_drag(page, polygon: list[tuple[float, float]], steps: int = 6) -> None:
    """Press, move through ``polygon`` (map coordinates) and release: a lasso in the map's
    default Lasso mode."""
    pts = [map_to_screen(page, x, y) for x, y in polygon]
    page.mouse.move(*pts[0])
    page.mouse.down()
    for px, py in pts[1:] + pts[:1]:
        page.mouse.move(px, py, steps=steps)
    page.mouse.up()


def pick_colour(page, name: str) -> None:
    map_frame(page).select_option("#color", name)


def box_with_share(xy, share: float) -> list[tuple[float, float]]:
    """A square around the median of ``xy`` (n, 2) holding about ``share`` of the points."""
    import numpy as np

    mid = np.median(xy, axis=0)
    lo, hi = 0.0, float(np.abs(xy - mid).max())
    for _ in range(30):
        h = (lo + hi) / 2
        inside = (np.abs(xy - mid) <= h).all(axis=1).mean()
        lo, hi = (h, hi) if inside < share else (lo, h)
    h = (lo + hi) / 2
    (x0, y0), (x1, y1) = (mid - h).tolist(), (mid + h).tolist()
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def server_rss_mb(base: str) -> float:
    """Resident memory of the Streamlit server process (and its children), MB."""
    pid = SERVERS[base].pid
    pids = [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


# ---- the bench ---------------------------------------------------------------------------

NAV = {"": "Overview", "trends": "Trends", "map": "Cluster map", "clusters": "Cluster browser",
       "playlist": "Playlist builder", "recommend": "Recommendations"}
FIRST_VISIT = "map: first render, first visit after the server started"
# measure -> (target at 30k, target at 1M) in seconds; None: no target at that scale
TARGETS = {"map: first render": (2.0, 4.0),
           "map: colour change, drawn": (0.3, 0.5),
           "map: lasso ~10% -> ids in Python": (1.0, 2.0),
           "map: search -> highlighted": (0.5, 1.0),
           "page (open URL), slowest other page": (3.0, 3.0),
           "server RSS MB": (None, 4096)}


def _timed(times: dict, name: str, t0: float, wait) -> None:
    """Record seconds since ``t0`` once ``wait()`` returns; NaN (and a warning) if it fails."""
    try:
        done = wait()
        times.setdefault(name, []).append((done or time.perf_counter()) - t0)
    except Exception as exc:  # noqa: BLE001 - one broken page must not stop the bench
        log.warning("%s: did not finish (%s)", name, str(exc).splitlines()[0])
        times.setdefault(name, []).append(float("nan"))


def _selection_heading(page) -> float:
    page.get_by_role("heading", name="Selection (").filter(
        has_not_text="(0 tracks)").first.wait_for(timeout=60_000)
    return max(time.perf_counter(), wait_idle(page, quiet=0.3))


def _map_actions(page, times: dict, xy, r: int) -> None:
    colours = ["energy", "genre", "year", "valence", "popularity", "cluster"]
    for k in range(2):
        name = colours[(2 * r + k) % len(colours)]
        before = int(map_state(page)["frame"])
        t0 = time.perf_counter()
        pick_colour(page, name)
        _timed(times, "map: colour change, drawn", t0, lambda: wait_map(
            page, lambda d: d.get("color") == name and int(d.get("frame", 0)) > before))
        _timed(times, "map: colour change, script rerun done", t0,
               lambda: wait_idle(page, quiet=0.3))
    state = map_state(page)
    times.setdefault("map: frame ms (in the browser)", []).append(float(state["ms"]))
    # Hover: move over the track nearest the middle of the data.
    import numpy as np

    mid = np.median(xy, axis=0)
    row = int(np.argmin(((xy - mid) ** 2).sum(axis=1)))
    px, py = map_to_screen(page, float(xy[row, 0]), float(xy[row, 1]))
    page.mouse.move(px - 30, py - 30)
    t0 = time.perf_counter()
    page.mouse.move(px, py)
    _timed(times, "map: hover card", t0, lambda: wait_map(page, lambda d: "hover" in d))
    # Lasso ~10% of the tracks.
    poly = box_with_share(xy, 0.10)
    page.mouse.move(5, 5)
    t0_holder = {}

    def lasso_done() -> float:
        map_drag(page, poly)
        t0_holder["t"] = time.perf_counter()
        return _selection_heading(page)
    try:
        done = lasso_done()
        times.setdefault("map: lasso ~10% -> ids in Python", []).append(done - t0_holder["t"])
        times.setdefault("map: lasso size (tracks)", []).append(float(map_state(page)["selected"]))
    except Exception as exc:  # noqa: BLE001
        log.warning("lasso: did not finish (%s)", str(exc).splitlines()[0])
        times.setdefault("map: lasso ~10% -> ids in Python", []).append(float("nan"))
    # Search -> highlighted.
    q = ["love", "queen", "night"][r % 3]
    t0 = time.perf_counter()
    search(page, "Search a track or artist", q)
    _timed(times, "map: search -> highlighted", t0, lambda: wait_map(
        page, lambda d: d.get("hits", "0:").split(":", 1)[1].startswith(q)
        and not d.get("hits", "0:").startswith("0:"), timeout=60))


def _timeline(page, times: dict) -> None:
    """Where a first render's time went: the page until the map's frame started, then
    inside it (arguments received, points fetched, hover index built, first frame)."""
    try:
        t = json.loads(map_state(page)["times"])
        nav = page.evaluate("performance.timeOrigin")
    except Exception:  # noqa: BLE001 - a timeline is a detail; never stop the bench
        return
    times.setdefault("map first render: page until the map frame starts", []).append(
        (t["origin"] - nav) / 1000)
    prev = 0
    for step in ("args", "points_fetched", "index_built", "first_frame"):
        if step in t:
            times.setdefault(f"map first render: frame, {step}", []).append((t[step] - prev) / 1000)
            prev = t[step]


def measure(base: str, repeat: int, xy) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    with chromium() as browser:
        for r in range(repeat):
            ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(f"{base}/map")
            # The first visit after the server starts also loads the cache (and on a new
            # build writes the map's files): reported on its own.
            _timed(times, "map: first render" if r else FIRST_VISIT, t0, lambda: wait_map(
                page, lambda d: d.get("ready") == "1", timeout=300))
            _timeline(page, times)
            wait_idle(page)
            _map_actions(page, times, xy, r)
            for path, title, ready in PAGES:
                t0 = time.perf_counter()
                page.goto(f"{base}/{path}")
                _timed(times, f"page: {NAV[path]} (open URL)", t0,
                       lambda: wait_page(page, title, ready, timeout=120))
            for path, title, ready in PAGES[1:] + PAGES[:1]:
                t0 = time.perf_counter()
                goto_nav(page, NAV[path])
                _timed(times, f"page: {NAV[path]} (sidebar)", t0,
                       lambda: wait_page(page, title, ready, timeout=120))
            ctx.close()
        times["server RSS MB"] = [server_rss_mb(base)]
    return times


def screenshots(base: str, xy, out: Path, tag: str) -> None:
    """The map as a user meets it: whole map, zoomed in to single tracks, a lasso with its
    table, a search; saved as ``out/map_<tag>_*.png`` (compact PNGs)."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 1100}).new_page()
        page.goto(f"{base}/map")
        wait_page(page, "Cluster map", MAP_IFRAME, timeout=300)
        page.wait_for_timeout(1500)
        _png(page, out / f"map_{tag}.png")
        frame = map_frame(page)
        mid = np.median(xy, axis=0)
        px, py = map_to_screen(page, *mid)
        for _ in range(40):                 # wheel in until single tracks are drawn
            if map_state(page).get("mode") == "points" and int(map_state(page)["inview"]) < 60_000:
                break
            page.mouse.move(px, py)
            page.mouse.wheel(0, -240)
            page.wait_for_timeout(150)
        row = int(np.argmin(((xy - mid) ** 2).sum(axis=1)))
        page.mouse.move(*map_to_screen(page, *xy[row]))
        wait_map(page, lambda d: "hover" in d)
        page.wait_for_timeout(500)
        _png(page, out / f"map_{tag}_zoom.png")
        frame.locator("#reset").click()
        pick_colour(page, "energy")
        wait_map(page, lambda d: d["color"] == "energy")
        page.mouse.move(5, 5)
        map_drag(page, box_with_share(xy, 0.10))
        _selection_heading(page)
        page.mouse.move(5, 5)
        page.get_by_role("heading", name="Selection (").first.scroll_into_view_if_needed()
        page.mouse.wheel(0, 250)
        page.wait_for_timeout(800)
        _png(page, out / f"map_{tag}_lasso.png")


def _png(page, dest: Path, limit: int = 300_000) -> None:
    """A screenshot as a palette PNG small enough for the docs."""
    dest.write_bytes(compact_png(page.screenshot(), limit))


def compact_png(png: bytes, limit: int = 300_000) -> bytes:
    """The largest of a few sizes / palettes of a PNG that fits ``limit`` bytes (docs stay
    small); also used by the browser tests' screenshots."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    for width, colours in ((1440, 256), (1200, 128), (1000, 64), (900, 48)):
        small = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
        buf = io.BytesIO()
        small.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(
            buf, format="PNG", optimize=True)
        if buf.tell() <= limit:
            break
    return buf.getvalue()


def report(times: dict[str, list[float]], n_tracks: int, cache: str, load: tuple) -> dict:
    """Medians, maxima and each target marked met (median within it) or not."""
    scale = 1 if n_tracks >= 500_000 else 0
    others = [statistics.median(v) for k, v in times.items()
              if k.startswith("page:") and "(open URL)" in k and "Cluster map" not in k]
    if others:
        times["page (open URL), slowest other page"] = [max(others)]
    out = {"cache": cache, "tracks": n_tracks, "cores": os.cpu_count(),
           "load_avg_1m_before_after": load, "measures": {}}
    for name, ts in times.items():
        entry = {"median": round(statistics.median(ts), 3), "max": round(max(ts), 3),
                 "runs": [round(t, 3) for t in ts]}
        target = TARGETS.get(name, (None, None))[scale]
        if target is not None:
            entry["target"] = target
            entry["met"] = bool(entry["median"] <= target)
        out["measures"][name] = entry
    return out


def cpu_per_view(base: str, repeat: int, cache: Path) -> dict:
    """CPU seconds of the browser and of the server per page view (see the module doc)."""
    import asyncio

    from bench import concurrency_bench as cb

    return asyncio.run(_cpu_rounds(cb, base, repeat, cb.search_queries(cache)))


async def _cpu_rounds(cb, base: str, repeat: int, queries: list[str]) -> dict:
    import random

    from playwright.async_api import async_playwright

    srv = cb.server_pid()

    def cpu() -> tuple[float, float, float]:
        s, tree = cb.tree_cpu(srv)
        client, pids = cb.tree_cpu(os.getpid(), exclude=tree)
        return client, s, _renderer_cpu(pids)

    out: dict[str, dict[str, list[float]]] = {}

    def add(name: str, c0, c1, t: float) -> None:
        d = out.setdefault(name, {"client_cpu_s": [], "renderer_cpu_s": [], "server_cpu_s": [],
                                  "wall_s": []})
        d["client_cpu_s"].append(c1[0] - c0[0])
        d["renderer_cpu_s"].append(c1[2] - c0[2])
        d["server_cpu_s"].append(c1[1] - c0[1])
        d["wall_s"].append(t)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                          args=CHROMIUM_ARGS)
        stats, rng = cb.Stats(), random.Random(0)
        for r in range(repeat):
            for spec in cb.PAGES:        # first open by URL, a new browser context each
                ctx = await browser.new_context(viewport={"width": 1440, "height": 1000})
                await ctx.add_init_script(cb.COUNT_RUNS)
                page = await ctx.new_page()
                c0, t0 = cpu(), time.perf_counter()
                await page.goto(f"{base}/{spec[0]}")
                await cb.drawn(page, spec[1], spec[2], 120)
                t = await cb.settle(page, t0, 120)
                add(f"open URL: {spec[0] or 'overview'}", c0, cpu(), t)
                await ctx.close()
        ctx = await browser.new_context(viewport={"width": 1440, "height": 1000})
        await ctx.add_init_script(cb.COUNT_RUNS)
        page = await ctx.new_page()
        await page.goto(f"{base}/")
        await cb.drawn(page, cb.PAGES[0][1], cb.PAGES[0][2], 120)
        await cb.settle(page, time.perf_counter(), 120)
        for r in range(repeat):
            for spec in cb.PAGES[1:] + cb.PAGES[:1]:
                c0, t0 = cpu(), time.perf_counter()
                ok = await cb.visit(page, spec, stats, rng, queries, 120)
                add(f"view: {spec[0] or 'overview'}", c0, cpu(), time.perf_counter() - t0)
                if not ok:
                    log.warning("%s: %s", spec[0], stats.samples[-1:])
                    await cb._recover(page, base, spec, 120)
        await browser.close()
    res = {k: {m: round(statistics.median(v), 3) for m, v in d.items()} | {"n": len(d["wall_s"])}
           for k, d in out.items()}
    views = [k for k in res if k.startswith("view:")]
    res["view: mean of the six pages"] = {
        m: round(statistics.mean(res[k][m] for k in views), 3)
        for m in ("client_cpu_s", "renderer_cpu_s", "server_cpu_s", "wall_s")}
    res["errors"] = stats.errors
    return res


def _renderer_cpu(pids: set[int]) -> float:
    """CPU seconds of the Chromium renderer processes among ``pids`` (the pages' own work:
    scripts, layout, paint; not the browser, GPU and network processes or the bench)."""
    total = 0.0
    for pid in pids:
        try:
            if b"--type=renderer" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=os.environ.get("CACHE_DIR", "cache"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--shots", type=Path, default=None,
                    help="only save map screenshots (map_<tag>*.png) into this folder")
    ap.add_argument("--tag", default="", help="screenshot name part, e.g. 1m")
    ap.add_argument("--cpu", action="store_true",
                    help="only measure CPU seconds (browser, server) per page view")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium (make browser-deps)")
    sys.path.insert(0, str(ROOT))
    import pipeline

    xy = pipeline.load(args.cache).coords.astype("float32")
    if args.shots:
        with app_server(Path(args.cache), timeout=300) as base:
            screenshots(base, xy, args.shots, args.tag or f"{len(xy) // 1000}k")
        return
    load0 = os.getloadavg()[0]
    if args.cpu:
        with app_server(Path(args.cache), timeout=300) as base:
            result = {"cache": str(args.cache), "load_avg_1m_before": round(load0, 2),
                      "medians": cpu_per_view(base, args.repeat, Path(args.cache))}
        result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result, indent=1))
        if args.out:
            args.out.write_text(json.dumps(result, indent=1))
        return
    with app_server(Path(args.cache), timeout=300,
                    log_path=Path("/tmp/dashboard_bench_server.log")) as base:
        times = measure(base, args.repeat, xy)
    result = report(times, len(xy), str(args.cache), (round(load0, 2), round(os.getloadavg()[0], 2)))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
