"""The one place that reads and writes cache files: parquet, .npy, JSON, safetensors.

Every write goes to a temporary file in the same directory and is renamed into place,
so a crash never leaves a half-written artifact behind. Nothing here uses pickle.

A cache is named by a path or an fsspec URL (:func:`cache_location`): ``file://`` URLs
name local (or mounted, shared) paths; a remote store (``s3://``, ``gs://``) is not
written directly, it receives a finished build (docs/DISTRIBUTED.md).
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from pipeline.errors import CacheError

# The cache's layout: the artifacts each build stage writes (file names under the cache
# directory). The stage table (pipeline.build.stages) writes them; readers such as
# pipeline.load check them here, so serving never depends on the build machinery.
LAYOUT: dict[str, tuple[str, ...]] = {
    "ingest": ("tracks.parquet", "memberships.parquet", "rejects.csv", "ingest_report.json"),
    "features": ("features.npy", "feature_scaler.json"),
    "embedding": ("embedding.npy", "encoder.safetensors", "embedding_report.json"),
    "neighbors": ("neighbors_idx.npy", "neighbors_sim.npy", "neighbors_index.npy",
                  "neighbors_report.json"),
    "projection": ("map2d.npy", "cluster_space.npy"),
    "clusters": ("clusters.parquet", "membership.npy", "cluster_report.json",
                 "cluster_names.json"),
    "genre": ("genre_model.txt", "genre_pred.parquet", "genre_report.json"),
    "ranker": ("ranker.txt", "ranker_content.txt", "ranker_report.json"),
    "rank_signals": ("rank_clusters.npy", "rank_labels.npy", "rank_labels.json"),
    # the Trends / Cluster browser aggregates (pipeline.catalog.AGGREGATE_FILES + report)
    "aggregates": ("agg_by_year.parquet", "agg_features.parquet", "agg_clusters.parquet",
                   "agg_popularity.parquet", "agg_year_cluster.parquet", "agg_key_mode.parquet",
                   "agg_cluster_size.parquet", "agg_correlation.parquet",
                   "agg_top_values.parquet", "agg_representatives.parquet",
                   "agg_distributions.parquet",
                   "aggregates_report.json"),
    # Not a stage: what changed since the previous build, written at the end of every
    # build (pipeline.build.lineage).
    "changes": ("changes.json", "track_status.parquet"),
}


LOCAL_PROTOCOLS = ("file", "local")


def cache_location(cache: str | os.PathLike) -> Path:
    """The local path a cache argument names: a path, or an fsspec ``file://`` URL.

    Raises:
        CacheError: any other URL (``s3://``, ``gs://``, ``memory://``, an unknown scheme),
            named, with what to do instead.
    """
    from fsspec.core import split_protocol
    from fsspec.implementations.local import LocalFileSystem

    text = os.fspath(cache)
    protocol, _ = split_protocol(text)
    if protocol is None:
        return Path(text)
    if protocol in LOCAL_PROTOCOLS:
        return Path(LocalFileSystem._strip_protocol(text))
    raise CacheError(
        f"{text}: a cache at a {protocol}:// URL is not supported: builds write and serve "
        "a cache on a local or shared filesystem (a path, or file:///absolute/path). Build "
        "into one, then `python -m pipeline publish --cache DIR --to URL` copies the build "
        "to the store and `python -m pipeline mirror --from URL --cache DIR` serves it "
        "from a local folder where it is read (docs/DISTRIBUTED.md).")


@contextmanager
def _atomic(path: Path, suffix: str = "") -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_json(path: Path, obj: Any) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_text(path: Path, text: str) -> None:
    """Plain text, e.g. a LightGBM model in its own text format."""
    with _atomic(path, ".txt") as tmp:
        tmp.write_text(text)


def read_text(path: Path) -> str:
    return Path(path).read_text()


def write_npy(path: Path, arr: np.ndarray) -> None:
    with _atomic(path, ".npy") as tmp:
        np.save(tmp, np.ascontiguousarray(arr), allow_pickle=False)


def read_npy(path: Path, mmap: bool = False) -> np.ndarray:
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    with _atomic(path, ".parquet") as tmp:
        df.to_parquet(tmp, index=False)


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)


def write_csv(path: Path, df: pd.DataFrame) -> None:
    with _atomic(path, ".csv") as tmp:
        df.to_csv(tmp, index=False)


def write_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    """Model weights as safetensors (no code runs on load)."""
    from safetensors.numpy import save_file

    with _atomic(path, ".safetensors") as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(tmp))


def read_weights(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def load_artifact(path: Path) -> Any:
    """Read any cache artifact, the reader chosen by its suffix."""
    readers = {".parquet": read_parquet, ".npy": read_npy, ".json": read_json,
               ".csv": pd.read_csv, ".safetensors": read_weights, ".txt": read_text}
    return readers[path.suffix](path)


def save_artifact(path: Path, value: Any) -> None:
    """Write any cache artifact atomically, the writer chosen by its suffix."""
    writers = {".parquet": write_parquet, ".npy": write_npy, ".json": write_json,
               ".csv": write_csv, ".safetensors": write_weights, ".txt": write_text}
    writers[path.suffix](path, value)
