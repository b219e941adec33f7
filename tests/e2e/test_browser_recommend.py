"""The Recommendations page in a real browser (Debian's Chromium driven by Playwright).

On the default catalog's cache: search a seed, like a track (the list re-ranks at once, the
row shows the vote, the CSV download follows), dislike one (it leaves the list, its vote is
listed with an undo), undo both (the first list is back); every list and the methods side by
side hold one release per song. On a small catalog with markup in a title and an artist:
the markup is shown as text (no <img>, no link, no dialog). Screenshots go to
``test-artifacts/screenshots/`` (and to ``docs/screenshots/`` with UPDATE_SCREENSHOTS=1),
named ``recs_*``.

Without /usr/bin/chromium the test is skipped, except in CI (CI=true), where it fails.
Set DASHBOARD_BROWSER_CACHE to use an already built cache instead of ``real_cache``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from browser_helpers import need_chromium, shot

from bench.dashboard_bench import app_server, chromium, search, wait_idle, wait_page

HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
HOSTILE_ARTIST = "**bold** [link](http://x)"


def _shown(page) -> list[str]:
    """Track ids of the recommendation rows in the order shown (from their play buttons)."""
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('[class*=\"st-key-rec_play_\"]'))"
        ".map(e => e.className.match(/st-key-rec_play_(\\w+)/)[1])")


def _settle(page, timeout: float = 60) -> None:
    """Wait for the script to finish and the page to hold no stale element or skeleton
    (an element of the previous run, or one not drawn yet)."""
    page.wait_for_timeout(300)
    wait_idle(page, timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"], [data-testid=\"stSkeleton\"]')",
        timeout=timeout * 1000)
    wait_idle(page, timeout)


def _click(page, key: str) -> None:
    page.locator(f".st-key-{key} button").first.click()
    _settle(page)


def _download(page, key: str) -> pd.DataFrame:
    with page.expect_download(timeout=30_000) as dl:
        page.locator(f".st-key-{key} button").first.click()
    return pd.read_csv(dl.value.path())


def _clean(page, where: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, where
    assert "Traceback" not in page.locator("body").inner_text(), where


def test_vote_reranks_undo_and_one_release_per_song(browser_cache, tmp_path, monkeypatch):
    import pipeline

    monkeypatch.setenv("CATALOG_FEEDBACK_URL", f"sqlite:///{tmp_path / 'feedback.sqlite'}")
    song = pipeline.load(browser_cache).tracks.set_index("track_id")["song_group"]
    with app_server(browser_cache, log_path=tmp_path / "streamlit.log") as base, \
            chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000},
                                  accept_downloads=True)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/recommend")
        wait_page(page, "Recommendations", "text=Search a track or artist")
        search(page, "Search a track or artist", "blinding lights weeknd")
        page.locator('[class*="st-key-rec_play_"]').first.wait_for()
        _settle(page)
        _clean(page, "recommendations")
        slider = page.locator(".st-key-rec_k input").first
        slider.focus()
        slider.press("End")                                        # "How many": 30
        page.locator('[class*="st-key-rec_play_"]').nth(29).wait_for()
        _settle(page)
        before = _shown(page)
        assert len(before) == 30
        assert song[before].is_unique, "a song is listed twice"
        assert _download(page, "rec_dl")["track_id"].tolist() == before

        liked = before[-1]
        _click(page, f"rec_like_{liked}")                           # one click, nothing else
        after = _shown(page)
        assert after.index(liked) < before.index(liked), "the like did not re-rank the list"
        assert page.locator(f".st-key-rec_undo_{liked}").count() == 1     # the vote is shown
        assert page.locator(f".st-key-rec_like_{liked}").count() == 0
        assert page.get_by_text("which you liked").count() > 0            # tracks like it
        csv = _download(page, "rec_dl")
        assert csv["track_id"].tolist() == after                        # the CSV follows
        assert not csv["year"].astype(str).str.endswith(".0").any()
        page.locator(f".st-key-rec_undo_{liked}").scroll_into_view_if_needed()
        page.mouse.wheel(0, -250)
        page.wait_for_timeout(300)
        shot(page, "recs_after_like")

        disliked = after[0]
        _click(page, f"rec_dislike_{disliked}")
        assert disliked not in _shown(page)
        page.get_by_text("Your votes for this seed").first.click()
        page.locator(f".st-key-rec_undo_vote_{disliked}").wait_for()
        page.wait_for_timeout(500)                                  # the expander's opening
        page.get_by_text("Your votes for this seed").first.scroll_into_view_if_needed()
        shot(page, "recs_votes_undo")
        _click(page, f"rec_undo_vote_{disliked}")
        _click(page, f"rec_undo_{liked}")
        assert _shown(page) == before, "undoing both votes did not restore the list"
        _clean(page, "after undo")

        page.get_by_role("tab", name="Methods side by side").click()
        page.get_by_text("Nearest in the learned embedding").first.wait_for()
        _settle(page)
        _clean(page, "methods side by side")
        page.get_by_role("tab", name="Methods side by side").scroll_into_view_if_needed()
        shot(page, "recs_methods")
        both = _download(page, "rec_cmp_dl")
        assert set(both["method_name"]) >= {"Hybrid (learned ranker)", "Sound only"}
        for name, df in both.groupby("method"):
            assert song[df["track_id"]].is_unique, f"{name} lists a song twice"
        ctx.close()
    assert not [e for e in errors if "spotify" not in e.lower()], errors


@pytest.fixture(scope="module")
def hostile_cache(tmp_path_factory) -> Path:
    """A small cache whose catalog has markup in a title and an artist."""
    need_chromium()
    from catalog_fixtures import make_catalog, small_config
    from pipeline.build import build

    folder = tmp_path_factory.mktemp("hostile_browser")
    cat = make_catalog()
    cat.loc[50, ["track_name", "track_artist"]] = [HOSTILE_TITLE, HOSTILE_ARTIST]
    cat.to_csv(folder / "catalog.csv", index=False)
    build([folder / "catalog.csv"], folder / "cache", small_config())
    return folder / "cache"


def test_catalog_markup_is_shown_as_text(hostile_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("CATALOG_FEEDBACK_URL", f"sqlite:///{tmp_path / 'feedback.sqlite'}")
    with app_server(hostile_cache, log_path=tmp_path / "streamlit.log") as base, \
            chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        page.set_default_timeout(60_000)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{base}/recommend")
        wait_page(page, "Recommendations", "text=Search a track or artist")
        search(page, "Search a track or artist", "onerror")
        page.get_by_text("Because you picked").first.wait_for()
        page.locator('[class*="st-key-rec_play_"]').first.wait_for()
        _settle(page)
        _clean(page, "hostile seed")
        main = page.locator('[data-testid="stMain"]')
        heading = page.get_by_role("heading", name="Because you picked").first.inner_text()
        assert f"{HOSTILE_TITLE} — {HOSTILE_ARTIST}" in heading        # literally
        assert main.locator("img").count() == 0
        assert main.locator('a[href="http://x"]').count() == 0
        assert main.locator("strong", has_text=re.compile("^bold$")).count() == 0
        shot(page, "recs_catalog_text")
        assert not dialogs
