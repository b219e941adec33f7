"""Preflight: a big file is checked on its first MiB, a small one whole; the cache path."""
from __future__ import annotations

import pytest

from catalog_fixtures import make_catalog
from pipeline.catalog.preflight import check_cache_dir, preflight
from pipeline.errors import CacheError, CatalogError


def test_default_catalog_is_checked_on_a_sample(real_catalog):
    pre = preflight([real_catalog])
    assert not pre.complete and pre.tracks is None
    assert pre.reads[0]["schema"] == "songs30k" and pre.reads[0]["encoding"] == "utf-8"


def test_small_catalog_is_ingested_whole(tmp_path):
    path = tmp_path / "small.csv"
    make_catalog(200).to_csv(path, index=False)
    pre = preflight([path], tmp_path / "cache")
    # 200 tracks + 10 other releases; the 3 planted bad rows have duplicates that survive
    assert pre.complete and pre.tracks == 210
    assert (tmp_path / "cache").is_dir()


def test_every_row_rejected_names_the_reasons(tmp_path):
    df = make_catalog(60).astype({"tempo": object})
    df["tempo"] = "fast"
    path = tmp_path / "slow.csv"
    df.to_csv(path, index=False)
    with pytest.raises(CatalogError, match=r"every row was rejected \(100 rows\): 100 x column "
                                           r"'tempo': not a number \(e\.g\. slow\.csv row 2\)"):
        preflight([path])


def test_no_files(tmp_path):
    with pytest.raises(CatalogError, match="no catalog files"):
        preflight([])


def test_a_folder_given_as_a_file(tmp_path):
    with pytest.raises(CatalogError, match="not a file"):
        preflight([tmp_path])


def test_cache_checks(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CacheError, match=r"f: the cache path is a file"):
        check_cache_dir(tmp_path / "f")
    with pytest.raises(CacheError, match=r"cannot create the cache folder: .*f is a file"):
        check_cache_dir(tmp_path / "f" / "sub")
    check_cache_dir(tmp_path / "new" / "cache")
    assert (tmp_path / "new" / "cache").is_dir()
