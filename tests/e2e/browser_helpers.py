"""Helpers shared by the real-browser tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.dashboard_bench import CHROMIUM, compact_png

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
MAX_PNG_BYTES = 300_000


def need_chromium() -> None:
    """Skip without Chromium, or fail in CI (where it must be installed)."""
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} not found: install Debian's chromium (`make browser-deps`) "
                   "to run the real-browser test")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def watched_page(browser) -> tuple[object, list[str]]:
    """A new page at the tests' window size and timeout, and the list its uncaught
    JavaScript errors are collected into (a test asserts it stays empty)."""
    page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def shot(page, name: str) -> None:
    """Save a screenshot as a test artifact, and a compact copy in docs/screenshots/ when
    UPDATE_SCREENSHOTS=1 (the docs' images come from the tests that check those screens)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        (DOCS / f"{name}.png").write_bytes(compact_png(path.read_bytes(), MAX_PNG_BYTES))
