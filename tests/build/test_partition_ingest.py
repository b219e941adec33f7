"""The ingest stage over partitions (pipeline/build/engines/partition_ingest.py) writes the
same four artifacts as the local stage: tracks.parquet, memberships.parquet, rejects.csv
byte for byte, ingest_report.json apart from timings; a file it cannot cut is read whole,
and bad input fails with the local stage's message.

Two levels: the form's functions (scan, one part per chunk, combine: what the workers run)
called here in order over every kind of damaged file of the corpus at chunks of 100
records, fast; and the Dask engine on a LocalCluster(n_workers=2, threads_per_worker=1,
processes=True) this module starts and closes, on a folder of three files built to put the
hard cases across chunks and files, on the real default catalog at chunks of 3,000 records,
and on a folder whose second file lacks a required column. The real catalog is needed
(the corpus is cut from it): skipped without it, a failure in CI (CI=true).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from corpus.make_corpus import MAKERS, base_slice, make

from bench.dask_bench import same_artifact
from catalog_fixtures import real_data
from pipeline.build import Context
from pipeline.build.engines import dask as dask_engine
from pipeline.build.engines import partition_ingest
from pipeline.build.engines.dask import local_cluster
from pipeline.build.engines.local import run_stage
from pipeline.build.engines.partition_files import cleanup
from pipeline.build.engines.partition_ingest_read import plan_file
from pipeline.build.engines.partitions import PartitionConfig
from pipeline.config import PipelineConfig
from pipeline.errors import CatalogError

OUTPUTS = ["tracks.parquet", "memberships.parquet", "rejects.csv", "ingest_report.json"]
CHUNK = 100


def _local(files: list[Path], cache: Path) -> str | None:
    """The local stage's artifacts in ``cache``, or its error message."""
    cache.mkdir(parents=True)
    try:
        run_stage("ingest", Context(cache, PipelineConfig(), files))
    except CatalogError as exc:
        return str(exc)
    return None


def _form(files: list[Path], cache: Path, rows: int) -> tuple[str | None, dict]:
    """The partitioned form's tasks run here in order (scan, parts, combine)."""
    cache.mkdir(parents=True)
    ctx = Context(cache, PipelineConfig(), files)
    fit = partition_ingest.scan(ctx, rows)
    try:
        partition_ingest.combine(ctx, fit, [partition_ingest.part(ctx, fit, lo, hi)
                                            for lo, hi in fit["ranges"]])
    except CatalogError as exc:
        return str(exc), fit
    finally:
        cleanup(ctx, "ingest")
    return None, fit


def _same(a: Path, b: Path) -> list[str]:
    return [n for n in OUTPUTS if not same_artifact(a / n, b / n)]


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return base_slice(real_data("spotify_songs.csv"))


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_each_damaged_file_ingests_as_the_local_stage(kind, base, tmp_path):
    path = make(kind, base, tmp_path)
    local = _local([path], tmp_path / "local")
    error, fit = _form([path], tmp_path / "form", CHUNK)
    assert error == local
    if local is None:
        assert not _same(tmp_path / "local", tmp_path / "form")
    whole = [f["whole"] for f in fit["files"] if "whole" in f]
    if path.suffix == ".csv" and kind not in ("utf16", "empty", "garbage"):
        small = kind.startswith("tracks_") or kind in ("header_only", "identical_features")
        assert not whole and (small or len(fit["ranges"]) >= 10), kind
    else:  # gzip, zip, xlsx, UTF-16, binary, empty: one partition, read whole
        assert whole and len(fit["ranges"]) == 1, kind


def test_a_quote_the_scan_cannot_place_reads_the_file_whole(base, tmp_path):
    """A quote inside an unquoted value (5" vinyl) is text to pandas' parser, so counting
    quotes would misplace the records after it: the scan gives the file up."""
    df = base.copy()
    df.loc[120, "track_name"] = 'The 12" Mix'
    path = tmp_path / "inch.csv"
    text = df.to_csv(index=False).replace('"The 12"" Mix"', 'The 12" Mix')
    path.write_text(text)
    assert "whole" in plan_file(path, CHUNK)
    local = _local([path], tmp_path / "local")
    assert _form([path], tmp_path / "form", CHUNK)[0] == local is None
    assert not _same(tmp_path / "local", tmp_path / "form")


def _hard_folder(base: pd.DataFrame, folder: Path) -> list[Path]:
    """Three files that put the hard cases across chunks of 100 records and across files:

    a.csv: a quoted value of 6 lines spanning the first chunk boundary (records 99-100),
    a line with too many fields, NUL bytes, a repeated header line, Windows-1252 lines in
    its third chunk only; b.csv: Excel's ``sep=;`` line, rows repeating a.csv's ids under
    other playlists (one with another tempo) and the same songs under new ids, a truncated
    last line; c.csv: a.csv's ids again, with a BOM.
    """
    folder.mkdir()
    a = base.iloc[:600].copy()
    a.loc[99, "track_name"] = "Line one\nline two\nthree\n\"four\"\nfive\nsix"
    text = a.to_csv(index=False)
    lines = text.split("\n")
    lines[40] += ",extra,field"
    lines[150] = lines[150].replace(",", ",\x00", 1)
    lines[330] = lines[0]
    raw = "\n".join(lines).encode()
    parts = raw.split(b"\n")
    for i in (260, 270):  # an accented artist, written by a Windows export
        parts[i] = parts[i].replace(b",", ",Motörhead ".encode("cp1252"), 1)
    (folder / "a.csv").write_bytes(b"\n".join(parts))
    b = base.iloc[600:900].copy()
    dup = base.iloc[:50].copy()
    dup["playlist_id"] = "folder-extra"
    dup.loc[dup.index[:5], "tempo"] = "99.5"
    same = base.iloc[50:80].copy()
    same["track_id"] = same["track_id"].str[::-1]
    b = pd.concat([b, dup, same], ignore_index=True)
    text = "sep=;\n" + b.to_csv(index=False, sep=";")
    (folder / "b.csv").write_text(text.rstrip("\n")[:-25])
    c = base.iloc[100:200].copy()
    c["playlist_id"] = "folder-c"
    (folder / "c.csv").write_bytes(b"\xef\xbb\xbf" + c.to_csv(index=False).encode())
    return sorted(folder.iterdir())


def test_the_hard_folder_is_cut_where_it_should(base, tmp_path):
    files = _hard_folder(base, tmp_path / "in")
    plans = [plan_file(p, CHUNK) for p in files]
    assert all("whole" not in p for p in plans)
    a = files[0].read_bytes()
    second = plans[0]["chunks"][1][0]  # whole records: the 6-line value stays in chunk 1
    assert b"\nsix" in a[:second] and b"\nsix" not in a[second:]
    assert a[second:].startswith(base["track_id"].iloc[100].encode())
    assert plans[1]["skip"] == 1 and plans[1]["sep"] == ";" and plans[2]["bom"] == 3


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def dask_runs(tmp_path_factory, base):
    """Local stage vs the Dask engine (partitions forced on) for three catalogs, on one
    LocalCluster: the hard folder (chunks of 100), the default catalog (chunks of 3,000),
    and a folder whose second file lacks a required column."""
    work = tmp_path_factory.mktemp("ingest-dask")
    hard = _hard_folder(base, work / "hard")
    bad = work / "bad"
    bad.mkdir()
    base.iloc[:300].to_csv(bad / "a.csv", index=False)
    base.iloc[300:].drop(columns=["tempo"]).to_csv(bad / "b.csv", index=False)
    cases = {"hard": (hard, CHUNK), "default": ([real_data("spotify_songs.csv")], 3_000),
             "bad": (sorted(bad.iterdir()), CHUNK)}
    lines = _Lines()
    logger = logging.getLogger(dask_engine.__name__)
    logger.addHandler(lines)
    level = logger.level
    logger.setLevel(logging.INFO)
    out = {}
    try:
        with local_cluster(2, dashboard_address=":0") as cluster:
            for name, (files, rows) in cases.items():
                local = _local(files, work / name / "local")
                (work / name / "dask").mkdir()
                start = len(lines.lines)
                try:
                    dask_engine.execute(["ingest"], {"ingest": ()},
                                        Context(work / name / "dask", PipelineConfig(), files),
                                        2, lambda stage: None,
                                        scheduler=cluster.scheduler_address,
                                        partitions=PartitionConfig(min_rows=1, rows=rows))
                    error = None
                except CatalogError as exc:
                    error = str(exc)
                out[name] = (work / name, local, error, lines.lines[start:])
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    return out


def _partitions(lines: list[str]) -> int:
    m = next(re.search(r"stage ingest\s+runs over (\d+) partitions", ln) for ln in lines
             if "runs over" in ln)
    return int(m.group(1))


def test_dask_ingest_of_the_hard_folder_is_the_local_one(dask_runs):
    work, local, error, lines = dask_runs["hard"]
    assert local is None and error is None
    assert _partitions(lines) == 11  # 3 files: 6 + 4 + 1 chunks of 100 records (scanned: above)
    assert sum(bool(re.match(r"ingest: partition \d+/\d+ done", ln)) for ln in lines) >= 10
    assert not _same(work / "local", work / "dask")
    rejects = pd.read_csv(work / "dask" / "rejects.csv")
    assert rejects["reason"].str.contains("more fields than the header").any()
    assert rejects["reason"].str.contains("NUL bytes").any()
    assert rejects["reason"].str.contains("repeated header").any()
    assert rejects["reason"].str.contains("truncated line").any()
    report = (work / "dask" / "ingest_report.json").read_text()
    assert "cp1252" in report and "utf-8-sig" in report
    tracks = pd.read_parquet(work / "dask" / "tracks.parquet")
    assert tracks["track_name"].str.contains("\nsix", regex=False).any()
    assert (tracks["n_source_rows"] > 1).sum() >= 50 and (tracks["n_releases"] > 1).any()
    assert not any((work / "dask" / ".parts").glob("*/*"))  # scratch removed


def test_dask_ingest_of_the_default_catalog_is_the_local_one(dask_runs):
    work, local, error, lines = dask_runs["default"]
    assert local is None and error is None
    assert _partitions(lines) == 11  # 32,833 records in chunks of 3,000
    assert not _same(work / "local", work / "dask")
    tracks = pd.read_parquet(work / "dask" / "tracks.parquet", columns=["track_id"])
    assert len(tracks) == 28_356


def test_dask_ingest_of_a_bad_file_fails_with_the_local_message(dask_runs):
    work, local, error, _ = dask_runs["bad"]
    assert local and error == local
    assert "b.csv: required column 'tempo' is missing" in error
    assert not (work / "dask" / "tracks.parquet").exists()


def test_windows_line_ends_and_blank_lines_across_chunks(base, tmp_path):
    """CRLF line ends, and blank lines (pandas numbers them, so the skipped lines after
    them are numbered from the scan's record counts) before a line with too many fields
    in a later chunk."""
    lines = base.iloc[:700].to_csv(index=False).split("\n")
    for i in (30, 130, 131, 250):
        lines[i] = ""
    lines[420] += ",one,too,many"
    path = tmp_path / "crlf.csv"
    path.write_bytes("\r\n".join(lines).encode())
    assert "whole" not in plan_file(path, CHUNK)
    local = _local([path], tmp_path / "local")
    error, fit = _form([path], tmp_path / "form", CHUNK)
    assert error == local is None and len(fit["ranges"]) >= 7
    assert not _same(tmp_path / "local", tmp_path / "form")
    assert "more fields" in (tmp_path / "form" / "rejects.csv").read_text()


def test_a_folder_of_csv_and_parquet(base, tmp_path):
    """A parquet file of 150-row groups is cut by row groups (5 chunks), beside a CSV cut
    in chunks of records (8); ids shared between the two merge as the local stage merges
    them."""
    folder = tmp_path / "in"
    folder.mkdir()
    base.iloc[:800].to_csv(folder / "a.csv", index=False)
    b = base.iloc[500:1200].copy()
    b["playlist_id"] = "parquet-list"
    b.to_parquet(folder / "b.parquet", index=False, row_group_size=150)
    files = sorted(folder.iterdir())
    local = _local(files, tmp_path / "local")
    error, fit = _form(files, tmp_path / "form", CHUNK)
    assert error == local is None
    assert not any("whole" in f for f in fit["files"])
    assert [sum(c["file"] == i for c in fit["chunks"]) for i in (0, 1)] == [8, 5]
    assert not _same(tmp_path / "local", tmp_path / "form")


def test_a_chunk_the_parser_refuses_sends_its_file_to_a_whole_read(base, tmp_path,
                                                                   monkeypatch):
    """The combine reads such a file whole: the local bytes, or the local read's message."""
    path = tmp_path / "f.csv"
    base.iloc[:400].to_csv(path, index=False)
    real = partition_ingest.read_chunk

    def refuse_second(path, plan, chunk):
        if chunk[2] > plan["prefix_records"]:
            raise pd.errors.ParserError("Error tokenizing data. C error: planted")
        return real(path, plan, chunk)

    monkeypatch.setattr(partition_ingest, "read_chunk", refuse_second)
    local = _local([path], tmp_path / "local")
    assert _form([path], tmp_path / "form", CHUNK)[0] == local is None
    assert not _same(tmp_path / "local", tmp_path / "form")


def test_read_errors_come_before_mapping_errors_as_in_the_local_stage(base, tmp_path):
    """The local stage reads every file before it maps one: a binary second file is named
    before a first file that lacks a column."""
    folder = tmp_path / "in"
    folder.mkdir()
    base.iloc[:300].drop(columns=["tempo"]).to_csv(folder / "a.csv", index=False)
    (folder / "b.csv").write_bytes(bytes((i * 7919 + 13) % 256 for i in range(20_000)))
    files = sorted(folder.iterdir())
    local = _local(files, tmp_path / "local")
    assert local and "b.csv: cannot be read as a catalog: it holds binary data" in local
    assert _form(files, tmp_path / "form", CHUNK)[0] == local


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_record_ends_do_not_depend_on_the_scans_block_size(block, tmp_path, monkeypatch):
    """The scan reads 64 MiB at a time; runs of quotes, carriage returns and newlines cut
    by a block's end must give the same record ends (here with blocks of a few bytes)."""
    from pipeline.build.engines import partition_ingest_read as read

    path = tmp_path / "f.csv"
    path.write_bytes(b'a,b\r\n"x\r\ny",1\r\n"""q""",""\r\n,"a ""b"" c"\r\n\r\n"\n\n",2\r\nlast,3')
    expected = [4, 14, 26, 40, 42, 50]
    assert read.record_ends(path, 0, path.stat().st_size, ord(",")).tolist() == expected
    monkeypatch.setattr(read, "BLOCK", block)
    assert read.record_ends(path, 0, path.stat().st_size, ord(",")).tolist() == expected
    bad = tmp_path / "g.csv"
    bad.write_bytes(b'a,b\n1,x"y\n2,3\n')  # a quote inside an unquoted value
    assert read.record_ends(bad, 0, bad.stat().st_size, ord(",")) is None
    cr = tmp_path / "h.csv"
    cr.write_bytes(b"a,b\r1,2\r3,4\r")  # old Mac line ends: pandas' line ends, not ours
    assert read.record_ends(cr, 0, cr.stat().st_size, ord(",")) is None


@pytest.mark.parametrize("buckets", [1, 3, 64])
def test_the_bucketed_merge_does_not_depend_on_the_number_of_buckets(buckets, base, tmp_path,
                                                                     monkeypatch):
    """The merge runs per bucket of track ids (one Dask task each) and the buckets are
    joined in catalog order: the same bytes for 1, 3 or 64 buckets, on ids repeated across
    chunks and files with other playlists, genres and a conflicting tempo, and the same
    song under new ids."""
    monkeypatch.setattr(partition_ingest, "n_buckets", lambda chunks: buckets)
    folder = tmp_path / "in"
    folder.mkdir()
    a = base.iloc[:500].copy()
    b = base.iloc[:500:3].copy()
    b["playlist_id"] = "again-" + b["playlist_id"].astype(str)
    b["playlist_genre"] = b["playlist_genre"].iloc[::-1].to_numpy()
    b.loc[b.index[:7], "tempo"] = "99.5"
    c = base.iloc[:200:4].copy()
    c["track_id"] = "new" + c["track_id"].astype(str)
    a.to_csv(folder / "a.csv", index=False)
    pd.concat([b, c]).to_csv(folder / "b.csv", index=False)
    files = sorted(folder.iterdir())
    local = _local(files, tmp_path / "local")
    error, fit = _form(files, tmp_path / "form", CHUNK)
    assert error == local is None and fit["buckets"] == buckets
    assert not _same(tmp_path / "local", tmp_path / "form")
