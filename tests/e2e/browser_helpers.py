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
