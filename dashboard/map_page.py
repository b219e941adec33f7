"""The Cluster map page's server side: the per-build map (cached once per process), its
files, the shown-tracks mask, the map's events (colour, lasso/box, click) and the track
card. The page (``views/cluster_map.py``) only lays these out.

Session-state contract (shared with the Playlist builder): ``state.MAP_SELECTION`` holds
the selected track ids. ``MAP_SHAPE`` remembers the lasso/box that made that list (the
very list object), so the map redraws the outline until the selection changes elsewhere.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import loaders, map_files, search, state, widgets
from dashboard.map_data import (
    COLOR_BY,
    RANGE_FEATURES,
    Channel,
    MapArrays,
    MapFilters,
    bounds,
    map_arrays,
    map_channels,
    rows_in_polygon,
    visible_mask,
)

log = logging.getLogger(__name__)

EVENT_KEY = "cluster_map"          # the component's key: its last value is read here
MAP_SHAPE = "map_selection_shape"  # {"rev", "polygon", "ids": the MAP_SELECTION list}
CARD = "map_card"                  # track id whose card is open
ROWS_ARG_MAX = 50_000              # a selection not drawn by a lasso is sent as rows up to this
SEARCH_FOCUS = 50                  # the map zooms to the best this many search matches
RANGE_STEPS = {"tempo": 1.0, "popularity": 1.0}
TABLE_COLS = ["track_name", "artist", "year", "genre", "cluster_name", "energy", "tempo",
              "valence", "popularity", "spotify_url", "youtube_url"]


@dataclass
class MapBuild:
    """One build's map: the folder key, per-track arrays and colourings, cluster names."""

    key: str
    arrays: MapArrays
    channels: dict[str, Channel]
    names: dict[int, str]
    tracks: pd.DataFrame
    slider_bounds: dict[str, tuple[float, float, float]]   # feature -> (lo, hi, step)
    track_ids: np.ndarray        # (n,) object: the ids as numpy once (0.1 s per call at 1M)


@st.cache_resource(show_spinner="Preparing the map…", max_entries=2)
def map_build(cache: str, mtime: float) -> MapBuild:
    index = loaders._load_index(cache, mtime)
    names = loaders.cluster_names(index)
    arrays = map_arrays(index.tracks, index.coords, index.track_status)
    return loaders.mark_loaded(MapBuild(
        map_files.build_folder_key(cache, mtime), arrays, map_channels(arrays, names), names,
        index.tracks, _slider_bounds(arrays), index.tracks["track_id"].to_numpy(dtype=object)))


def _slider_bounds(arrays: MapArrays) -> dict[str, tuple[float, float, float]]:
    out = {}
    for name in RANGE_FEATURES:
        v = arrays.numeric[name]
        v = v[np.isfinite(v)]
        step = RANGE_STEPS.get(name, 0.01)
        out[name] = ((float(np.floor(v.min() / step) * step), float(np.ceil(v.max() / step) * step),
                      step) if len(v) else (0.0, 1.0, step))
    return out


@st.cache_resource(show_spinner=False, max_entries=2)
def warm_search(cache: str, mtime: float) -> threading.Thread:
    """Build the fuzzy search index on a background thread once per process and build
    (~1.5 s at 1M tracks), so that the first search does not wait for it."""
    job = threading.Thread(target=search.warm, args=(cache, mtime), name="map-search-warm",
                           daemon=True)
    job.start()
    return job


@st.cache_resource(show_spinner=False, max_entries=4)
def _text_writer(root: str, key: str, _build: MapBuild) -> threading.Thread:
    """Write the hover text in the background once per process and build (the map draws
    without it)."""
    build = _build
    hover = map_files.hover_rows(build.tracks, build.channels["cluster"].codes)
    job = threading.Thread(target=map_files.write_text_chunks, args=(Path(root) / key, hover),
                           name=f"map-text-{key}", daemon=True)
    job.start()
    return job


def ensure_files(build: MapBuild) -> Path:
    """The data root, with this build's folder in it (written now if missing: a stat per
    run otherwise); the hover text follows on a background thread."""
    root = map_files.files_root()
    folder = root / build.key
    if not (folder / "meta.json").exists():
        with st.spinner("Writing the map's files for this build…"):
            map_files.write_map_files(root, build.key, build.arrays, build.channels)
    if not (folder / "text" / "done").exists():
        _text_writer(str(root), build.key, build)
    return root


def all_shown(build: MapBuild) -> np.ndarray:
    return np.ones(build.arrays.n, dtype=bool)


@st.cache_resource(show_spinner=False, max_entries=16)
def _shown(cache: str, mtime: float, years, genres, clusters, ranges, show_noise: bool,
           only_new: bool = False) -> tuple[np.ndarray | None, str | None, str]:
    f = MapFilters(years, genres, clusters, ranges, show_noise, only_new)
    if not f.active:
        return None, None, "all"
    mask = visible_mask(map_build(cache, mtime).arrays, f)
    b64 = base64.b64encode(np.packbits(mask, bitorder="little").tobytes()).decode("ascii")
    return mask, b64, hashlib.sha1(b64.encode()).hexdigest()[:12]


def shown(cache: str, mtime: float, f: MapFilters) -> tuple[np.ndarray | None, str | None, str]:
    """(mask (n,) bool or None when all are shown, its bits in base64, a revision)."""
    return _shown(cache, mtime, f.years, f.genres, f.clusters, f.ranges, f.show_noise,
                  f.only_new)


def range_filters(build: MapBuild) -> tuple[tuple[str, float, float], ...]:
    """Feature-range sliders in the sidebar (under the Trends filters); each narrowed one
    is returned as (feature, lo, hi) and kept in the URL (``energy=0.2-0.8``)."""
    out = []
    with st.sidebar.expander("Feature ranges"):
        for name in RANGE_FEATURES:
            lo, hi, step = build.slider_bounds[name]
            key = f"map_range_{name}"
            state.restore(key, (lo, hi), name, _range_param(lo, hi))
            value = st.slider(name, lo, hi, step=step, key=key)
            state.keep(key, name, lambda r: f"{r[0]:g}-{r[1]:g}", default=(lo, hi))
            if tuple(value) != (lo, hi):
                out.append((name, float(value[0]), float(value[1])))
    return tuple(out)


def _range_param(lo: float, hi: float):
    def parse(v: list[str]) -> tuple[float, float]:
        a, b = (float(x) for x in v[0].split("-", 1))
        if not lo <= a <= b <= hi:
            raise ValueError(v)
        return a, b
    return parse


def handle_event(index: Any, build: MapBuild, mask: np.ndarray | None) -> None:
    """Apply the map's last value once per event (each carries a fresh id): a colour, a
    lasso/box polygon (resolved to track ids here, among the shown tracks) or a click."""
    ev = st.session_state.get(EVENT_KEY) or {}
    ss = st.session_state
    # Each colour event carries a fresh id: the same value twice would start no rerun, and
    # a colouring picked again (after the URL or a page change set another) must apply.
    seen = ev.get("color_id", ev.get("color"))
    if ev.get("color") in COLOR_BY and seen != ss.get("_map_color_seen"):
        ss["_map_color_seen"], ss["map_color"] = seen, ev["color"]
    sel = ev.get("select") or {}
    if sel.get("id") and sel["id"] != ss.get("_map_select_seen"):
        ss["_map_select_seen"] = sel["id"]
        if sel.get("polygon") is None:
            clear_selection()
        else:
            try:
                shown = legend_shown(build, sel.get("hide"), mask)
                rows = rows_in_polygon(build.arrays.xy, sel["polygon"], shown)
            except ValueError as exc:
                st.warning(f"The selection could not be read ({exc}); draw it again.")
            else:
                ids = build.track_ids[rows].tolist()
                ss[state.MAP_SELECTION] = ids
                ss[MAP_SHAPE] = {"rev": sel["id"], "polygon": sel["polygon"], "ids": ids,
                                 "hide": sel.get("hide") or None}
    click = ev.get("click") or {}
    if click.get("id") and click["id"] != ss.get("_map_click_seen"):
        ss["_map_click_seen"] = click["id"]
        row = int(click.get("row", -1))
        if 0 <= row < build.arrays.n:
            ss[CARD] = str(build.track_ids[row])


def legend_shown(build: MapBuild, hide: Any, mask: np.ndarray | None) -> np.ndarray | None:
    """The shown tracks minus those hidden in the map's legend when the lasso was drawn
    (``hide`` = {"color": a categorical colouring, "codes": [legend entries]}), so that the
    ids are the tracks the map drew inside the lasso. Raises ValueError on a bad ``hide``."""
    if not hide:
        return mask
    channel = build.channels.get(hide.get("color")) if isinstance(hide, dict) else None
    codes = hide.get("codes") if isinstance(hide, dict) else None
    if channel is None or channel.kind != "category" or not isinstance(codes, list) or not all(
            isinstance(c, int) and 0 <= c < len(channel.labels) for c in codes):
        raise ValueError(f"unknown legend entries {hide!r}")
    keep = ~np.isin(channel.codes, np.asarray(codes, dtype=channel.codes.dtype))
    return keep if mask is None else keep & mask


def clear_selection() -> None:
    st.session_state[state.MAP_SELECTION] = []
    st.session_state.pop(MAP_SHAPE, None)


def selection_arg(index: Any) -> dict | None:
    """What the map draws as the selection: the lasso/box that made the current list (with
    the legend entries hidden then, left out of it), else
    the list's rows (up to ``ROWS_ARG_MAX``), else nothing."""
    ss = st.session_state
    ids = ss.get(state.MAP_SELECTION) or []
    shape = ss.get(MAP_SHAPE)
    if shape and shape.get("ids") is ids and ids:
        arg = {"rev": shape["rev"], "polygon": shape["polygon"]}
        if shape.get("hide"):       # legend entries hidden when it was drawn: left out
            arg["hide"] = shape["hide"]
        return arg
    if not ids or len(ids) > ROWS_ARG_MAX:
        return None
    rows = rows_of(index, ids)
    return {"rev": hashlib.sha1(",".join(map(str, rows)).encode()).hexdigest()[:12], "rows": rows}


def rows_of(index: Any, ids: list[str]) -> list[int]:
    """Catalog rows of track ids (unknown ids, from an older build, are skipped)."""
    get = index._row.get
    return [r for r in map(get, ids) if r is not None]


def search_hits(build: MapBuild, query: str) -> dict:
    """{"rev", "rows", "focus"} of the fuzzy search's matches, {} without a query/match."""
    rows = search.search_rows(query)
    if not rows:
        return {}
    return {"rev": f"{query.strip()}|{len(rows)}", "rows": [int(r) for r in rows],
            "focus": bounds(build.arrays.xy, rows[:SEARCH_FOCUS])}


def track_table(index: Any, build: MapBuild, rows) -> pd.DataFrame:
    """The display table for catalog rows (title, artist, year, genre, cluster, key
    features, Spotify and YouTube links)."""
    rows = np.asarray(list(rows), dtype=int)
    t = index.tracks
    # Column by column: ``tracks.iloc[rows]`` copies all 40 columns (0.1 s at 1M tracks).
    out = pd.DataFrame({c: t[c].array.take(rows) for c in (
        "track_id", "track_name", "artist", "year", "genre", "energy", "tempo", "valence",
        "popularity", "spotify_url")})
    cl = build.channels["cluster"]
    out.insert(5, "cluster_name", [cl.labels[k] for k in cl.codes[rows]])
    out["youtube_url"] = [widgets.youtube_url(a, n) for a, n in
                          zip(out["artist"], out["track_name"])]
    return out


def card_row(index: Any) -> int:
    tid = st.session_state.get(CARD)
    return index._row.get(tid, -1) if tid else -1


def track_card(index: Any, build: MapBuild) -> None:
    """The clicked track's card: details, Spotify and YouTube links, "Recommend from this"
    (opens Recommendations with it as the seed) and "Add to playlist" (adds it to the map
    selection, the Playlist builder's source)."""
    row = card_row(index)
    if row < 0:
        return
    t = index.tracks.iloc[row]
    tid = str(t["track_id"])
    cl = build.channels["cluster"]
    year = "" if pd.isna(t["year"]) else f" · {int(t['year'])}"
    genre = t["genre"] if pd.notna(t["genre"]) else "genre unknown"
    with st.container(border=True, key="map_card_box"):
        st.markdown(f"**{_md(t['track_name'])}** — {_md(t['artist'])} · {_md(genre)}{year}")
        st.caption(f"cluster: {cl.labels[cl.codes[row]]} · energy {t['energy']:.2f} · "
                   f"danceability {t['danceability']:.2f} · valence {t['valence']:.2f} · "
                   f"tempo {t['tempo']:.0f} BPM · popularity {t['popularity']:.0f}")
        links = [f"[YouTube search]({widgets.youtube_url(t['artist'], t['track_name'])})"]
        if isinstance(t.get("spotify_url"), str) and t["spotify_url"]:
            links.insert(0, f"[Spotify]({t['spotify_url']})")
        st.markdown(" · ".join(links))
        b = st.columns([1, 1, 1, 3])
        if b[0].button("Recommend from this", key="map_card_rec", type="primary"):
            st.session_state[state.SEED_TRACK] = tid
            st.session_state.pop("rec_search", None)
            try:
                st.switch_page("views/recommend.py")
            except Exception:  # noqa: BLE001 - the page runs alone (tests) without the router
                st.info("Open Recommendations: this track is its seed.")
        if b[1].button("Add to playlist", key="map_card_add",
                       help="Adds the track to the map selection, the Playlist builder's source."):
            ids = list(st.session_state.get(state.MAP_SELECTION) or [])
            if tid not in ids:
                ids.append(tid)
            st.session_state[state.MAP_SELECTION] = ids
            st.toast(f"Added to the map selection ({len(ids):,} tracks), the Playlist "
                     "builder's source.")
            st.rerun()                     # the map above draws the new selection
        if b[2].button("Close", key="map_card_close"):
            st.session_state.pop(CARD, None)
            st.rerun()


def _md(text: Any) -> str:
    """Text safe inside markdown (no links, emphasis or HTML from track names)."""
    s = str(text)
    for ch in "\\`*_[]<>#|":
        s = s.replace(ch, "\\" + ch)
    return s
