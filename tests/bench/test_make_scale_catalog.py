"""The scale-catalog generator (bench/make_scale_catalog.py) on small N: same seed, same
bytes; the source's schema, ranges and genres; new unique ids; realistic artists, playlists
and same-song releases; and the pipeline's ingest accepts it."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.make_scale_catalog import (
    COLUMNS,
    ScaleCatalog,
    Source,
    generate,
    load_source,
    main,
    write_catalog,
)
from catalog_fixtures import real_data
from pipeline.catalog import ingest, read_catalog_file

N = 3000
SHARES = ["danceability", "energy", "speechiness", "acousticness", "instrumentalness",
          "liveness", "valence"]


@pytest.fixture(scope="module")
def source_csv() -> Path:
    return real_data("spotify_songs.csv")


@pytest.fixture(scope="module")
def source(source_csv) -> Source:
    return load_source(source_csv)


@pytest.fixture(scope="module")
def real(source_csv) -> pd.DataFrame:
    return pd.read_csv(source_csv, dtype=str, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def cat(source) -> ScaleCatalog:
    return generate(source, N, seed=0)


@pytest.fixture(scope="module")
def rows(cat) -> pd.DataFrame:
    return cat.rows.to_pandas()


@pytest.fixture(scope="module")
def written(cat, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "scale.csv"
    write_catalog(cat.rows, path)
    return path


def test_same_seed_same_bytes_other_seed_other_catalog(source, written, tmp_path):
    again = tmp_path / "again.csv"
    write_catalog(generate(source, N, seed=0).rows, again)
    assert again.read_bytes() == written.read_bytes()
    other = generate(source, N, seed=1).rows
    assert other.column("track_id").to_pylist()[:50] != \
        pd.read_csv(written, nrows=50)["track_id"].tolist()


def test_exact_track_count_and_source_schema(rows, cat, written, source_csv):
    assert rows["track_id"].nunique() == N == cat.provenance.num_rows
    with open(source_csv, encoding="utf-8-sig") as fh:
        header = fh.readline().strip().split(",")
    assert list(rows.columns) == header == COLUMNS
    with open(written, encoding="utf-8") as fh:
        assert fh.readline().strip().split(",") == header
    reread = pd.read_csv(written)
    assert len(reread) == len(rows) and list(reread.columns) == header


def test_values_in_valid_ranges(rows):
    for col in SHARES:
        assert rows[col].between(0, 1).all(), col
    assert rows["loudness"].between(-60, 5).all()
    assert (rows["tempo"] > 0).all() and (rows["duration_ms"] > 0).all()
    assert rows["duration_ms"].dtype.kind == "i" and rows["track_popularity"].dtype.kind == "i"
    assert rows["track_popularity"].between(0, 100).all()
    assert rows["key"].between(0, 11).all() and rows["mode"].isin([0, 1]).all()
    dates = rows["track_album_release_date"]
    assert dates.str.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?").all()
    assert {4, 10} <= set(dates.str.len())  # YYYY-MM is rare (25 source tracks)
    assert rows[["track_name", "track_artist", "track_album_name"]].notna().all().all()


def test_every_track_blended_from_a_playlist_of_its_genre(rows, cat, real):
    prov = cat.provenance.to_pandas()
    genres = rows.groupby("track_id")["playlist_genre"].agg(set)
    assert all(g in genres[t] for t, g in zip(prov["track_id"], prov["source_genre"]))
    members = set(zip(real["playlist_id"], real["track_id"]))
    assert all((p, a) in members and (p, b) in members for p, a, b in
               zip(prov["source_playlist_id"], prov["parent_a"], prov["parent_b"]))
    assert prov["weight"].between(0.2, 0.8).all()
    # Each new playlist carries the genre and subgenre of its source playlist.
    source_name = rows["playlist_name"].str.replace(r" #\d+$", "", regex=True)
    pairs = set(zip(real["playlist_name"], real["playlist_genre"], real["playlist_subgenre"]))
    assert all(p in pairs for p in zip(source_name, rows["playlist_genre"],
                                       rows["playlist_subgenre"]))


def test_ids_new_unique_and_spotify_shaped(rows, real):
    tracks = rows.drop_duplicates("track_id")
    base62 = re.compile(r"[0-9A-Za-z]{22}")
    for col in ["track_id", "track_album_id", "playlist_id"]:
        assert rows[col].map(lambda s: bool(base62.fullmatch(s))).all(), col
        assert not set(rows[col]) & set(real[col]), col
    assert (rows.groupby("track_id")["track_name"].nunique() == 1).all()
    assert rows.groupby("playlist_id")["playlist_name"].nunique().max() == 1
    assert rows.groupby("playlist_name")["playlist_id"].nunique().max() == 1
    assert not rows.duplicated(["track_id", "playlist_id"]).any()
    assert (tracks.groupby("track_album_id")["track_artist"].nunique() == 1).all()
    assert tracks.groupby("track_album_id").size().max() <= 15


def test_artists_and_playlists_sized_like_the_source(rows, real):
    new_t, src_t = rows.drop_duplicates("track_id"), real.drop_duplicates("track_id")
    new_a, src_a = new_t.groupby("track_artist").size(), src_t.groupby("track_artist").size()
    assert new_a.median() == src_a.median() == 1
    assert abs((new_a == 1).mean() - (src_a == 1).mean()) < 0.08
    assert 3 <= new_a.quantile(0.9) <= 8 and new_a.max() <= src_a.max()
    sizes = rows.groupby("playlist_id").size()
    src_sizes = real.drop_duplicates(["track_id", "playlist_id"]).groupby("playlist_id").size()
    assert abs(len(sizes) / (471 * N / 28356) - 1) < 0.25  # ~50 playlists here
    assert sizes.max() <= src_sizes.max()
    assert src_sizes.quantile(0.25) <= sizes.median() <= src_sizes.quantile(0.75)
    multi = rows.groupby("track_id").size().ge(2).mean()
    src_multi = real.groupby("track_id")["playlist_id"].nunique().ge(2).mean()
    assert abs(multi - src_multi) < 0.03


def test_artists_keep_to_a_genre(rows):
    tracks = rows.drop_duplicates("track_id")
    per_artist = tracks.groupby("track_artist").size()
    top = tracks.groupby(["track_artist", "playlist_genre"]).size().groupby(level=0).max()
    big = per_artist[per_artist >= 5].index
    assert len(big) > 50
    assert (top[big] / per_artist[big]).mean() > 0.75  # six genres: 1/6 by chance


def test_same_song_releases_at_the_source_rate(rows, cat, real):
    def reissue_share(tracks: pd.DataFrame) -> float:
        key = tracks["track_name"] + "\x1f" + tracks["track_artist"]
        dup = key.notna() & key.duplicated(keep=False)
        return (dup.sum() - key[dup].nunique()) / len(tracks)

    new_share = reissue_share(rows.drop_duplicates("track_id"))
    assert abs(new_share - reissue_share(real.drop_duplicates("track_id"))) < 0.015
    prov = cat.provenance.to_pandas().set_index("track_id")
    tracks = rows.drop_duplicates("track_id").set_index("track_id")
    re_ids = prov.index[prov["reissue_of"].notna()]
    orig = tracks.loc[prov.loc[re_ids, "reissue_of"]]
    again = tracks.loc[re_ids]
    assert len(re_ids) / N == pytest.approx(new_share, abs=0.002)
    assert (again["track_name"].to_numpy() == orig["track_name"].to_numpy()).all()
    assert (again["track_album_id"].to_numpy() != orig["track_album_id"].to_numpy()).all()
    assert np.abs(again["danceability"].to_numpy() - orig["danceability"].to_numpy()).max() < 0.02


def test_pipeline_ingest_accepts_it(written, rows):
    result = ingest([(read_catalog_file(written), written)])
    assert result.report["rejected_rows"] == 0, result.rejects.head().to_dict("records")
    assert result.report["tracks"] == N
    assert result.report["playlists"] == rows["playlist_id"].nunique()
    assert result.report["schemas"] == ["songs30k"]


def test_cli_writes_csv_and_parquet(source_csv, tmp_path, capsys):
    for name in ["small.csv", "small.parquet"]:
        assert main(["--tracks", "200", "--out", str(tmp_path / name),
                     "--source", str(source_csv)]) == 0
        assert capsys.readouterr().out.startswith("tracks 200 | rows ")
    csv, parquet = pd.read_csv(tmp_path / "small.csv"), pd.read_parquet(tmp_path / "small.parquet")
    assert list(parquet.columns) == COLUMNS and len(parquet) == len(csv)
    assert parquet["track_id"].tolist() == csv["track_id"].tolist()
