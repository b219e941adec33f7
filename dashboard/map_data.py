"""The Cluster map's data, in numpy: compact per-track channels for the browser, which tracks
a view shows (filters, unclustered hidden or not) and which ones a lasso or box encloses.

The browser keeps float32 coordinates and one small integer channel per colouring; this
module makes them (``map_channels``) and resolves a selection polygon to catalog rows with
the same arithmetic the browser uses to draw it (``rows_in_polygon``), so the count drawn
and the ids returned agree. No file I/O here (``map_files`` writes the channels).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dashboard import colors

FEATURES = ("energy", "danceability", "valence", "tempo", "acousticness", "loudness",
            "speechiness", "instrumentalness", "liveness")
COLOR_BY = ("cluster", "genre", *FEATURES, "year", "popularity", "new tracks")
CATEGORICAL = ("cluster", "genre", "new tracks")
# "new tracks" colours what the last build added or edited (track_status.parquet); a build
# with no previous one has no such colouring.
STATUS_LABELS = ("kept", "new", "edited")
STATUS_COLORS = ("#c8c8c8", "#e4572e", "#2e86de")
RANGE_FEATURES = ("energy", "danceability", "valence", "tempo", "acousticness", "popularity")
LEVELS = 255           # numeric channels: code 0 = missing, 1..255 = value in [lo, hi]
MAX_VERTICES = 256     # a lasso is simplified to at most this many vertices


@dataclass(frozen=True)
class Channel:
    """One colouring: per-track codes and how to read them.

    ``codes`` (n_tracks,) uint8/uint16. Categorical: code i -> ``labels[i]`` in
    ``colors[i]``. Numeric: 0 = missing, k in 1..255 -> lo + (k - 1) / 254 * (hi - lo)
    (values outside [lo, hi] clipped: the colour scale spans the 1st-99th percentiles).
    """

    name: str
    codes: np.ndarray
    kind: str                                   # "category" | "numeric"
    labels: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    ids: tuple[int, ...] = ()                   # cluster ids of the codes (cluster channel)
    lo: float = 0.0
    hi: float = 1.0

    def meta(self) -> dict:
        """What the browser needs besides the codes (JSON-ready)."""
        out = {"name": self.name, "kind": self.kind, "dtype": self.codes.dtype.name}
        if self.kind == "category":
            counts = np.bincount(self.codes, minlength=len(self.labels))
            out.update(labels=list(self.labels), colors=list(self.colors),
                       counts=[int(c) for c in counts], ids=list(self.ids))
        else:
            out.update(lo=self.lo, hi=self.hi)
        return out


@dataclass
class MapArrays:
    """Per-track arrays of one build, row i = catalog row i."""

    xy: np.ndarray                      # (n, 2) float32 map coordinates
    cluster: np.ndarray                 # (n,) int32, -1 = unclustered
    genre: np.ndarray                   # (n,) object, "unknown" where missing
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n,) float64
    status: np.ndarray | None = None    # (n,) uint8 code of STATUS_LABELS; None: first build

    @property
    def n(self) -> int:
        return len(self.xy)


def map_arrays(tracks: pd.DataFrame, coords: np.ndarray,
               track_status: pd.DataFrame | None = None) -> MapArrays:
    """The map's arrays from a build's track table and coordinates (n, 2); ``track_status``
    (the build's track_status.parquet, row-aligned) marks what the last build added."""
    numeric = {c: tracks[c].to_numpy(dtype=float, na_value=np.nan)
               for c in (*FEATURES, "year", "popularity")}
    genre = tracks["genre"].astype("string").fillna("unknown").to_numpy(dtype=object)
    return MapArrays(xy=np.ascontiguousarray(coords, dtype=np.float32),
                     cluster=tracks["cluster"].to_numpy(dtype=np.int32),
                     genre=genre, numeric=numeric, status=status_codes(tracks, track_status))


def status_codes(tracks: pd.DataFrame, track_status: pd.DataFrame | None) -> np.ndarray | None:
    """(n,) uint8 codes of STATUS_LABELS, or None when there is nothing to contrast: no
    previous build (a first build marks every track new), nothing new, an older cache, or a
    table that is not row-aligned with the tracks."""
    if track_status is None or len(track_status) != len(tracks) or not np.array_equal(
            track_status["track_id"].to_numpy(), tracks["track_id"].to_numpy()):
        return None
    status = track_status["status"].astype(str).to_numpy()
    codes = np.zeros(len(status), np.uint8)
    for code, label in enumerate(STATUS_LABELS[1:], start=1):
        codes[status == label] = code
    return codes if codes.any() and not codes.all() else None


def quantise(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Codes (n,) uint8: 0 for NaN, else 1..255 over [lo, hi] (clipped)."""
    v = np.asarray(values, dtype=float)
    span = hi - lo if hi > lo else 1.0
    q = np.rint(np.clip((v - lo) / span, 0.0, 1.0) * (LEVELS - 1)) + 1
    return np.where(np.isnan(v), 0, q).astype(np.uint8)


def _numeric(name: str, values: np.ndarray) -> Channel:
    finite = values[np.isfinite(values)]
    if name in ("year", "popularity"):          # whole numbers: the full range reads better
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    else:
        lo, hi = ((float(np.percentile(finite, 1)), float(np.percentile(finite, 99)))
                  if len(finite) else (0.0, 1.0))
    return Channel(name, quantise(values, lo, hi), "numeric", lo=round(lo, 4), hi=round(hi, 4))


def cluster_channel(cluster: np.ndarray, names: dict[int, str]) -> Channel:
    """Codes in id order, unclustered (-1) first, each with its fixed colour and name."""
    ids = np.unique(cluster)
    codes = np.searchsorted(ids, cluster).astype(np.uint16 if len(ids) > 255 else np.uint8)
    labels = tuple(names.get(int(c), "unclustered" if c < 0 else f"cluster {c}")
                   for c in ids)
    labels = tuple(lab if c < 0 or lab.startswith(f"{c} ") else f"{c} · {lab}"
                   for c, lab in zip(ids, labels))
    return Channel("cluster", codes, "category", labels=labels,
                   colors=tuple(colors.cluster_color(int(c)) for c in ids),
                   ids=tuple(int(c) for c in ids))


def genre_channel(genre: np.ndarray) -> Channel:
    labels, codes = np.unique(genre.astype(str), return_inverse=True)
    dtype = np.uint16 if len(labels) > 255 else np.uint8
    return Channel("genre", codes.astype(dtype), "category", labels=tuple(labels),
                   colors=tuple(colors.genre_color(g) for g in labels))


def map_channels(arrays: MapArrays, names: dict[int, str]) -> dict[str, Channel]:
    """Every colouring of ``COLOR_BY`` as a compact channel."""
    out = {"cluster": cluster_channel(arrays.cluster, names),
           "genre": genre_channel(arrays.genre)}
    for name in COLOR_BY:
        if name in arrays.numeric:
            out[name] = _numeric(name, arrays.numeric[name])
    if arrays.status is not None:
        out["new tracks"] = Channel("new tracks", arrays.status, "category",
                                    labels=STATUS_LABELS, colors=STATUS_COLORS)
    return out


@dataclass(frozen=True)
class MapFilters:
    """What the map shows: the Trends filters, feature ranges and the unclustered toggle."""

    years: tuple[int, int] | None = None
    genres: tuple[str, ...] | None = None
    clusters: tuple[int, ...] | None = None
    ranges: tuple[tuple[str, float, float], ...] = ()
    show_noise: bool = True
    only_new: bool = False          # only the tracks the last build added or edited

    @property
    def active(self) -> bool:
        return bool(self.years or self.genres or self.clusters or self.ranges
                    or not self.show_noise or self.only_new)


def visible_mask(arrays: MapArrays, f: MapFilters) -> np.ndarray:
    """(n,) bool: the tracks the map shows. Tracks without a year are hidden only when a
    year range is set (as on Trends); a feature range hides tracks missing that feature."""
    mask = np.ones(arrays.n, dtype=bool)
    if f.years is not None:
        y = arrays.numeric["year"]
        mask &= (y >= f.years[0]) & (y <= f.years[1])
    if f.genres:
        mask &= np.isin(arrays.genre.astype(str), list(f.genres))
    if f.clusters:
        mask &= np.isin(arrays.cluster, list(f.clusters))
    for name, lo, hi in f.ranges:
        v = arrays.numeric[name]
        mask &= (v >= lo) & (v <= hi)
    if not f.show_noise:
        mask &= arrays.cluster != -1
    if f.only_new:
        mask &= arrays.status > 0 if arrays.status is not None else False
    return mask


def counts_caption(mask: np.ndarray, cluster: np.ndarray, f: MapFilters) -> str:
    """"Showing 9,500 of 28,356 tracks (8,000 unclustered hidden; 10,856 filtered out)"."""
    n, shown = len(mask), int(mask.sum())
    if shown == n:
        return f"Showing all {n:,} tracks."
    parts = ["only tracks new or edited in the last build"] if f.only_new else []
    noise = cluster == -1
    if not f.show_noise:
        parts.append(f"{int(noise.sum()):,} unclustered hidden")
    f_on = MapFilters(f.years, f.genres, f.clusters, f.ranges, True, f.only_new)
    if f_on.active:
        hidden = n - shown - (int(noise.sum()) if not f.show_noise else 0)
        parts.append(f"{hidden:,} filtered out")
    return f"Showing {shown:,} of {n:,} tracks ({'; '.join(parts)})."


def simplify(polygon: Sequence[Sequence[float]], limit: int = MAX_VERTICES) -> np.ndarray:
    """A polygon (k, 2) as float64 with at most ``limit`` vertices (every j-th vertex);
    a ValueError if it is not a list of at least 3 finite (x, y) pairs."""
    p = np.asarray(polygon, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3 or not np.isfinite(p).all():
        raise ValueError(f"a selection polygon must be >= 3 finite (x, y) pairs; got shape "
                         f"{p.shape}")
    if len(p) > limit:
        p = p[np.linspace(0, len(p) - 1, limit).round().astype(int)]
    return p


def rows_in_polygon(xy: np.ndarray, polygon: Sequence[Sequence[float]],
                    mask: np.ndarray | None = None) -> np.ndarray:
    """Catalog rows (sorted) of the points inside ``polygon`` (even-odd rule), among
    ``mask`` if given.

    Points are first cut to the polygon's bounding box, then each edge flips the inside
    flag of the points whose horizontal ray it crosses: the browser runs the same test on
    the same float32 coordinates (in float64 arithmetic), so both count the same points.

    Args:
        xy: (n, 2) float32 coordinates.
        polygon: (k, 2) vertices in map coordinates, k >= 3 (closed implicitly).
        mask: (n,) bool, the points that can be selected (shown ones).
    """
    p = simplify(polygon)
    x, y = xy[:, 0], xy[:, 1]
    box = (x >= p[:, 0].min()) & (x <= p[:, 0].max()) & (y >= p[:, 1].min()) & (y <= p[:, 1].max())
    if mask is not None:
        box &= mask
    rows = np.flatnonzero(box)
    px, py = x[rows].astype(float), y[rows].astype(float)
    inside = np.zeros(len(rows), dtype=bool)
    xj, yj = p[-1]
    for xi, yi in p:
        if yi != yj:
            crosses = (yi > py) != (yj > py)
            at = (xj - xi) * (py - yi) / (yj - yi) + xi
            inside ^= crosses & (px < at)
        xj, yj = xi, yi
    return rows[inside]


def bounds(xy: np.ndarray, rows: np.ndarray | None = None, pad: float = 0.15) -> list[float]:
    """[x0, x1, y0, y1] around ``rows`` (all points if None), padded by ``pad`` of the span
    (at least 1 map unit), for the browser to zoom to."""
    pts = xy if rows is None else xy[np.asarray(rows, dtype=int)]
    lo, hi = pts.min(axis=0).astype(float), pts.max(axis=0).astype(float)
    span = np.maximum((hi - lo) * pad, 1.0)
    return [float(lo[0] - span[0]), float(hi[0] + span[0]),
            float(lo[1] - span[1]), float(hi[1] + span[1])]
