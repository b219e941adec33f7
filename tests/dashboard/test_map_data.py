"""The map's numpy side: channels, filters, captions and polygon selection."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import colors
from dashboard.map_data import (
    COLOR_BY,
    MapFilters,
    bounds,
    cluster_channel,
    counts_caption,
    genre_channel,
    map_arrays,
    map_channels,
    quantise,
    rows_in_polygon,
    simplify,
    visible_mask,
)


@pytest.fixture(scope="module")
def tracks() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame({c: rng.random(n) for c in ("energy", "danceability", "valence",
                                                  "acousticness", "speechiness",
                                                  "instrumentalness", "liveness")})
    df["tempo"] = rng.uniform(60, 200, n)
    df["loudness"] = rng.uniform(-30, 0, n)
    df["popularity"] = rng.integers(0, 101, n).astype(float)
    df["year"] = rng.integers(1960, 2021, n).astype(float)
    df.loc[::17, "year"] = np.nan
    df.loc[::23, "energy"] = np.nan
    df["genre"] = pd.array(rng.choice(["rock", "pop", "rap"], n), dtype="string")
    df.loc[::29, "genre"] = pd.NA
    df["cluster"] = rng.integers(-1, 6, n).astype("int32")
    return df


@pytest.fixture(scope="module")
def arrays(tracks):
    xy = np.random.default_rng(1).normal(size=(len(tracks), 2)).astype("float32") * 5
    return map_arrays(tracks, xy)


def _ray_cast(px: float, py: float, poly) -> bool:
    """A plain per-point even-odd test, written independently of the vectorised one."""
    inside = False
    for k in range(len(poly)):
        (x1, y1), (x2, y2) = poly[k - 1], poly[k]
        if (y1 > py) != (y2 > py):
            if px < (x1 - x2) * (py - y2) / (y1 - y2) + x2:
                inside = not inside
    return inside


def test_quantise_codes_missing_as_zero_and_clips():
    q = quantise(np.array([np.nan, -1.0, 0.0, 0.5, 1.0, 2.0]), 0.0, 1.0)
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 1, 1, 128, 255, 255]


def test_channels_decode_to_the_tracks(tracks, arrays):
    ch = map_channels(arrays, {0: "0 · calm", 3: "3 · loud"})
    assert list(ch) == [c for c in COLOR_BY if c != "new tracks"]  # a first build
    cl = ch["cluster"]
    assert np.array_equal(np.asarray(cl.ids)[cl.codes], tracks["cluster"].to_numpy())
    assert cl.ids[0] == -1 and cl.labels[0] == "unclustered"
    assert cl.labels[cl.ids.index(3)] == "3 · loud" and cl.labels[cl.ids.index(2)] == "2 · cluster 2"
    assert list(cl.colors) == [colors.cluster_color(c) for c in cl.ids]
    g = ch["genre"]
    want = tracks["genre"].astype("string").fillna("unknown").to_numpy()
    assert np.array_equal(np.asarray(g.labels)[g.codes], want.astype(str))
    assert list(g.colors) == [colors.genre_color(x) for x in g.labels]
    meta = g.meta()
    assert sum(meta["counts"]) == len(tracks)
    e = ch["energy"]
    assert (e.codes[tracks["energy"].isna().to_numpy()] == 0).all()
    assert (e.codes[tracks["energy"].notna().to_numpy()] >= 1).all()
    # Decoding a code gives the value within one quantisation step (inside [lo, hi]).
    v = tracks["energy"].to_numpy()
    ok = np.isfinite(v) & (v >= e.lo) & (v <= e.hi)
    back = e.lo + (e.codes[ok].astype(float) - 1) / 254 * (e.hi - e.lo)
    assert np.abs(back - v[ok]).max() <= (e.hi - e.lo) / 254
    y = ch["year"]
    assert (y.lo, y.hi) == (1960.0, 2020.0)


def test_many_clusters_use_uint16():
    ch = cluster_channel(np.arange(-1, 400, dtype=np.int32), {})
    assert ch.codes.dtype == np.uint16 and len(ch.labels) == 401
    assert genre_channel(np.array(["a", "b"], dtype=object)).codes.dtype == np.uint8


def test_visible_mask_follows_each_filter(tracks, arrays):
    assert visible_mask(arrays, MapFilters()).all() and not MapFilters().active
    f = MapFilters(years=(1980, 1999))
    y = tracks["year"].to_numpy()
    assert np.array_equal(visible_mask(arrays, f), (y >= 1980) & (y <= 1999))
    f = MapFilters(genres=("rock",), clusters=(1, 2), show_noise=False)
    want = ((tracks["genre"] == "rock").fillna(False).to_numpy()
            & tracks["cluster"].isin([1, 2]).to_numpy())
    assert np.array_equal(visible_mask(arrays, f), want)
    f = MapFilters(ranges=(("energy", 0.2, 0.6), ("tempo", 100.0, 150.0)))
    e, t = tracks["energy"].to_numpy(), tracks["tempo"].to_numpy()
    assert np.array_equal(visible_mask(arrays, f), (e >= 0.2) & (e <= 0.6) & (t >= 100) & (t <= 150))
    noise = tracks["cluster"].to_numpy() == -1
    assert np.array_equal(visible_mask(arrays, MapFilters(show_noise=False)), ~noise)


def test_caption_counts_what_is_shown(tracks, arrays):
    noise = int((tracks["cluster"] == -1).sum())
    assert counts_caption(np.ones(2000, bool), arrays.cluster, MapFilters()) == \
        "Showing all 2,000 tracks."
    f = MapFilters(show_noise=False)
    text = counts_caption(visible_mask(arrays, f), arrays.cluster, f)
    assert text == f"Showing {2000 - noise:,} of 2,000 tracks ({noise:,} unclustered hidden)."
    f = MapFilters(genres=("rock",), show_noise=False)
    mask = visible_mask(arrays, f)
    text = counts_caption(mask, arrays.cluster, f)
    assert text == (f"Showing {int(mask.sum()):,} of 2,000 tracks ({noise:,} unclustered "
                    f"hidden; {2000 - noise - int(mask.sum()):,} filtered out).")


def test_rows_in_polygon_matches_a_plain_ray_cast(arrays):
    xy = arrays.xy
    star = [[0, 9], [2, 2], [9, 1], [3, -2], [5, -9], [0, -4], [-5, -9], [-3, -2], [-9, 1],
            [-2, 2]]
    got = rows_in_polygon(xy, star)
    want = [i for i, (x, y) in enumerate(xy.astype(float)) if _ray_cast(x, y, star)]
    assert got.tolist() == want and 0 < len(want) < len(xy)
    mask = arrays.cluster != -1
    assert rows_in_polygon(xy, star, mask).tolist() == [i for i in want if mask[i]]
    box = rows_in_polygon(xy, [[-1, -1], [1, -1], [1, 1], [-1, 1]])
    inside = (np.abs(xy[:, 0]) < 1) & (np.abs(xy[:, 1]) < 1)
    assert set(box) == set(np.flatnonzero(inside))


def test_polygon_is_validated_and_thinned():
    with pytest.raises(ValueError, match=">= 3 finite"):
        simplify([[0, 0], [1, 1]])
    with pytest.raises(ValueError, match=">= 3 finite"):
        simplify([[0, 0], [1, np.nan], [2, 2]])
    circle = [[np.cos(t), np.sin(t)] for t in np.linspace(0, 2 * np.pi, 1000)]
    assert len(simplify(circle)) == 256


def test_bounds_pad_the_rows():
    xy = np.array([[0, 0], [10, 5], [100, 100]], dtype="float32")
    assert bounds(xy, [0, 1]) == [-1.5, 11.5, -1.0, 6.0]
    assert bounds(xy, [2]) == [99.0, 101.0, 99.0, 101.0]


def test_status_channel_and_only_new_filter(tracks):
    from dashboard.map_data import STATUS_LABELS, status_codes

    coords = np.zeros((len(tracks), 2), np.float32)
    tracks = tracks.assign(track_id=[f"t{i}" for i in range(len(tracks))])
    status = pd.DataFrame({"track_id": tracks["track_id"], "status": "kept"})
    status.loc[::10, "status"] = "new"
    status.loc[5::50, "status"] = "edited"
    arrays = map_arrays(tracks, coords, status)
    ch = map_channels(arrays, {})["new tracks"]
    assert ch.labels == STATUS_LABELS
    assert ch.meta()["counts"] == [int((status["status"] == s).sum()) for s in STATUS_LABELS]
    mask = visible_mask(arrays, MapFilters(only_new=True))
    assert np.array_equal(mask, (status["status"] != "kept").to_numpy())
    # no previous build, an all-kept table or one not aligned with the tracks: no colouring
    assert status_codes(tracks, None) is None
    assert status_codes(tracks, status.assign(status="kept")) is None
    assert status_codes(tracks, status.iloc[::-1]) is None
    assert "new tracks" not in map_channels(map_arrays(tracks, coords), {})
    assert not visible_mask(map_arrays(tracks, coords), MapFilters(only_new=True)).any()
    assert status_codes(tracks, status.assign(status="new")) is None      # a first build
