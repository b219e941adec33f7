"""Cold first open of each dashboard page by URL, in a real browser.

Usage (from the repo root, with a built cache)::

    .venv/bin/python bench/page_open_bench.py --cache cache [--repeat 2] [--pages trends map]

For every page and repeat: a fresh ``streamlit run`` server (nothing cached in it), a fresh
Chromium context, ``goto(URL)``, and the seconds until the page is settled (its title and main
content drawn and the script idle, as in ``bench/dashboard_bench.py``). Prints the median
and max per page. ``--shots DIR`` saves a screenshot of each settled page.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dashboard_bench import CHROMIUM, PAGES, app_server, chromium, wait_page  # noqa: E402


def measure(cache: Path, pages: list[str], repeat: int, shots: Path | None
            ) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    wanted = [p for p in PAGES if (p[0] or "overview") in pages]
    for r in range(repeat):
        for path, title, ready in wanted:
            with app_server(cache) as base, chromium() as browser:
                ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(f"{base}/{path}")
                done = wait_page(page, title, ready, timeout=90)
                times.setdefault(path or "overview", []).append(done - t0)
                if shots is not None and r == 0:
                    shots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shots / f"{path or 'overview'}.png"))
                ctx.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="cache")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--pages", nargs="*",
                    default=["overview", "trends", "map", "clusters", "playlist"])
    ap.add_argument("--shots", type=Path, default=None)
    args = ap.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium (make browser-deps)")
    times = measure(Path(args.cache), args.pages, args.repeat, args.shots)
    print(f"\n{'page (cold server, open by URL)':34s} {'median s':>9s} {'max s':>7s}  "
          f"(n={args.repeat})")
    for name, ts in times.items():
        print(f"{name:34s} {statistics.median(ts):9.2f} {max(ts):7.2f}")


if __name__ == "__main__":
    main()
