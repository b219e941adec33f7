"""A finished build published to an fsspec store (memory:// and file://) and mirrored into
another local cache: the same bytes, served by the link switch; a damaged or missing
download is refused by name and the mirror keeps serving what it served."""
from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest

import pipeline
from pipeline import generations as gens
from pipeline.build import mirror_from, publish_to
from pipeline.cli import main
from pipeline.errors import CacheError


def _url() -> str:
    return f"memory://ce-{uuid.uuid4().hex[:8]}/caches/small"


def _artifacts(gen: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in gen.iterdir()
            if f.is_file() and f.name not in ("manifest.json", gens.PROGRESS)}


def test_publish_then_mirror_serves_the_same_build(built_small_cache, tmp_path):
    url = _url()
    name = publish_to(built_small_cache, url)
    fs = fsspec.filesystem("memory")
    assert fs.cat_file(f"{url}/CURRENT").decode() == name
    gen = mirror_from(url, tmp_path / "mirror")
    assert gens.resolve(tmp_path / "mirror") == gen.resolve()
    assert _artifacts(gen) == _artifacts(gens.resolve(built_small_cache))
    assert pipeline.load(tmp_path / "mirror").tracks.equals(pipeline.load(built_small_cache).tracks)
    assert mirror_from(url, tmp_path / "mirror") == gen.resolve()  # unchanged: no download


def test_a_damaged_download_is_refused_and_the_mirror_stays(built_small_cache, tmp_path):
    url = _url()
    name = publish_to(built_small_cache, url)
    served = mirror_from(url, tmp_path / "mirror")
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{url}/CURRENT", b"g-other")  # a second build, published damaged
    for f in fs.ls(f"{url}/{name}", detail=False):
        fs.copy(f, f"{url}/g-other/{Path(f).name}")
    fs.pipe_file(f"{url}/g-other/map2d.npy", fs.cat_file(f"{url}/g-other/map2d.npy")[:-8])
    with pytest.raises(CacheError, match=r"map2d\.npy: artifact is \d+ bytes"):
        mirror_from(url, tmp_path / "mirror")
    assert gens.resolve(tmp_path / "mirror") == served.resolve()
    assert len(list(gens.builds_dir(tmp_path / "mirror").glob("g-*"))) == 1  # none left behind


def test_cli_publishes_to_a_file_url_and_mirrors_back(built_small_cache, tmp_path, capsys):
    url = f"file://{tmp_path}/store"
    assert main(["publish", "--cache", str(built_small_cache), "--to", url]) == 0
    assert (tmp_path / "store" / "CURRENT").exists()
    assert main(["mirror", "--from", url, "--cache", f"file://{tmp_path}/mirror"]) == 0
    assert _artifacts(gens.resolve(tmp_path / "mirror")) == \
        _artifacts(gens.resolve(built_small_cache))
    assert main(["mirror", "--from", f"file://{tmp_path}/empty", "--cache",
                 str(tmp_path / "m2")]) == 2
    assert "no CURRENT (no published build)" in capsys.readouterr().err


def test_a_store_that_cannot_be_written_or_read_is_named_not_a_traceback(
        built_small_cache, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    url = f"file://{blocker}/store"   # a folder under a file: the OS refuses it
    assert main(["publish", "--cache", str(built_small_cache), "--to", url]) == 2
    err = capsys.readouterr().err
    assert f"{url}: cannot write the build to this store" in err and "Traceback" not in err
    with pytest.raises(CacheError, match="cannot read this store"):
        mirror_from(url, tmp_path / "mirror")
    assert not (tmp_path / "mirror").exists() or not any((tmp_path / "mirror").iterdir())
