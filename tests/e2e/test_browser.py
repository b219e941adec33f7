"""The dashboard in a real browser (Debian's Chromium driven by Playwright).

Starts ``streamlit run dashboard/streamlit_app.py`` on the real default catalog's cache,
opens every page, checks that no exception is shown, lassoes a region of the map and checks
that the selection is exactly the tracks whose map coordinates lie inside the lasso, searches
on the map and on the recommendations page, carries the lasso selection to the playlist
builder through the sidebar (session state), builds a playlist from it and checks that its
CSV and M3U8 exports hold only lassoed tracks. Screenshots go to
``test-artifacts/screenshots/`` (and to ``docs/screenshots/`` with UPDATE_SCREENSHOTS=1).

Without /usr/bin/chromium the test is skipped, except in CI (CI=true), where it fails.
Set DASHBOARD_BROWSER_CACHE to use an already built cache instead of ``real_cache``.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
from browser_helpers import ARTIFACTS, shot
from playwright.sync_api import expect

from bench.dashboard_bench import (
    MAP_IFRAME,
    PAGES,
    app_server,
    box_with_share,
    chromium,
    goto_nav,
    map_drag,
    map_frame,
    search,
    wait_idle,
    wait_page,
)


def _lasso(page, cache: Path) -> tuple[list, set[str]]:
    """Drag a lasso around ~5% of the tracks on the map (its default drag mode); returns
    the polygon the map drew (map coordinates) and the ids of the tracks inside it."""
    import pipeline
    from dashboard.map_data import rows_in_polygon

    index = pipeline.load(cache)
    xy = index.coords.astype("float32")
    map_drag(page, box_with_share(xy, 0.05))
    poly = map_frame(page).evaluate("() => window.__map.selPoly")
    return poly, set(index.tracks["track_id"].to_numpy()[rows_in_polygon(xy, poly)])


def _seed_search(page, picker, query: str, shown: str) -> None:
    """Search the seed picker until the chosen track holds ``shown`` (typing while a rerun
    redraws the form is lost, so the search is repeated up to 3 times)."""
    for attempt in range(3):
        search(page, "Seed track", query)
        try:
            expect(picker).to_have_value(re.compile(shown), timeout=10_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    wait_idle(page)


def _download(page, button: str, **kwargs) -> Path:
    """Click a download button and return the file. The Playlist builder makes its exports
    when clicked (a round trip to the server first); a click that reached the button while
    the page was still re-rendering is tried once more, as a user would (a clean-clone CI
    run lost one), and a second miss fails."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(2):
        try:
            with page.expect_download(timeout=30_000) as dl:
                page.get_by_role("button", name=button, **kwargs).click()
            return Path(dl.value.path())
        except PlaywrightTimeout:
            if attempt:
                raise
            wait_idle(page)


def _assert_clean(page, where: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, \
        f"{where}: the page shows an exception"
    body = page.locator("body").inner_text()
    assert "Traceback" not in body, f"{where}: the page shows a traceback"


def test_dashboard_in_chromium(browser_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("CATALOG_FEEDBACK_URL", f"sqlite:///{tmp_path / 'feedback.sqlite'}")
    log = tmp_path / "streamlit.log"
    with app_server(browser_cache, log_path=log) as base, chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000},
                                  accept_downloads=True)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # Every page by URL, as a user with a bookmark would.
        for path, title, ready in PAGES:
            page.goto(f"{base}/{path}")
            wait_page(page, title, ready)
            _assert_clean(page, title)
            shot(page, path or "overview")

        # Map: lasso a region -> the selection is the tracks inside the lasso, no more
        # (the server resolves the polygon the map drew; tests/e2e/test_browser_map.py has more).
        page.goto(f"{base}/map")   # a new session: the flow below keeps it via the sidebar
        wait_page(page, "Cluster map", MAP_IFRAME)
        selected = page.get_by_role("heading", name="Selection (").filter(
            has_not_text="(0 tracks)").first
        poly, inside = _lasso(page, browser_cache)
        selected.wait_for(timeout=30_000)
        wait_idle(page)
        _assert_clean(page, "map lasso")
        n_sel = int(re.search(r"Selection \(([\d,]+) tracks\)", selected.inner_text())
                    .group(1).replace(",", ""))
        lassoed = set(pd.read_csv(_download(page, "Download CSV"))["track_id"])
        print(f"lasso: {n_sel} tracks selected, {len(inside)} inside the drawn polygon")
        assert lassoed == inside and len(lassoed) == n_sel > 0
        selected.scroll_into_view_if_needed()
        shot(page, "map_lasso")
        # The map's search is the fuzzy one (issue 13): a typo finds the song, once.
        search(page, "Search a track or artist", "bohemian rapsody")
        page.get_by_text("tracks match").first.wait_for()
        wait_idle(page)
        _assert_clean(page, "map fuzzy search")
        assert "bohemian rapsody" in page.url.replace("+", " ").replace("%20", " ")
        page.get_by_text("Search results (").first.click()
        hits = page.locator('[data-testid="stExpander"]').filter(has_text="Search results")
        hits.get_by_text("Bohemian Rhapsody").first.wait_for(state="attached")  # grid cells: a11y layer
        search(page, "Search a track or artist", "Queen")
        page.get_by_text("tracks match").first.wait_for()
        wait_idle(page)
        _assert_clean(page, "map search")
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "map_search")
        # Searching highlights the hits but keeps the lasso selection.
        page.get_by_role("heading", name=f"Selection ({n_sel:,} tracks)").first.wait_for()

        # Playlist builder: the lasso selection is its source; build and export.
        goto_nav(page, "Playlist builder")
        wait_page(page, "Playlist builder", "text=Build playlist")
        source = page.get_by_role("checkbox", name=f"Map selection ({n_sel} tracks)")
        assert source.is_checked()
        page.get_by_role("button", name="Build playlist").click()
        page.get_by_role("heading", name="Export").wait_for()
        wait_idle(page)
        _assert_clean(page, "playlist")
        page.get_by_role("heading", name="Your playlist").scroll_into_view_if_needed()
        page.mouse.wheel(0, 350)
        page.wait_for_timeout(300)
        shot(page, "playlist_built")
        exported = pd.read_csv(_download(page, "CSV", exact=True))
        assert 0 < len(exported) <= 25 and exported["track_id"].is_unique
        assert set(exported["track_id"]) <= lassoed
        m3u = _download(page, "M3U8").read_text(encoding="utf-8")
        assert m3u.startswith("#EXTM3U")
        urls = re.findall(r"^https://open\.spotify\.com/track/(\w+)$", m3u, re.M)
        assert m3u.count("#EXTINF:") == len(urls) == len(exported)
        assert urls == exported["track_id"].tolist()   # same tracks, same order

        # Seed picker: fuzzy ("title artist") and one entry per song (issue 13).
        seed_box = page.get_by_role("checkbox", name="Around a seed track")
        seed_box.check(force=True)   # Streamlit 1.67 lays the label over the hidden input
        expect(seed_box).to_be_checked()
        page.get_by_role("textbox", name="Seed track").wait_for()
        wait_idle(page)
        # Streamlit 1.67's selectbox is a combobox input holding the choice as its value.
        picker = page.get_by_role("combobox", name="Track").first
        _seed_search(page, picker, "Animals", "Animals")
        picker.click()
        page.get_by_role("option").first.wait_for()
        options = page.get_by_role("option").all_inner_texts()
        page.keyboard.press("Escape")
        songs = [o.rsplit(" (", 1)[0].casefold() for o in options]
        assert any("maroon 5" in s_ for s_ in songs) and len(songs) == len(set(songs)), options
        _seed_search(page, picker, "Levels Avicii", "Levels")
        _assert_clean(page, "playlist seed picker")

        # Recommendations: fuzzy search, then results with reasons.
        goto_nav(page, "Recommendations")
        wait_page(page, "Recommendations", "text=Search a track or artist")
        search(page, "Search a track or artist", "bohemian rapsody")
        page.get_by_text("Because you picked").first.wait_for()
        page.get_by_role("link", name="Spotify").first.wait_for()
        wait_idle(page)
        _assert_clean(page, "recommendations")
        shot(page, "recommend_results")
        ctx.close()
    assert not [e for e in errors if "spotify" not in e.lower()], errors
    shutil.copy(log, ARTIFACTS / "streamlit.log")
