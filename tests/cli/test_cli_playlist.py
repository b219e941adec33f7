"""``python -m pipeline playlist`` (pipeline.playlist_cli) on the in-memory test index."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import pipeline
from pipeline.cli import main
from pipeline.playlist.exports import XSPF_NS
from playlist_fixtures import ALL_IDS, INDEX


@pytest.fixture
def fake_cache(monkeypatch: pytest.MonkeyPatch) -> str:
    """``pipeline.load`` returns the synthetic index for the cache path ``synthetic``."""
    def load(path: str | Path):
        assert str(path) == "synthetic"
        return INDEX
    monkeypatch.setattr(pipeline, "load", load)
    return "synthetic"


def run(*argv: str) -> int:
    return main(["playlist", *argv])


def test_cli_writes_each_format(fake_cache: str, tmp_path: Path, capsys) -> None:
    for fmt in ["csv", "m3u8", "xspf", "uris", "json"]:
        out = tmp_path / f"list.{fmt}"
        assert run("--cache", fake_cache, "--cluster", "0", "--cluster", "1", "--length", "10",
                   "--format", fmt, "--out", str(out)) == 0
        assert out.stat().st_size > 0
    printed = capsys.readouterr().out
    assert "10 tracks" in printed and "smoothness:" in printed and "removed:" in printed
    root = ET.fromstring((tmp_path / "list.xspf").read_text())
    assert len(root.findall(f"{{{XSPF_NS}}}trackList/{{{XSPF_NS}}}track")) == 10


def test_cli_options_reach_the_request(fake_cache: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert run("--cache", fake_cache, "--cluster", "2", "--track", ALL_IDS[0], "--seed-track",
               ALL_IDS[1], "--path", ALL_IDS[2], ALL_IDS[3], "--minutes", "30",
               "--year-range", "1980", "2020", "--tempo-range", "60", "190", "--energy-range",
               "0", "1", "--popularity-range", "0", "100", "--no-explicit",
               "--max-per-artist", "3", "--min-artist-gap", "1", "--order", "curve",
               "--curve", "0.2,0.9,0.4", "--seed", "5", "--format", "json", "--out", str(out)) == 0
    req = json.loads(out.read_text())["request"]
    assert req["clusters"] == [2] and req["track_ids"] == [ALL_IDS[0]]
    assert req["path"] == [ALL_IDS[2], ALL_IDS[3]] and req["target_minutes"] == 30
    assert req["year_range"] == [1980, 2020] and req["exclude_explicit"] is True
    assert req["curve"] == [0.2, 0.9, 0.4] and req["ordering"] == "curve" and req["seed"] == 5


def test_cli_recipe_regenerates_the_same_playlist(fake_cache: str, tmp_path: Path) -> None:
    recipe, first, second = tmp_path / "r.json", tmp_path / "a.uris", tmp_path / "b.uris"
    common = ["--cache", fake_cache]
    assert run(*common, "--cluster", "3", "--order", "energy_arc", "--seed", "9",
               "--format", "json", "--out", str(recipe)) == 0
    assert run(*common, "--cluster", "3", "--order", "energy_arc", "--seed", "9",
               "--format", "uris", "--out", str(first)) == 0
    assert run(*common, "--recipe", str(recipe), "--format", "uris", "--out", str(second)) == 0
    assert first.read_text() == second.read_text() != ""


@pytest.mark.parametrize("argv, match", [
    (["--track", "nope-id"], "'nope-id'"),
    (["--cluster", "77"], r"cluster id\(s\) \[77\]"),
    (["--cluster", "1", "--year-range", "2020", "2000"], "year_range"),
    (["--cluster", "1", "--order", "curve", "--curve", "0.1,high"], "--curve"),
    (["--cluster", "1", "--order", "curve"], "curve"),
    ([], "at least one source"),
    (["--recipe", "does-not-exist.json"], "does-not-exist.json"),
])
def test_cli_errors_name_the_problem(fake_cache: str, tmp_path: Path, capsys,
                                     argv: list[str], match: str) -> None:
    code = run("--cache", fake_cache, *argv, "--format", "csv", "--out", str(tmp_path / "x.csv"))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ")
    assert re.search(match, err)
    assert not (tmp_path / "x.csv").exists()


def test_cli_bad_recipe_file(fake_cache: str, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run("--cache", fake_cache, "--recipe", str(bad), "--format", "csv",
               "--out", str(tmp_path / "x.csv")) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_cli_length_and_minutes_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        run("--cluster", "1", "--length", "5", "--minutes", "20", "--format", "csv",
            "--out", str(tmp_path / "x.csv"))


def test_cli_on_real_cache(tmp_path: Path, real_cache: Path) -> None:
    out = tmp_path / "real.m3u8"
    assert run("--cache", str(real_cache), "--cluster", "3", "--cluster", "7", "--length", "25",
               "--format", "m3u8", "--out", str(out)) == 0
    lines = out.read_text().splitlines()
    assert sum(line.startswith("#EXTINF:") for line in lines) == 25
    assert sum(line.startswith("https://open.spotify.com/track/") for line in lines) == 25
