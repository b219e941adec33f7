"""A corpus of messy catalog files, made at test time from slices of the real default catalog.

Each maker writes one file the way a spreadsheet, an export or a hand edit would, and
returns its path; ``tests/corpus/test_corpus.py`` holds one test per kind. Nothing here is
checked-in data. Run it to look at the files:
``python tests/corpus/make_corpus.py OUT_DIR`` (writes every case into OUT_DIR).
"""
from __future__ import annotations

import gzip
import sys
import zipfile
from pathlib import Path

import pandas as pd

SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "spotify_songs.csv"
ACCENTED = ["Beyoncé", "Sigur Rós", "Motörhead", "Françoise Hardy", "Björk"]


def base_slice(source: Path = SOURCE, n: int = 2000, start: int = 0) -> pd.DataFrame:
    """Rows ``start:start+n`` of the real catalog, every value as text (as the file holds it)."""
    df = pd.read_csv(source, dtype=str, keep_default_na=False, nrows=start + n)
    return df.iloc[start:].reset_index(drop=True)


def _csv(df: pd.DataFrame, path: Path, **kw) -> Path:
    df.to_csv(path, index=False, **kw)
    return path


def accented(df: pd.DataFrame) -> pd.DataFrame:
    """The slice with accented artist names planted in rows 0-4 (ASCII elsewhere, so any
    legacy encoding can hold the file)."""
    out = df.copy()
    for col in ["track_name", "track_artist", "track_album_name", "playlist_name"]:
        out[col] = out[col].str.encode("ascii", "replace").str.decode("ascii")
    out.loc[:len(ACCENTED) - 1, "track_artist"] = ACCENTED
    return out


def make(kind: str, df: pd.DataFrame, d: Path) -> Path:
    """Write the corpus file of ``kind`` from the slice ``df`` into folder ``d``."""
    return MAKERS[kind](df, d / f"{kind}.csv")


def _encoded(encoding: str):
    return lambda df, p: _csv(accented(df), p, encoding=encoding)


def _separated(sep: str):
    return lambda df, p: _csv(df, p, sep=sep)


def _gz(df: pd.DataFrame, p: Path) -> Path:
    out = p.with_suffix(".csv.gz")
    out.write_bytes(gzip.compress(df.to_csv(index=False).encode()))
    return out


def _zip(df: pd.DataFrame, p: Path) -> Path:
    out = p.with_suffix(".zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("export/catalog.csv", df.to_csv(index=False))
    return out


def _quoted_newlines(df: pd.DataFrame, p: Path) -> Path:
    out = df.copy()
    out.loc[[3, 7], "track_name"] = ["Line one\nline two", "Say \"hi\",\r\nthen go"]
    return _csv(out, p)


def _header_variants(df: pd.DataFrame, p: Path) -> Path:
    return _csv(df.rename(columns={"danceability": "Danceability ", "tempo": "TEMPO",
                                   "track_name": "Track Name", "energy": " energy"}), p)


def _near_miss(df: pd.DataFrame, p: Path) -> Path:
    return _csv(df.rename(columns={"danceability": "danceabilty"}), p)


def _repeated_header(df: pd.DataFrame, p: Path) -> Path:
    half = len(df) // 2
    text = df.iloc[:half].to_csv(index=False) + df.iloc[half:].to_csv(index=False)
    p.write_text(text)
    return p


def _truncated(df: pd.DataFrame, p: Path) -> Path:
    text = df.to_csv(index=False).rstrip("\n")
    p.write_text(text[:text.rfind("\n") + 40])  # the last line cut after 40 characters
    return p


def _nul_bytes(df: pd.DataFrame, p: Path) -> Path:
    lines = df.to_csv(index=False).split("\n")
    lines[11] = lines[11].replace(",", ",\x00\x00", 2)
    p.write_text("\n".join(lines))
    return p


def _bad_values(df: pd.DataFrame, p: Path) -> Path:
    out = df.copy()
    out.loc[10, "energy"] = "0,7"          # locale decimal
    out.loc[20, "tempo"] = "fast"          # text in a numeric column
    out.loc[30, "loudness"] = "inf"        # not finite
    out.loc[40, "valence"] = "-Infinity"
    return _csv(out, p)


def _bad_dates(df: pd.DataFrame, p: Path) -> Path:
    out = df.copy()
    out.loc[[5, 6, 7, 8], "track_album_release_date"] = ["unknown", "0000", "3/14/2019",
                                                        "14.03.2019"]
    return _csv(out, p)


def _conflicting_duplicates(df: pd.DataFrame, p: Path) -> Path:
    """Rows 0-9 again under another playlist, rows 0-4 with a different tempo."""
    dup = df.iloc[:10].copy()
    dup["playlist_id"] = "corpus-extra"
    dup.loc[:4, "tempo"] = "99.5"
    return _csv(pd.concat([df, dup], ignore_index=True), p)


def _too_many_fields(df: pd.DataFrame, p: Path) -> Path:
    lines = df.to_csv(index=False).split("\n")
    lines[50] = lines[50] + ",extra,fields"
    p.write_text("\n".join(lines))
    return p


def _empty(df: pd.DataFrame, p: Path) -> Path:
    p.write_bytes(b"")
    return p


def _header_only(df: pd.DataFrame, p: Path) -> Path:
    return _csv(df.iloc[:0], p)


def _missing_column(df: pd.DataFrame, p: Path) -> Path:
    return _csv(df.drop(columns=["tempo"]), p)


def _garbage(df: pd.DataFrame, p: Path) -> Path:
    p.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(100_000)))
    return p


def _xlsx(df: pd.DataFrame, p: Path) -> Path:
    out = p.with_suffix(".xlsx")
    with zipfile.ZipFile(out, "w") as zf:  # the layout of a workbook, enough to be one
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    return out


def _sized(n: int):
    return lambda df, p: _csv(df.iloc[:n], p)


def _identical(df: pd.DataFrame, p: Path) -> Path:
    out = df.iloc[:200].copy()
    for col in ["danceability", "energy", "loudness", "speechiness", "acousticness",
                "liveness", "valence", "tempo"]:
        out[col] = out[col].iloc[0]
    return _csv(out, p)


MAKERS = {
    "utf8_bom": _encoded("utf-8-sig"), "cp1252": _encoded("cp1252"),
    "latin1": _encoded("latin-1"), "utf16": _encoded("utf-16"),
    "semicolon": _separated(";"), "tab": _separated("\t"), "gzip": _gz, "zip": _zip,
    "quoted_newlines": _quoted_newlines, "header_variants": _header_variants,
    "near_miss": _near_miss, "repeated_header": _repeated_header, "truncated": _truncated,
    "nul_bytes": _nul_bytes, "bad_values": _bad_values, "bad_dates": _bad_dates,
    "conflicting_duplicates": _conflicting_duplicates, "too_many_fields": _too_many_fields,
    "empty": _empty, "header_only": _header_only, "missing_column": _missing_column,
    "garbage": _garbage, "xlsx": _xlsx, "tracks_1": _sized(1), "tracks_10": _sized(10),
    "tracks_60": _sized(60), "identical_features": _identical,
}


if __name__ == "__main__":
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    base = base_slice()
    for kind in MAKERS:
        print(make(kind, base, out_dir))
