"""Where the catalog comes from: an explicit path, $CATALOG, data/raw, or the public source."""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

from pipeline.errors import CatalogError

log = logging.getLogger(__name__)

DEFAULT_URL = (
    "https://raw.githubusercontent.com/rfordatascience/tidytuesday/master/"
    "data/2020/2020-01-21/spotify_songs.csv"
)
DEFAULT_MD5 = "976d25e04baef7d04df69175fb013dd4"
DEFAULT_NAME = "spotify_songs.csv"
# What a folder may hold: CSV/TSV exports (optionally gzip-compressed), one-file zips,
# parquet (a .txt beside them is more often a note than a catalog; pass one by name).
CATALOG_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".zip", ".parquet")


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    """md5 hex digest of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def resolve_catalog(
    catalog: str | os.PathLike | None,
    raw_dir: Path = Path("data/raw"),
    url: str = DEFAULT_URL,
    md5: str = DEFAULT_MD5,
) -> list[Path]:
    """Find the catalog file(s) to build from.

    Order: ``catalog`` argument, ``$CATALOG``, ``raw_dir/spotify_songs.csv``, then a
    download of the default catalog into ``raw_dir`` (checksum verified).
    A directory yields every CSV/parquet inside it (e.g. the hit-predictor decades).
    """
    given = catalog or os.environ.get("CATALOG")
    if given:
        path = Path(given)
        if not path.exists():
            raise CatalogError(
                f"{path}: catalog not found. Pass an existing CSV or parquet file "
                "(or a folder of them) with --catalog or the CATALOG environment variable."
            )
        if path.is_dir():
            return _folder_files(path)
        return [path]
    local = raw_dir / DEFAULT_NAME
    if local.exists():
        return [local]
    return [download_default(local, url, md5)]


def download_default(dest: Path, url: str = DEFAULT_URL, md5: str = DEFAULT_MD5) -> Path:
    """Download the default catalog to ``dest`` atomically and verify its md5."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading the default catalog from %s", url)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    os.close(fd)
    try:
        urllib.request.urlretrieve(url, tmp)  # noqa: S310 - fixed https URL
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CatalogError(
            f"Could not download the default catalog ({exc}). You seem to be offline: "
            f"copy spotify_songs.csv (md5 {md5}) to {dest.resolve()} "
            "or pass --catalog PATH / set CATALOG=PATH."
        ) from None
    got = md5_of(Path(tmp))
    if got != md5:
        Path(tmp).unlink(missing_ok=True)
        raise CatalogError(
            f"{url}: downloaded file has md5 {got}, expected {md5}; the file was discarded. "
            f"Place a verified copy at {dest.resolve()}."
        )
    os.replace(tmp, dest)
    return dest


def _folder_files(folder: Path) -> list[Path]:
    """Every catalog file in a folder (not its subfolders), or say what the folder holds."""
    entries = sorted(folder.iterdir())
    files = [p for p in entries if p.is_file() and not p.name.startswith(".")
             and p.name.lower().endswith(CATALOG_SUFFIXES)]
    if not files:
        held = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:8]) or "nothing"
        more = f" and {len(entries) - 8} more" if len(entries) > 8 else ""
        raise CatalogError(
            f"{folder}: folder holds no catalog files (it holds {held}{more}). Put the "
            f"catalog there as {', '.join(CATALOG_SUFFIXES)}, or pass the file itself.")
    return files
