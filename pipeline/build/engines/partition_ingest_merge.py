"""The ingest stage's merge over partitions: validated rows hash-bucketed by track_id, one
Dask task per bucket merging its rows, and the buckets joined in catalog order.

Every row of a track_id lands in the same bucket (``hash(track_id) % buckets``), so what is
per track (first row wins, the genre by most rows, genre and subgenre sets, playlists,
memberships, conflicts, the same-song key) is computed in its bucket by the local stage's
own :func:`pipeline.catalog.ingest.merge_rows`. A row's position in the catalog is
``slot << 32 | its row in the chunk`` (slot: the chunk's place among every file's chunks),
which orders rows as the whole catalog does; the join
(:func:`pipeline.catalog.ingest.join_merged`) puts tracks in first-position order and
memberships in row order, and the one-worker step left holds one row per track and
membership, not the catalog's rows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.catalog.ingest import MergedRows, join_merged, merge_rows
from pipeline.store import read_parquet, save_artifact

MAX_BUCKETS = 64  # a bucket of a 10M-row catalog: about 160k rows
POS = "_pos"


def n_buckets(chunks: int) -> int:
    """As many buckets as chunks (each about a chunk's rows), at most MAX_BUCKETS."""
    return max(1, min(chunks, MAX_BUCKETS))


def write_buckets(good: pd.DataFrame, slot: int, buckets: int, name) -> dict[int, str]:
    """A chunk's validated rows, numbered ``slot << 32 | row in the chunk`` (its index),
    split by track_id into parquet files ``name(bucket)``; returns {bucket: path}."""
    rows = good.assign(**{POS: (slot << 32) + good.index.to_numpy(dtype=np.int64)})
    which = (pd.util.hash_pandas_object(rows["track_id"], index=False).to_numpy()
             % np.uint64(buckets)).astype(np.int64)
    out = {}
    for b in np.unique(which):
        path = name(int(b))
        save_artifact(path, rows[which == b])
        out[int(b)] = str(path)
    return out


def merge_bucket(paths: list[str]) -> MergedRows:
    """One bucket's files (in catalog order) merged: :func:`merge_rows` on its rows."""
    rows = pd.concat([read_parquet(Path(p)) for p in paths], ignore_index=True)
    rows.index = pd.Index(rows.pop(POS).to_numpy(dtype=np.int64))
    return merge_rows(rows)


def merge_buckets(buckets: list[list[str]]) -> MergedRows:
    """:func:`merge_bucket` of each bucket holding rows, joined; one Dask task per bucket
    when this runs in a Dask task (``worker_client`` hands this task's thread back while
    they run), else one after another (the form called in-process: tests, benches)."""
    import distributed

    todo = [b for b in buckets if b]
    try:
        distributed.get_worker()
    except ValueError:
        return join_merged([merge_bucket(b) for b in todo])
    with distributed.worker_client() as client:
        return join_merged(client.gather(client.map(merge_bucket, todo, pure=False)))


def renumber(tracks: pd.DataFrame, first: np.ndarray, lines: np.ndarray, base: np.ndarray,
             provisional: int) -> None:
    """Provisional ``source_row`` -> the row's line in its file (in place): slot ``s``'s
    row ``i`` is ``lines[base[s] + i]``; rows already numbered (a file read whole) stay."""
    v = tracks["source_row"].to_numpy(dtype=np.int64).copy()
    prov = v >= provisional
    v[prov] = lines[base[first[prov] >> 32] + v[prov] - provisional]
    tracks["source_row"] = v


def joined_attrs(attrs: list[dict]) -> dict:
    """The ``attrs`` pandas' ``concat`` gives frames with these: theirs if all are the same
    and not empty, else none (pandas writes them into the parquet files)."""
    same = all(attrs) and all(a == attrs[0] for a in attrs[1:])
    return dict(attrs[0]) if same else {}
