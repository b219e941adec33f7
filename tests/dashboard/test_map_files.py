"""The map's per-build files: what the browser decodes is the build's data."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from dashboard import map_files
from dashboard.map_data import COLOR_BY, map_arrays, map_channels


@pytest.fixture(scope="module")
def index(dash_cache):
    import pipeline

    return pipeline.load(dash_cache)


def _read(path) -> bytes:
    return gzip.decompress(path.read_bytes())


def test_files_decode_to_the_build(index, tmp_path):
    arrays = map_arrays(index.tracks, index.coords)
    channels = map_channels(arrays, {})
    folder = map_files.write_map_files(tmp_path, "k1", arrays, channels)
    assert folder == tmp_path / "k1"
    assert [p.name for p in tmp_path.iterdir()] == ["k1"]          # nothing half-written left
    meta = json.loads((folder / "meta.json").read_text())
    n = len(index.tracks)
    assert meta["n"] == n and meta["color_by"] == [c for c in COLOR_BY if c in channels]
    assert meta["key"] == "k1"
    xy = np.frombuffer(_read(folder / "xy.bin.gz"), dtype="float32").reshape(n, 2)
    np.testing.assert_array_equal(xy, index.coords.astype("float32"))
    x0, x1, y0, y1 = meta["bounds"]
    assert (x0, x1) == (xy[:, 0].min(), xy[:, 0].max()) and (y0, y1) == (xy[:, 1].min(), xy[:, 1].max())
    cl = meta["channels"]["cluster"]
    codes = np.frombuffer(_read(folder / "c_cluster.bin.gz"), dtype=cl["dtype"])
    assert np.array_equal(np.asarray(cl["ids"])[codes], index.tracks["cluster"].to_numpy())
    for name in meta["color_by"]:
        assert len(np.frombuffer(_read(folder / f"c_{name}.bin.gz"),
                                 dtype=meta["channels"][name]["dtype"])) == n
    # A second call for the same key leaves the folder alone.
    before = (folder / "xy.bin.gz").stat().st_mtime_ns
    map_files.write_map_files(tmp_path, "k1", arrays, channels)
    assert (folder / "xy.bin.gz").stat().st_mtime_ns == before


def test_text_chunks_hold_each_rows_card(index, tmp_path, monkeypatch):
    monkeypatch.setattr(map_files, "TEXT_CHUNK", 64)
    arrays = map_arrays(index.tracks, index.coords)
    channels = map_channels(arrays, {})
    table = map_files.hover_rows(index.tracks, channels["cluster"].codes)
    map_files.write_text_chunks(tmp_path, table)
    n = len(index.tracks)
    assert (tmp_path / "text" / "done").read_text() == str(n)
    for row in (0, 63, 64, n - 1):
        chunk = json.loads(_read(tmp_path / "text" / f"{row // 64}.json.gz"))
        title, artist, genre, year, *_rest, code = chunk[row % 64]
        t = index.tracks.iloc[row]
        assert title == t["track_name"][:80] and artist == t["artist"][:60]
        assert (year is None) == bool(np.isnan(t["year"]))
        assert channels["cluster"].ids[code] == t["cluster"]


def test_folder_key_names_the_build(tmp_path):
    a = map_files.build_folder_key(str(tmp_path), 1.0)
    assert a == map_files.build_folder_key(str(tmp_path), 1.0)
    assert a != map_files.build_folder_key(str(tmp_path), 2.0)
    assert a != map_files.build_folder_key(str(tmp_path / "other"), 1.0)


def test_root_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MAP_FILES_DIR", str(tmp_path / "maps"))
    assert map_files.files_root() == tmp_path / "maps" and (tmp_path / "maps").is_dir()


def test_first_view_leaves_out_far_outliers():
    xy = np.random.default_rng(0).normal(size=(10_000, 2)).astype("float32")
    xy[0] = (1000, -1000)
    x0, x1, y0, y1 = map_files.fit_bounds(xy)
    assert -5 < x0 < -2 and 2 < x1 < 5 and -5 < y0 < -2 and 2 < y1 < 5
    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    assert inside.mean() > 0.99
