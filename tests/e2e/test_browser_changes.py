"""A catalog update in the real browser: the Overview says what changed, the Cluster map
colours the new tracks and shows only them on request (Debian's Chromium)."""
from __future__ import annotations

from browser_helpers import need_chromium, watched_page

from bench.dashboard_bench import (
    MAP_IFRAME,
    app_server,
    chromium,
    goto_nav,
    map_frame,
    pick_colour,
    wait_idle,
    wait_map,
    wait_page,
)


def test_update_in_chromium(updated_cache, tmp_path, monkeypatch):
    need_chromium()
    import pipeline

    index = pipeline.load(updated_cache)
    n, n_new = len(index.tracks), int((index.track_status["status"] != "kept").sum())
    monkeypatch.setenv("MAP_FILES_DIR", str(tmp_path / "maps"))
    with app_server(updated_cache, log_path=tmp_path / "streamlit.log") as base, \
            chromium() as browser:
        page, errors = watched_page(browser)
        page.goto(base)
        wait_page(page, "Catalog overview", "h3")
        page.get_by_role("heading", name="What changed since the previous build").wait_for()
        assert "30 tracks added, 10 removed and 0 edited" in page.locator("body").inner_text()

        goto_nav(page, "Cluster map")
        wait_page(page, "Cluster map", MAP_IFRAME)
        pick_colour(page, "new tracks")
        wait_map(page, lambda d: d["color"] == "new tracks")
        legend = map_frame(page).locator("#legend")
        assert legend.locator("h4").inner_text() == "new tracks"
        text = legend.inner_text()
        assert "new" in text and f"{n_new:,}" in text
        wait_idle(page)

        page.get_by_text("Only new tracks").click()
        wait_map(page, lambda d: int(d["inview"]) == n_new)
        page.get_by_text(f"Showing {n_new:,} of {n:,} tracks").first.wait_for()
        assert not errors, errors
