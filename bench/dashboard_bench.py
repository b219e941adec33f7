"""Dashboard speed in a real browser: each page's first render and map interactions.

Usage (from the repo root, with a built cache)::

    .venv/bin/python bench/dashboard_bench.py --cache cache [--repeat 3]

Starts ``streamlit run dashboard/streamlit_app.py`` on a free port, drives Debian's
Chromium (``/usr/bin/chromium``) with Playwright, and prints a table of seconds:
page first render (navigation start -> page content visible and the script idle) and map
interactions (colour change -> script rerun finished, and -> colour bar drawn by plotly;
search -> hits listed and the script idle).
The server and browser helpers here are also used by ``tests/test_browser.py``.
"""
from __future__ import annotations

import argparse
import contextlib
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
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
# (url path, title shown by the page, selector present once its main content is drawn)
PAGES = [
    ("", "Catalog overview", "text=Build metrics"),
    ("trends", "Trends", ".js-plotly-plot"),
    ("map", "Cluster map", ".js-plotly-plot"),
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
        yield base
    finally:
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
    field = page.get_by_label(label).first
    field.fill(query)
    field.press("Enter")


def _timed(times: dict, name: str, t0: float, wait) -> None:
    """Record seconds since ``t0`` once ``wait()`` returns; NaN (and a warning) if it fails."""
    try:
        done = wait()
        times.setdefault(name, []).append((done or time.perf_counter()) - t0)
    except Exception as exc:  # noqa: BLE001 - one broken page must not stop the bench
        log.warning("%s: did not finish (%s)", name, str(exc).splitlines()[0])
        times.setdefault(name, []).append(float("nan"))


def _drawn(page, selector: str) -> float:
    page.locator(selector).first.wait_for(timeout=30_000)
    return time.perf_counter()


def measure(base: str, repeat: int) -> dict[str, list[float]]:
    nav_titles = {"": "Overview", "trends": "Trends", "map": "Cluster map",
                  "clusters": "Cluster browser", "playlist": "Playlist builder",
                  "recommend": "Recommendations"}
    times: dict[str, list[float]] = {}
    with chromium() as browser:
        for r in range(repeat):
            ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
            page = ctx.new_page()
            for path, title, ready in PAGES:
                t0 = time.perf_counter()
                page.goto(f"{base}/{path}")
                _timed(times, f"page: {nav_titles[path]} (open URL)", t0,
                       lambda: wait_page(page, title, ready))
            for path, title, ready in PAGES[1:] + PAGES[:1]:
                t0 = time.perf_counter()
                goto_nav(page, nav_titles[path])
                _timed(times, f"page: {nav_titles[path]} (sidebar)", t0,
                       lambda: wait_page(page, title, ready))
            goto_nav(page, "Cluster map")
            wait_page(page, "Cluster map", ".js-plotly-plot")
            t0 = time.perf_counter()
            choose(page, "Colour by", "energy")
            marks: dict[str, float] = {}
            _timed(times, "map: colour change, plot redrawn", t0, lambda: marks.setdefault(
                "drawn", _drawn(page, ".js-plotly-plot .colorbar")))
            _timed(times, "map: colour change, script rerun done", t0, lambda: wait_idle(page))
            t0 = time.perf_counter()
            search(page, "Search a track or artist", ["love", "queen", "night"][r % 3])
            _timed(times, "map: search", t0, lambda: max(
                _drawn(page, "text=tracks match"), wait_idle(page)))
            ctx.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=os.environ.get("CACHE_DIR", "cache"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium (make browser-deps)")
    with app_server(Path(args.cache), log_path=Path("/tmp/dashboard_bench_server.log")) as base:
        times = measure(base, args.repeat)
    print(f"\n{'measure':42s} {'median s':>9s} {'max s':>7s}  (n={args.repeat}; "
          "first repeat includes loading the cache)")
    for name, ts in times.items():
        print(f"{name:42s} {statistics.median(ts):9.2f} {max(ts):7.2f}")


if __name__ == "__main__":
    main()
