"""The Cluster map component's Python side: registers the frontend (``frontend/``, served
by Streamlit's component route) and the per-build data folder, and calls the component.

The frontend reaches the data through the same route: the folder is registered as a
second component that is never drawn, so its files are served at
``/component/<name>/<key>/...`` without ``server.enableStaticServing``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

FRONTEND = Path(__file__).parent / "frontend"
HEIGHT = 640


def _declare(data_root: Path) -> tuple[Any, str]:
    """Register both components (idempotent; needs a running script) and return the
    map component with the URL of the data folder relative to the map's page."""
    view = components.declare_component("cluster_map", path=str(FRONTEND))
    data = components.declare_component("map_files", path=str(data_root))
    return view, f"../{data.name}/"


def map_view(*, data_root: Path, key: str, color: str, mask: str | None, mask_rev: str,
             selection: dict | None, hits: dict | None, clicked: int = -1,
             height: int = HEIGHT, point_limit: int | None = None,
             component_key: str = "cluster_map") -> dict | None:
    """Draw the map; returns the component's last value (or None before any event).

    Args:
        data_root: the folder holding the build folders (``map_files.files_root()``).
        key: the build folder's name.
        color: the colouring to draw (one of ``map_data.COLOR_BY``).
        mask: base64 of the shown tracks' bits (``numpy.packbits(..., bitorder="little")``),
            None when every track is shown; ``mask_rev`` changes whenever it does.
        selection: ``{"rev", "polygon": [[x, y], ...]}`` or ``{"rev", "rows": [...]}``.
        hits: ``{"rev", "rows": [...], "focus": [x0, x1, y0, y1]}`` (search matches).
        clicked: the catalog row whose card is open (ringed on the map), -1 for none.

    Returns:
        ``{"color": str|None, "select": {"id", "polygon"|None, "count"}|None,
        "click": {"id", "row"}|None}``: each event carries a fresh ``id``.
    """
    view, data_url = _declare(data_root)
    args = dict(base=f"{data_url}{key}/", color=color, mask=mask, mask_rev=mask_rev,
                selection=selection, hits=hits, clicked=int(clicked), height=int(height))
    if point_limit:
        args["point_limit"] = int(point_limit)
    return view(key=component_key, default=None, **args)
