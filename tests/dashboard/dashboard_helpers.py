"""Small helpers shared by the dashboard tests."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np


def first_artist(cache: Path) -> str:
    """An artist of the catalog in the cache (the most frequent one)."""
    import pipeline

    return str(pipeline.load(cache).tracks["artist"].value_counts().index[0])


def some_track(cache: Path, i: int = 0) -> str:
    import pipeline

    return str(pipeline.load(cache).tracks["track_id"].iloc[i])


def plotly_figures(at) -> list[dict]:
    """The figures of every plotly chart on the page, as the browser receives them
    (``{"data": [...], "layout": {...}}`` parsed from the element's JSON spec)."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def plotly_array(value) -> np.ndarray:
    """A plotly data array: a plain list, or plotly's typed-array encoding
    ``{"dtype": "f4", "bdata": <base64>, "shape": "n, m"}``."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            out = out.reshape([int(s) for s in str(shape).split(",")])
        return out
    return np.asarray(value)


def shown_ids(at, prefix: str = "rec_like_") -> list[str]:
    """Track ids of the recommendation rows on the page, in the order shown (from the keys
    of their like buttons)."""
    return [b.key[len(prefix):] for b in at.button if b.key and b.key.startswith(prefix)]


def misspell(name: str) -> str:
    """``name`` with one letter dropped from its longest word ("Artist 37" -> "Artst 37")."""
    words = name.split(" ")
    i = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    words[i] = w[:len(w) // 2] + w[len(w) // 2 + 1:] if len(w) >= 4 else w
    return " ".join(words)
