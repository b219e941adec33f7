"""Helpers shared by the real-browser tests."""
from __future__ import annotations

import os

import pytest

from bench.dashboard_bench import CHROMIUM


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
