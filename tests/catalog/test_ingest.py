"""Ingest: one test per validation rule, merging, same-song groups, release dates."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from catalog_fixtures import (
    BAD_DATE_ROW,
    BAD_ENERGY_ROW,
    BAD_TEMPO_ROW,
    EMPTY_VALENCE_ROW,
    N_PLANTED_BAD,
    make_catalog,
)
from pipeline.catalog.ingest import ingest, parse_release
from pipeline.catalog.reader import read_catalog_file
from pipeline.errors import CatalogError


def _ingest_df(df: pd.DataFrame, tmp_path: Path, name: str = "cat.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return ingest([(read_catalog_file(path), path)])


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return _ingest_df(make_catalog(), tmp_path_factory.mktemp("ing"))


def test_planted_bad_rows_are_rejected_with_reasons(result):
    rej = result.rejects
    assert len(rej) == N_PLANTED_BAD == result.report["rejected_rows"]
    by_row = dict(zip(rej["source_row"] - 2, rej["reason"]))
    assert "column 'tempo': not a number" in by_row[BAD_TEMPO_ROW]
    assert "column 'energy': out of range" in by_row[BAD_ENERGY_ROW]
    assert "column 'valence': empty value" in by_row[EMPTY_VALENCE_ROW]
    assert set(rej["source_file"]) == {"cat.csv"}


def test_unreadable_release_date_keeps_the_track_with_unknown_year(result):
    assert BAD_DATE_ROW not in set(result.rejects["source_row"] - 2)
    track = result.tracks.set_index("track_id").loc[f"T{BAD_DATE_ROW:05d}"]
    assert pd.isna(track["year"]) and pd.isna(track["year_precision"])
    assert result.report["release_date_unknown"] == {"rows": 1, "examples": ["someday"]}


def test_nothing_silently_dropped(result):
    rows_in = result.report["rows_read"]
    merged = result.report["duplicate_ids_merged"]
    assert rows_in == result.report["tracks"] + merged + result.report["rejected_rows"]


def test_duplicate_ids_merged_keeping_every_playlist_and_genre(result):
    t = result.tracks.set_index("track_id")
    assert t.index.is_unique
    assert result.report["duplicate_ids_merged"] == 30 - sum(
        r in range(30) for r in [BAD_TEMPO_ROW, BAD_ENERGY_ROW, EMPTY_VALENCE_ROW])
    row = t.loc["T00000"]
    assert row["n_playlists"] == 2
    assert "pop" in list(row["genres"])
    m = result.memberships
    assert set(m.loc[m["track_id"] == "T00000", "playlist_id"]) >= {"P999"}


def test_same_song_on_several_releases_is_marked_not_dropped(result):
    t = result.tracks.set_index("track_id")
    assert "R00000" in t.index and "T00030" in t.index
    assert t.loc["R00000", "song_group"] == t.loc["T00030", "song_group"]
    assert t.loc["R00000", "n_releases"] == 2
    assert result.report["same_song_groups"] >= 10


def test_missing_text_is_filled_and_counted(result):
    assert result.report["missing_text_filled"] == {"track_name": 1, "artist": 1}
    assert "(unknown artist)" in set(result.tracks["artist"])


def test_release_year_formats():
    year, prec = parse_release(pd.Series(["1999", "2004-07", "2012-11-03", None, "x",
                                          "3/14/2019", "14.03.2019", "2019/03/14", "03/2019",
                                          "2020-01-02T10:00:00Z"]))
    assert year.tolist()[:3] == [1999, 2004, 2012]
    assert prec.tolist()[:3] == ["year", "month", "day"]
    assert pd.isna(year.iloc[3]) and pd.isna(year.iloc[4])
    assert year.tolist()[5:] == [2019, 2019, 2019, 2019, 2020]
    assert prec.tolist()[5:] == ["day", "day", "day", "month", "day"]


@pytest.mark.parametrize("text", ["unknown", "0000", "1066-10-14", "2150", "3/14/19", "soon"])
def test_unparseable_or_implausible_date_is_an_unknown_year(text):
    year, prec = parse_release(pd.Series([text]))
    assert pd.isna(year.iloc[0]) and prec.iloc[0] is None


def test_year_out_of_range_keeps_the_track(tmp_path):
    df = make_catalog(60)
    df.loc[40, "track_album_release_date"] = "1066-10-14"
    res = _ingest_df(df, tmp_path)
    assert 42 not in set(res.rejects["source_row"])
    assert pd.isna(res.tracks.set_index("track_id").loc["T00040", "year"])


def test_empty_track_id_is_rejected(tmp_path):
    df = make_catalog(60)
    df.loc[41, "track_id"] = None
    res = _ingest_df(df, tmp_path)
    assert "empty track id" in res.rejects.set_index("source_row").loc[43, "reason"]


# --- whole-file problems stop the build with a message naming file, column and fix ---

def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(CatalogError, match=r"empty\.csv: the file is empty"):
        read_catalog_file(path)


def test_header_only(tmp_path):
    with pytest.raises(CatalogError, match=r"head\.csv: the file has a header but no rows"):
        _ingest_df(make_catalog(10).iloc[:0], tmp_path, "head.csv")


def test_unreadable_file(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage\x00\x9f")
    with pytest.raises(CatalogError, match=r"binary\.csv: cannot be read as a catalog"):
        read_catalog_file(path)


def test_unknown_schema_lists_found_and_needed_columns(tmp_path):
    path = tmp_path / "odd.csv"
    pd.DataFrame({"song": ["a"], "bpm": [120]}).to_csv(path, index=False)
    with pytest.raises(CatalogError, match=r"odd\.csv: unknown catalog schema\. Columns found: bpm, song"):
        ingest([(read_catalog_file(path), path)])


def test_required_column_entirely_empty(tmp_path):
    df = make_catalog(30)
    df["energy"] = None
    with pytest.raises(CatalogError, match=r"required column 'energy' is entirely empty"):
        _ingest_df(df, tmp_path)


def test_every_row_rejected(tmp_path):
    df = make_catalog(30).astype({"tempo": object})
    df["tempo"] = "fast"
    with pytest.raises(CatalogError, match=r"every row was rejected"):
        _ingest_df(df, tmp_path)


@pytest.mark.parametrize("n_parts", [2, 5])
def test_merged_parts_of_the_track_ids_join_as_the_whole_merge(tmp_path, n_parts):
    """merge_rows on rows split by track_id (each part keeping the rows' positions), then
    join_merged, gives the whole merge: tracks in first-row order, memberships in row order,
    the same counts, conflicts and date examples."""
    from pipeline.catalog.ingest import finish_merge, join_merged, map_rows, merge_rows

    df = make_catalog()
    path = tmp_path / "cat.csv"
    pd.concat([df, df.iloc[::7].assign(playlist_id="again")]).to_csv(path, index=False)
    rows = map_rows(read_catalog_file(path), path).good.reset_index(drop=True)
    whole = merge_rows(rows)
    assert whole.n_rows > len(whole.tracks) and whole.conflicts["ids"]  # duplicates to merge
    part = pd.util.hash_pandas_object(rows["track_id"], index=False).to_numpy() % n_parts
    joined = join_merged([merge_rows(rows[part == k]) for k in range(n_parts)])
    assert joined.conflicts == whole.conflicts and joined.filled == whole.filled
    assert joined.unknown_dates.tolist() == whole.unknown_dates.tolist()
    assert joined.n_rows == whole.n_rows and joined.n_unknown_dates == whole.n_unknown_dates
    pd.testing.assert_frame_equal(joined.memberships, whole.memberships)
    a = finish_merge(joined, rows.iloc[:0], [], [path])
    b = finish_merge(whole, rows.iloc[:0], [], [path])
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    assert a.report == b.report
