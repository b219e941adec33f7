"""The artifact store's cache locations: a path or a file:// URL names a local cache; any
other URL is refused by name with what to do, never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

import pipeline
from pipeline.cli import main
from pipeline.errors import CacheError
from pipeline.store import cache_location


def test_paths_and_file_urls_name_local_paths(tmp_path):
    assert cache_location("cache") == Path("cache")
    assert cache_location(tmp_path) == tmp_path
    assert cache_location(f"file://{tmp_path}") == tmp_path
    assert cache_location(f"local://{tmp_path}/x") == tmp_path / "x"


@pytest.mark.parametrize("url", ["s3://bucket/caches/big", "gs://b/c", "memory://c",
                                 "nosuchscheme://c"])
def test_other_urls_are_refused_with_the_fix(url):
    scheme = url.split("://")[0]
    with pytest.raises(CacheError, match=rf"^{url}: a cache at a {scheme}:// URL is not "
                                         r"supported.*pipeline publish.*pipeline mirror"):
        cache_location(url)


def test_load_reads_a_file_url(built_small_cache):
    by_url = pipeline.load(f"file://{Path(built_small_cache).absolute()}")
    assert by_url.tracks.equals(pipeline.load(built_small_cache).tracks)


def test_cli_says_a_remote_cache_is_not_supported(capsys, catalog_csv):
    assert main(["build", "--catalog", str(catalog_csv), "--cache", "s3://bucket/c"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: s3://bucket/c: a cache at a s3:// URL is not supported")
    assert "Traceback" not in err


def test_dashboard_says_a_remote_cache_is_not_supported(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CACHE_DIR", "s3://bucket/caches/big")
    page = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "overview.py"
    at = AppTest.from_file(str(page), default_timeout=60).run()
    assert not at.exception
    assert at.error and "s3://bucket/caches/big: a cache at a s3:// URL" in at.error[0].value
