"""Playlist exports: CSV, M3U8, XSPF, a Spotify URI list and the JSON recipe.

Every exporter takes a :class:`~pipeline.playlist.PlaylistResult` and returns text.
``EXPORTERS`` maps a format name to ``(function, mime type, file extension)`` for download
buttons and the CLI. Tracks without a real Spotify id (synthetic ids such as ``s2k:...``)
get no URL / location / URI rather than a wrong one.
"""
from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET
from typing import Callable

import pandas as pd

from .engine import PlaylistResult

XSPF_NS = "http://xspf.org/ns/0/"
DEFAULT_TITLE = "Catalog Explorer playlist"
_SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_SPOTIFY_URI = re.compile(r"^spotify:track:([0-9A-Za-z]{22})$")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def spotify_id(track_id: object, uri: object = None) -> str | None:
    """The 22-character Spotify track id of a track, or None if it has none.

    Args:
        track_id: the catalog id; uri: the ``uri`` column value (may be missing).
    """
    if isinstance(uri, str):
        m = _SPOTIFY_URI.match(uri.strip())
        if m:
            return m.group(1)
    if isinstance(track_id, str) and _SPOTIFY_ID.match(track_id.strip()):
        return track_id.strip()
    return None


def _rows(result: PlaylistResult) -> list[dict]:
    """Per track: title, artist, album, seconds (int or None), ms, Spotify id."""
    out = []
    for r in result.tracks.to_dict("records"):
        ms = r.get("duration_ms")
        ms = None if ms is None or pd.isna(ms) else int(round(float(ms)))
        out.append({"title": _text(r.get("track_name")), "artist": _text(r.get("artist")),
                    "album": _text(r.get("album_name")), "ms": ms,
                    "seconds": None if ms is None else int(math.floor(ms / 1000 + 0.5)),
                    "sid": spotify_id(r.get("track_id"), r.get("uri"))})
    return out


def _text(v: object) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _one_line(s: str) -> str:
    return " ".join(s.split())


def _xml(s: str) -> str:
    """Text XML 1.0 can hold: control characters and lone surrogates removed."""
    return _XML_INVALID.sub("", s)


INT_COLUMNS = ("position", "year", "cluster", "popularity", "duration_ms")
FLOAT_FORMAT = "%.6g"     # audio features and similarities: 0.8123, 128.01, not 0.81230001


def _integers(df: pd.DataFrame) -> pd.DataFrame:
    """Whole-number columns as nullable integers: 1970 and 274040, not 1970.0, 274040.0."""
    out = df.copy()
    for col in INT_COLUMNS:
        if col in out and pd.api.types.is_numeric_dtype(out[col]):
            out[col] = pd.array(out[col].to_numpy(dtype=float, na_value=float("nan")).round(),
                                dtype="Float64").astype("Int64")
    return out


def to_csv(result: PlaylistResult, title: str | None = None) -> str:
    """The playlist table (every column of ``result.tracks``) as CSV text; years, positions,
    popularity and durations (ms) as integers, other numbers to 6 significant digits."""
    buf = io.StringIO()
    _integers(result.tracks).to_csv(buf, index=False, float_format=FLOAT_FORMAT)
    return buf.getvalue()


def to_m3u8(result: PlaylistResult, title: str | None = None) -> str:
    """Extended M3U (UTF-8): ``#EXTINF:<seconds>,<artist> - <title>`` then the Spotify URL.

    A track without a Spotify id keeps its ``#EXTINF`` line but gets no URL line; an
    unknown duration is written as -1 as the format asks.
    """
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(title or DEFAULT_TITLE)}"]
    for r in _rows(result):
        secs = -1 if r["seconds"] is None else r["seconds"]
        lines.append(f"#EXTINF:{secs},{_one_line(r['artist'])} - {_one_line(r['title'])}")
        if r["sid"]:
            lines.append(f"https://open.spotify.com/track/{r['sid']}")
    return "\n".join(lines) + "\n"


def to_xspf(result: PlaylistResult, title: str | None = None) -> str:
    """XSPF 1 (namespace http://xspf.org/ns/0/): per track title, creator, album,
    duration (ms), location (Spotify URL) and identifier (Spotify URI) when known."""
    ET.register_namespace("", XSPF_NS)
    root = ET.Element(f"{{{XSPF_NS}}}playlist", {"version": "1"})
    ET.SubElement(root, f"{{{XSPF_NS}}}title").text = _xml(title or DEFAULT_TITLE)
    tl = ET.SubElement(root, f"{{{XSPF_NS}}}trackList")
    for r in _rows(result):
        t = ET.SubElement(tl, f"{{{XSPF_NS}}}track")
        if r["sid"]:
            ET.SubElement(t, f"{{{XSPF_NS}}}location").text = \
                f"https://open.spotify.com/track/{r['sid']}"
            ET.SubElement(t, f"{{{XSPF_NS}}}identifier").text = f"spotify:track:{r['sid']}"
        ET.SubElement(t, f"{{{XSPF_NS}}}title").text = _xml(r["title"])
        ET.SubElement(t, f"{{{XSPF_NS}}}creator").text = _xml(r["artist"])
        if r["album"]:
            ET.SubElement(t, f"{{{XSPF_NS}}}album").text = _xml(r["album"])
        if r["ms"] is not None:
            ET.SubElement(t, f"{{{XSPF_NS}}}duration").text = str(r["ms"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_spotify_uris(result: PlaylistResult, title: str | None = None) -> str:
    """One ``spotify:track:<id>`` per line (paste into the Spotify desktop app).

    Tracks without a Spotify id are left out.
    """
    return "".join(f"spotify:track:{r['sid']}\n" for r in _rows(result) if r["sid"])


def to_recipe_json(result: PlaylistResult, title: str | None = None) -> str:
    """The recipe that regenerates this playlist (see ``request_from_recipe``)."""
    recipe = dict(result.recipe)
    if title:
        recipe["title"] = title
    return json.dumps(recipe, indent=2, sort_keys=True) + "\n"


EXPORTERS: dict[str, tuple[Callable[..., str], str, str]] = {
    "csv": (to_csv, "text/csv", "csv"),
    "m3u8": (to_m3u8, "audio/x-mpegurl", "m3u8"),
    "xspf": (to_xspf, "application/xspf+xml", "xspf"),
    "uris": (to_spotify_uris, "text/plain", "txt"),
    "json": (to_recipe_json, "application/json", "json"),
}
