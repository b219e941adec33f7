"""The Cluster map's files for the browser, written once per build.

The browser fetches them over HTTP from the map component's data folder (see
``dashboard.components``) and keeps them: a colour change, a zoom or a lasso never re-sends
points. Layout of ``<root>/<key>/`` (``key`` names the build):

- ``meta.json``: track count, bounds, the colourings (labels, colours, scales);
- ``xy.bin.gz``: float32 (x, y) per track, interleaved;
- ``c_<name>.bin.gz``: one uint8/uint16 code per track for each colouring;
- ``text/<i>.json.gz``: hover-card rows ``i * TEXT_CHUNK`` onwards, fetched on hover.

Files are stored gzip-compressed (the server sends ``.gz`` as is, without re-compressing
it per request; the browser inflates them with ``DecompressionStream``). A folder appears
under its final name only when complete (written aside, then renamed), so two servers or
sessions building the same key never see half a folder.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.map_data import COLOR_BY, Channel, MapArrays

log = logging.getLogger(__name__)

FORMAT = 2                 # bump when the files' layout changes
TEXT_CHUNK = 4096          # hover rows per text file (~100 kB compressed)
GZIP_LEVEL = 3             # float coordinates barely compress; a low level is ~5x faster
STALE_DAYS = 2.0           # folders of other builds untouched this long are removed
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
           "#6ece58", "#b5de2b", "#fde725")
HOVER_COLS = ("track_name", "artist", "genre", "year", "energy", "danceability", "valence",
              "tempo", "popularity")


def files_root() -> Path:
    """Where map folders live: ``$MAP_FILES_DIR``, else a per-user folder in the temp dir
    (derived data: any folder can be deleted, it is rewritten on the next visit)."""
    env = os.environ.get("MAP_FILES_DIR")
    root = Path(env) if env else Path(tempfile.gettempdir()) / f"catalog-explorer-map-{os.getuid()}"
    root.mkdir(parents=True, exist_ok=True)
    return root


def build_folder_key(cache: str, mtime: float) -> str:
    """A folder name for one build of one cache (its resolved path and manifest time)."""
    text = f"{FORMAT}|{os.path.realpath(cache)}|{mtime!r}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _gz(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))
    os.replace(tmp, path)


def meta_json(arrays: MapArrays, channels: dict[str, Channel], key: str) -> dict:
    """The browser's description of a build's map (no per-track data)."""
    xy = arrays.xy
    return {"format": FORMAT, "key": key, "n": arrays.n, "text_chunk": TEXT_CHUNK,
            "bounds": [float(xy[:, 0].min()), float(xy[:, 0].max()),
                       float(xy[:, 1].min()), float(xy[:, 1].max())] if arrays.n else [0, 1, 0, 1],
            "fit": fit_bounds(xy),
            "color_by": [c for c in COLOR_BY if c in channels], "scale": list(VIRIDIS),
            "channels": {name: ch.meta() for name, ch in channels.items()}}


def fit_bounds(xy: np.ndarray, q: float = 0.001) -> list[float]:
    """The first view: [x0, x1, y0, y1] around all but the outermost ``q`` of the tracks on
    each side (a few outliers would otherwise shrink the map to a corner), padded by 3%."""
    if not len(xy):
        return [0.0, 1.0, 0.0, 1.0]
    lo, hi = np.quantile(xy, [q, 1 - q], axis=0)
    pad = np.maximum((hi - lo) * 0.03, 1e-6)
    return [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]),
            float(hi[1] + pad[1])]


def hover_rows(tracks: pd.DataFrame, cluster_codes: np.ndarray) -> pd.DataFrame:
    """The hover card's columns, rounded (title, artist, genre, year, features, cluster code)."""
    out = pd.DataFrame({"t": tracks["track_name"].astype(str).str.slice(0, 80),
                        "a": tracks["artist"].astype(str).str.slice(0, 60),
                        "g": tracks["genre"].astype("string").fillna("unknown")})
    for col in HOVER_COLS[3:]:
        v = tracks[col].to_numpy(dtype=float, na_value=np.nan)
        out[col] = np.round(v, 0 if col in ("year", "popularity", "tempo") else 2)
    out["c"] = cluster_codes.astype(int)
    return out


def write_text_chunks(folder: Path, table: pd.DataFrame) -> None:
    """``text/<i>.json.gz`` for every chunk (arrays of rows; NaN as null)."""
    text = folder / "text"
    text.mkdir(exist_ok=True)
    for i, start in enumerate(range(0, len(table), TEXT_CHUNK)):
        part = table.iloc[start:start + TEXT_CHUNK]
        _gz(text / f"{i}.json.gz", part.to_json(orient="values").encode("utf-8"))
    (text / "done").write_text(str(len(table)))


def write_map_files(root: Path, key: str, arrays: MapArrays, channels: dict[str, Channel]
                    ) -> Path:
    """Write ``root/key`` (points, colourings, meta) if it is not there yet, renamed into
    place complete; returns the folder. The hover text is separate (``write_text_chunks``):
    the map draws without it, and a card says "loading" until its chunk exists."""
    folder = root / key
    if not (folder / "meta.json").exists():
        t0 = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}."))
        try:
            _gz(tmp / "xy.bin.gz", np.ascontiguousarray(arrays.xy, np.float32).tobytes())
            for name, ch in channels.items():
                _gz(tmp / f"c_{name}.bin.gz", np.ascontiguousarray(ch.codes).tobytes())
            (tmp / "meta.json").write_text(json.dumps(meta_json(arrays, channels, key)))
            tmp.chmod(0o755)
            try:
                os.rename(tmp, folder)
            except OSError:           # another process finished it first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("map files for %d tracks in %s (%.1f s)", arrays.n, folder,
                 time.perf_counter() - t0)
        _prune(root, keep=key)
    return folder


def _prune(root: Path, keep: str) -> None:
    """Remove other builds' folders not modified for ``STALE_DAYS`` (tests and rebuilds
    leave some behind; a server still showing one rewrites it on its next visit)."""
    cutoff = time.time() - STALE_DAYS * 86400
    for d in root.iterdir():
        try:
            if d.name != keep and d.is_dir() and d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue
