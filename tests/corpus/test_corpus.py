"""The messy-file corpus (tests/corpus/make_corpus.py): one test per kind of file, with the
counts (rows read, rejected, reason) or the message. Most call the reader, ingest or the
preflight directly; a few go through ``python -m pipeline build`` for the exit code."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from make_corpus import ACCENTED, accented, base_slice, make

from catalog_fixtures import real_data
from pipeline.catalog import MIN_TRACKS, ingest, preflight, read_catalog_file
from pipeline.errors import CatalogError


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return base_slice(real_data("spotify_songs.csv"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus")


def _ingest(path):
    return ingest([(read_catalog_file(path), path)])


@pytest.fixture(scope="module")
def plain(base, folder):
    """The slice as a clean UTF-8 comma file: what every readable variant must equal."""
    path = folder / "plain.csv"
    base.to_csv(path, index=False)
    return _ingest(path)


@pytest.fixture(scope="module")
def plain_accented(base, folder):
    path = folder / "plain_accented.csv"
    accented(base).to_csv(path, index=False)
    return _ingest(path)


def _same_tracks(res, ref):
    pd.testing.assert_frame_equal(res.tracks.drop(columns="source_file"),
                                  ref.tracks.drop(columns="source_file"))
    assert res.report["rejected_rows"] == 0 and res.report["rows_read"] == 2000


@pytest.mark.parametrize("kind, encoding", [("utf8_bom", "utf-8-sig"),
                                            ("cp1252", "cp1252 (Windows-1252)"),
                                            ("latin1", "cp1252 (Windows-1252)"),
                                            ("utf16", "utf-16")])
def test_encodings_decode_without_mojibake(kind, encoding, base, folder, plain_accented):
    res = _ingest(make(kind, base, folder))
    _same_tracks(res, plain_accented)
    assert res.tracks["artist"].isin(ACCENTED).sum() == len(ACCENTED)
    assert res.report["input"][0]["encoding"] == encoding


@pytest.mark.parametrize("kind, sep", [("semicolon", ";"), ("tab", "tab")])
def test_separators_are_sniffed(kind, sep, base, folder, plain):
    res = _ingest(make(kind, base, folder))
    _same_tracks(res, plain)
    assert res.report["input"][0]["separator"] == sep


@pytest.mark.parametrize("kind", ["gzip", "zip"])
def test_compressed_files(kind, base, folder, plain):
    res = _ingest(make(kind, base, folder))
    _same_tracks(res, plain)
    assert res.report["input"][0]["compression"] == kind


def test_quoted_newlines_stay_in_the_value(base, folder):
    res = _ingest(make("quoted_newlines", base, folder))
    assert res.report["rows_read"] == 2000 and res.report["rejected_rows"] == 0
    names = set(res.tracks["track_name"])
    assert "Line one\nline two" in names and 'Say "hi",\r\nthen go' in names


def test_header_variants_are_mapped_and_reported(base, folder, plain):
    res = _ingest(make("header_variants", base, folder))
    _same_tracks(res, plain)
    assert res.report["input"][0]["columns_renamed"] == {
        "Danceability ": "danceability", "TEMPO": "tempo", "Track Name": "track_name",
        " energy": "energy"}


def test_missing_column_lists_its_near_misses(base, folder):
    path = make("near_miss", base, folder)
    with pytest.raises(CatalogError, match=r"near_miss\.csv: required column 'danceability' "
                                           r"is missing \(similar columns in the file: "
                                           r"'danceabilty'\)"):
        preflight([path])


def _rejects(res, reason):
    rej = res.rejects
    return rej[rej["reason"].str.contains(reason, regex=False)]


def test_repeated_header_line_is_rejected(base, folder, plain):
    res = _ingest(make("repeated_header", base, folder))
    assert (res.report["rows_read"], res.report["rejected_rows"]) == (2001, 1)
    assert _rejects(res, "repeated header line")["source_row"].tolist() == [1002]
    moved = ["source_file", "source_row"]  # rows after the extra line sit one line lower
    pd.testing.assert_frame_equal(res.tracks.drop(columns=moved), plain.tracks.drop(columns=moved))


def test_truncated_last_line_is_rejected(base, folder):
    res = _ingest(make("truncated", base, folder))
    assert (res.report["rows_read"], res.report["rejected_rows"]) == (2000, 1)
    assert _rejects(res, "truncated line")["source_row"].tolist() == [2001]


def test_row_with_nul_bytes_is_rejected(base, folder):
    res = _ingest(make("nul_bytes", base, folder))
    assert (res.report["rows_read"], res.report["rejected_rows"]) == (2000, 1)
    assert _rejects(res, "NUL bytes")["source_row"].tolist() == [12]


def test_bad_values_are_rejected_per_row_with_the_reason(base, folder):
    res = _ingest(make("bad_values", base, folder))
    assert (res.report["rows_read"], res.report["rejected_rows"]) == (2000, 4)
    by_row = dict(zip(res.rejects["source_row"], res.rejects["reason"]))
    assert "column 'energy': not a number: decimal comma" in by_row[12]
    assert by_row[22] == "column 'tempo': not a number"
    assert by_row[32] == "column 'loudness': not a finite number"
    assert by_row[42] == "column 'valence': not a finite number"
    assert res.report["tracks"] + res.report["duplicate_ids_merged"] == 1996


def test_unreadable_dates_keep_the_track(base, folder):
    res = _ingest(make("bad_dates", base, folder))
    assert res.report["rejected_rows"] == 0
    years = res.tracks.set_index("track_id")["year"]
    got = [years[base.loc[i, "track_id"]] for i in [5, 6, 7, 8]]
    assert pd.isna(got[0]) and pd.isna(got[1]) and got[2:] == [2019, 2019]
    assert res.report["release_date_unknown"] == {"rows": 2, "examples": ["unknown", "0000"]}


def test_conflicting_duplicates_keep_the_first_row_and_are_counted(base, folder, plain):
    res = _ingest(make("conflicting_duplicates", base, folder))
    assert res.report["duplicate_ids_merged"] == plain.report["duplicate_ids_merged"] + 10
    assert res.report["duplicate_ids_conflicting"] == {"ids": 5, "columns": {"tempo": 5}}
    tempo = res.tracks.set_index("track_id")["tempo"]
    assert tempo[base.loc[0, "track_id"]] == float(base.loc[0, "tempo"])  # first row wins


def test_line_with_too_many_fields_is_rejected(base, folder):
    res = _ingest(make("too_many_fields", base, folder))
    assert (res.report["rows_read"], res.report["rejected_rows"]) == (2000, 1)
    assert _rejects(res, "more fields than the header")["source_row"].tolist() == [51]
    # rows after it keep their line numbers: the row from line 52 is the slice's row 50
    assert res.report["tracks"] + res.report["duplicate_ids_merged"] == 1999


@pytest.mark.parametrize("kind, message", [
    ("empty", r"empty\.csv: the file is empty"),
    ("header_only", r"header_only\.csv: the file has a header but no rows"),
    ("missing_column", r"missing_column\.csv: required column 'tempo' is missing"),
    ("garbage", r"garbage\.csv: cannot be read as a catalog: it holds binary data"),
    ("xlsx", r"xlsx\.xlsx: this is an Excel workbook \(\.xlsx\), not a CSV file"),
    ("tracks_1", rf"1 track \(1 rows read.*at least {MIN_TRACKS} tracks"),
    ("tracks_10", rf"10 tracks \(10 rows read.*at least {MIN_TRACKS} tracks"),
    ("identical_features", r"200 tracks but every track has the same audio features"),
])
def test_whole_file_problems_stop_the_preflight(kind, message, base, folder):
    with pytest.raises(CatalogError, match=message):
        preflight([make(kind, base, folder)])


def test_sixty_tracks_pass_the_preflight_completely(base, folder):
    pre = preflight([make("tracks_60", base, folder)])
    assert pre.complete and pre.tracks == 60


# --- through the CLI: exit code and message, nothing started before the error ---

def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "pipeline", "build", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("kind", ["empty", "missing_column", "garbage", "tracks_1"])
def test_cli_refuses_before_any_stage(kind, base, folder, tmp_path):
    proc = _cli("--catalog", str(make(kind, base, folder)), "--cache", str(tmp_path / "c"))
    assert proc.returncode == 2, proc.stderr
    assert f"error: {folder / kind}" in proc.stderr and "Traceback" not in proc.stderr
    assert "stage" not in proc.stderr  # refused in the preflight: no stage, no worker
    assert not (tmp_path / "c").exists()


def test_cli_builds_a_sixty_track_catalog(base, folder, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"embedding": {"epochs": 2, "pairs_per_epoch": 2000, "batch_size": 256}}')
    proc = _cli("--catalog", str(make("tracks_60", base, folder)), "--cache",
                str(tmp_path / "c"), "--config", str(cfg), "--workers", "1", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "catalog : 60 tracks from 60 rows" in proc.stdout and "Traceback" not in proc.stderr
    assert (tmp_path / "c" / "clusters.parquet").exists()


def test_cli_reports_how_the_file_was_read(base, folder, tmp_path):
    """The input line names the encoding and the renamed columns (a 60-row slice of each)."""
    path = folder / "small_cp1252.csv"
    small = accented(base).iloc[:60].rename(columns={"tempo": "TEMPO"})
    small.to_csv(path, index=False, encoding="cp1252")
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"embedding": {"epochs": 1, "pairs_per_epoch": 500, "batch_size": 128}}')
    proc = _cli("--catalog", str(path), "--cache", str(tmp_path / "c"), "--config", str(cfg),
                "--workers", "1", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("input   : small_cp1252.csv: encoding cp1252 (Windows-1252); columns read as "
            "'TEMPO' -> tempo") in proc.stdout


@pytest.mark.parametrize("case", ["missing", "empty_folder", "cache_is_file",
                                  "cache_under_file", "cache_unwritable"])
def test_cli_wrong_paths(case, base, folder, tmp_path):
    good = make("tracks_60", base, folder)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.md").write_text("x")
    (tmp_path / "file").write_text("x")
    catalog, cache, message = {
        "missing": (tmp_path / "none.csv", tmp_path / "c", "none.csv: catalog not found"),
        "empty_folder": (tmp_path / "empty", tmp_path / "c",
                         "empty: folder holds no catalog files (it holds notes.md)"),
        "cache_is_file": (good, tmp_path / "file", "file: the cache path is a file"),
        "cache_under_file": (good, tmp_path / "file" / "c",
                             "cannot create the cache folder: " + str(tmp_path / "file")),
        "cache_unwritable": (good, "/proc/no_cache_here", "the cache folder cannot be written"),
    }[case]
    proc = _cli("--catalog", str(catalog), "--cache", str(cache))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
