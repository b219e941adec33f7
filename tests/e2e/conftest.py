"""Fixtures for the real-browser tests: Debian's Chromium and the cache they open.

The cache is the session's ``real_cache`` (the default catalog, built once); set
``DASHBOARD_BROWSER_CACHE`` to use an already built cache instead.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_helpers import need_chromium


@pytest.fixture(scope="module")
def browser_cache(request) -> Path:
    need_chromium()
    override = os.environ.get("DASHBOARD_BROWSER_CACHE")
    return Path(override) if override else request.getfixturevalue("real_cache")
