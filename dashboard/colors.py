"""One colour per genre and per cluster, shared by every page and the map.

A colour depends only on the genre's name or the cluster's id, never on which groups a
filter leaves in a chart, so "rock" and cluster 7 look the same on the Trends page, the
Cluster map and the Cluster browser whatever is selected.
"""
from __future__ import annotations

import hashlib

NOISE_COLOR = "#c9c9c9"
# 24 distinguishable colours (plotly's Dark24), then 24 lighter ones (Light24).
PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
    "#FD3216", "#00FE35", "#6A76FC", "#FED4C4", "#FE00CE", "#0DF9FF", "#F6F926", "#FF9616",
    "#479B55", "#EEA6FB", "#DC587D", "#D626FF", "#6E899C", "#00B5F7", "#B68E00", "#C9FBE5",
    "#FF0092", "#22FFA7", "#E3EE9E", "#86CE00", "#BC7196", "#7E7DCD", "#FC6955", "#E48F72",
)
# The default catalog's six genres get hand-picked, well separated colours.
GENRE_COLORS = {"edm": "#1f77b4", "latin": "#ff7f0e", "pop": "#2ca02c", "r&b": "#d62728",
                "rap": "#9467bd", "rock": "#8c564b", "unknown": NOISE_COLOR}


def cluster_color(cluster: int) -> str:
    """The colour of a cluster id (grey for -1, unclustered)."""
    cluster = int(cluster)
    return NOISE_COLOR if cluster < 0 else PALETTE[cluster % len(PALETTE)]


def genre_color(genre: str) -> str:
    """The colour of a genre name; genres outside ``GENRE_COLORS`` get one from a hash of
    the name (stable across runs, filters and machines)."""
    key = str(genre).strip().lower()
    if key in GENRE_COLORS:
        return GENRE_COLORS[key]
    h = int(hashlib.md5(key.encode("utf-8")).hexdigest()[:8], 16)
    return PALETTE[h % len(PALETTE)]


def color_map(values, kind: str) -> dict:
    """``{value: colour}`` for a plotly ``color_discrete_map``; kind "genre" or "cluster"
    (cluster values may be ids or labels starting with the id, "7 · ..." / "unclustered")."""
    out = {}
    for v in values:
        if kind == "genre":
            out[v] = genre_color(v)
        else:
            out[v] = cluster_color(cluster_id(v))
    return out


def cluster_id(value) -> int:
    """The cluster id of an id or a display label ("7 · fast, loud" -> 7, "unclustered" -> -1)."""
    if isinstance(value, str):
        head = value.split(" ")[0]
        return int(head) if head.lstrip("-").isdigit() else -1
    return int(value)
