"""Reader: what each detection does on small hand-made files (the corpus covers real slices)."""
from __future__ import annotations

import pytest

from pipeline.catalog.reader import read_catalog_file
from pipeline.errors import CatalogError


def _read(tmp_path, data: bytes, name: str = "f.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return read_catalog_file(path)


def test_excel_sep_line_sets_the_separator(tmp_path):
    df = _read(tmp_path, b"sep=;\na;b\n1,5;2\n")
    assert list(df.columns) == ["a", "b"] and df.iloc[0].tolist() == ["1,5", "2"]
    assert df.attrs["read"]["separator"] == ";" and df.attrs["read"]["separator_line"]


def test_utf16_without_bom_is_recognised(tmp_path):
    df = _read(tmp_path, "a,b\nÉté,2\n".encode("utf-16-le"))
    assert df.attrs["read"]["encoding"] == "utf-16-le" and df.iloc[0, 0] == "Été"


def test_a_file_joined_from_two_encodings_decodes_line_by_line(tmp_path):
    data = "a,b\nBjörk,1\n".encode() + "Motörhead,2\n".encode("cp1252")
    df = _read(tmp_path, data)
    assert df["a"].tolist() == ["Björk", "Motörhead"]
    assert df.attrs["read"]["encoding"] == "utf-8 + cp1252 (Windows-1252) (1 lines)"


def test_line_numbers_of_lines_with_too_many_fields(tmp_path):
    df = _read(tmp_path, b"a,b\n1,2\n3,4,5\n6,7\n")
    assert df["a"].tolist() == ["1", "6"]
    assert [line for line, _ in df.attrs["read"]["bad_lines"]] == [3]


def test_truncated_inside_a_quoted_value(tmp_path):
    df = _read(tmp_path, b'a,b\n1,2\n3,"cut off')
    assert df["b"].tolist() == ["2", "cut off"] and df.attrs["read"]["truncated_row"] == 1


def test_last_line_without_newline_is_not_truncated(tmp_path):
    assert _read(tmp_path, b"a,b\n1,2\n3,4").attrs["read"]["truncated_row"] is None


def test_zip_with_two_catalogs_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", "a,b\n1,2\n")
        zf.writestr("b.csv", "a,b\n1,2\n")
    with pytest.raises(CatalogError, match=r"two\.zip: a \.zip catalog must hold exactly one"):
        read_catalog_file(path)


def test_one_column_file_is_not_a_catalog(tmp_path):
    with pytest.raises(CatalogError, match=r"f\.csv: cannot be read as a catalog: its first "
                                           r"line has no column separator"):
        _read(tmp_path, b"just some words\nand more\n")


def test_sample_read_stops_at_a_complete_line(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(200_000)))
    df = read_catalog_file(path, sample=True)
    assert not df.attrs["read"]["complete"] and 1000 < len(df) < 200_000
    assert df["b"].iloc[-1] == f"x{len(df) - 1}"
