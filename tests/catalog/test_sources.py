"""Catalog resolution order, the checksum-verified download, and its offline message."""
from __future__ import annotations

import pytest

from pipeline.catalog.sources import download_default, md5_of, resolve_catalog
from pipeline.errors import CatalogError


def test_explicit_path_wins(tmp_path, monkeypatch):
    a = tmp_path / "a.csv"
    a.write_text("x\n1\n")
    monkeypatch.setenv("CATALOG", str(tmp_path / "other.csv"))
    assert resolve_catalog(a, raw_dir=tmp_path) == [a]


def test_env_var_then_local_copy(tmp_path, monkeypatch):
    b = tmp_path / "b.csv"
    b.write_text("x\n1\n")
    monkeypatch.setenv("CATALOG", str(b))
    assert resolve_catalog(None, raw_dir=tmp_path) == [b]
    monkeypatch.delenv("CATALOG")
    local = tmp_path / "spotify_songs.csv"
    local.write_text("x\n1\n")
    assert resolve_catalog(None, raw_dir=tmp_path) == [local]


def test_missing_path_names_it(tmp_path):
    with pytest.raises(CatalogError, match=r"nope\.csv: catalog not found"):
        resolve_catalog(tmp_path / "nope.csv")


def test_folder_yields_its_catalog_files(tmp_path):
    for n in ["b.csv", "a.parquet", "notes.txt"]:
        (tmp_path / n).write_text("")
    assert [p.name for p in resolve_catalog(tmp_path)] == ["a.parquet", "b.csv"]


def test_download_verifies_md5(tmp_path, real_catalog):
    dest = tmp_path / "raw" / "spotify_songs.csv"
    got = download_default(dest, url=real_catalog.resolve().as_uri(), md5=md5_of(real_catalog))
    assert got == dest and md5_of(dest) == md5_of(real_catalog)


def test_download_with_wrong_md5_is_discarded(tmp_path, real_catalog):
    dest = tmp_path / "raw" / "spotify_songs.csv"
    with pytest.raises(CatalogError, match=r"expected 0{32}; the file was discarded"):
        download_default(dest, url=real_catalog.resolve().as_uri(), md5="0" * 32)
    assert not dest.exists() and not list(dest.parent.glob("*.part"))


def test_offline_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("CATALOG", raising=False)
    with pytest.raises(CatalogError, match=r"offline: copy spotify_songs\.csv .* to .*raw"):
        resolve_catalog(None, raw_dir=tmp_path / "raw", url="http://127.0.0.1:9/spotify_songs.csv")
