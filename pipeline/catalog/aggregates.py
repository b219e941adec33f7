"""The aggregates the Trends page and the Cluster browser show unfiltered, built once per
build from per-chunk partial results (docs/AGGREGATES.md).

A chunk is a fixed range of ``AggregatesConfig.chunk_rows`` rows of the track table (with
its ``cluster`` column). :func:`chunk_partials` computes a chunk's partial results: counts,
means and centred sums of squares (and co-moments) per key, sparse histograms of values on
a fixed grid (count, min, max per bin) and value counts with their first position.
:func:`combine_partials` reduces the chunks' partials in chunk order into the artifact
tables. The local and the Dask engine cut the same chunks whatever their partition setting
and reduce them in the same order, so the artifacts are byte-identical.

Exactness: counts are exact; means and standard deviations come from the chunks' means and
centred sums of squares (Chan et al.'s pairwise update), within ~1e-12 relative of a
one-pass computation; quantiles come from the histograms and are exact where a bin holds one
distinct value (integers, values on the grid), otherwise off by at most the bin width: each
quantile carries its own bound (``*_err``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .aggregate_reduce import aggregates_report, combine_partials, merge_moments, stats
from .aggregate_rows import REP_FEATURES, dist_rows, rep_candidates, sample_positions
from .trends import GROUPINGS, TREND_FEATURES

# Columns of the track table the aggregates read (plus ``cluster`` and
# ``cluster_probability`` from clusters.parquet).
TRACK_COLUMNS: tuple[str, ...] = ("year", "genre", "genres", "subgenres", "decade", "artist",
                                  "key", "mode", *TREND_FEATURES, "track_id", "track_name",
                                  "spotify_url", "song_group")
AGGREGATE_FEATURES = TREND_FEATURES  # what the centres' first pass reads
TOP_COLUMNS: tuple[str, ...] = ("artist", "genres", "decade")   # the Cluster browser's lists
POPULARITY_LEVELS: tuple[str, ...] = ("genre", "subgenres")
DEFAULT_WIDTH = 1e-3  # bin width of a feature the config does not list

# Artifact file -> table name (the aggregates stage's outputs, store.LAYOUT["aggregates"]).
FILES: dict[str, str] = {
    "agg_by_year.parquet": "by_year", "agg_features.parquet": "features",
    "agg_clusters.parquet": "clusters", "agg_popularity.parquet": "popularity",
    "agg_year_cluster.parquet": "year_cluster", "agg_key_mode.parquet": "key_mode",
    "agg_cluster_size.parquet": "cluster_size", "agg_correlation.parquet": "correlation",
    "agg_top_values.parquet": "top_values", "agg_representatives.parquet": "representatives",
    "agg_distributions.parquet": "distributions"}


def _by_name(by: str | None) -> str:
    return by or "none"


def _moments(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per key: n, mean and the centred sum of squares ``m2`` of ``df["value"]``."""
    g = df.groupby(keys, sort=True)["value"]
    out = g.agg(n="size", mean="mean")
    dev = df["value"] - g.transform("mean")
    out["m2"] = (dev * dev).groupby([df[k] for k in keys], sort=True).sum()
    return out.reset_index()


def _hist(df: pd.DataFrame, keys: list[str], width: float) -> pd.DataFrame:
    """Per key and bin (value / width rounded: values on the grid get a bin each): count,
    smallest and largest value."""
    b = np.rint(df["value"].to_numpy(float) / width).astype(np.int64)
    g = df.assign(bin=b).groupby([*keys, "bin"], sort=True)["value"]
    return g.agg(count="size", vmin="min", vmax="max").reset_index()


def _by_year(chunk: pd.DataFrame, widths: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Moments and histograms per (feature, by, year, group), the rows
    :func:`~pipeline.catalog.feature_by_year` keeps (built the same way)."""
    moments, hists = [], []
    for feature in [f for f in TREND_FEATURES if f in chunk.columns]:
        for by in GROUPINGS:
            df = pd.DataFrame({"year": chunk["year"], "value": chunk[feature].astype(float),
                               "group": chunk[by].astype(str) if by else "all"}).dropna()
            df["year"] = df["year"].astype(int)
            df["group"] = df["group"].astype(str)
            tag = {"feature": feature, "by": _by_name(by)}
            moments.append(_moments(df, ["year", "group"]).assign(**tag))
            hists.append(_hist(df, ["year", "group"], widths.get(feature, DEFAULT_WIDTH))
                         .assign(**tag))
    return pd.concat(moments, ignore_index=True), pd.concat(hists, ignore_index=True)


def _features(chunk: pd.DataFrame) -> pd.DataFrame:
    """Per feature over every track with a value: n, mean, m2."""
    frames = [pd.DataFrame({"feature": f, "value": chunk[f].astype(float)}).dropna()
              for f in TREND_FEATURES if f in chunk.columns]
    return _moments(pd.concat(frames, ignore_index=True), ["feature"])


def _clusters(chunk: pd.DataFrame) -> pd.DataFrame:
    """Per (cluster, feature): n, mean, m2 (the clusters' feature profiles)."""
    frames = [pd.DataFrame({"cluster": chunk["cluster"].to_numpy(), "feature": f,
                            "value": chunk[f].astype(float).to_numpy()}).dropna()
              for f in TREND_FEATURES if f in chunk.columns]
    return _moments(pd.concat(frames, ignore_index=True), ["cluster", "feature"])


def _popularity(chunk: pd.DataFrame, width: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Popularity moments and histograms per genre and per subgenre (lists exploded, as
    :func:`~pipeline.catalog.popularity_by_group` does)."""
    frames = []
    for col in POPULARITY_LEVELS:
        if col not in chunk.columns or "popularity" not in chunk.columns:
            continue
        df = pd.DataFrame({"group": chunk[col], "value": chunk["popularity"].astype(float)})
        if col.endswith("s"):
            df = df.explode("group")
        df = df.dropna()
        frames.append(df.assign(group=df["group"].astype(str), level=col))
    if not frames:
        empty = pd.DataFrame({"level": [], "group": [], "value": []})
        return _moments(empty, ["level", "group"]), _hist(empty, ["level", "group"], width)
    df = pd.concat(frames, ignore_index=True)
    return _moments(df, ["level", "group"]), _hist(df, ["level", "group"], width)


def _counts(chunk: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tracks per (year, cluster), per (key, mode) and per cluster."""
    yc = chunk[["year", "cluster"]].dropna()
    yc = yc.assign(year=yc["year"].astype(int))
    km = chunk[["key", "mode"]].dropna()
    km = km[(km["key"] >= 0) & (km["key"] <= 11)]
    return {"year_cluster": yc.groupby(["year", "cluster"]).size().rename("tracks").reset_index(),
            "key_mode": km.groupby(["key", "mode"]).size().rename("tracks").reset_index(),
            "cluster_size": chunk.groupby("cluster").size().rename("tracks").reset_index()}


def _correlation(chunk: pd.DataFrame) -> pd.DataFrame:
    """Per feature pair (i <= j), over rows where both have a value: n, both means, both
    centred sums of squares and the co-moment. numpy sums (pairwise, one thread): the same
    bits on any worker."""
    cols = [f for f in TREND_FEATURES if f in chunk.columns]
    x = chunk[cols].astype(float).to_numpy()
    rows = []
    for i in range(len(cols)):
        for j in range(i, len(cols)):
            ok = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            a, b = x[ok, i], x[ok, j]
            n = int(ok.sum())
            ma, mb = (a.mean(), b.mean()) if n else (0.0, 0.0)
            da, db = a - ma, b - mb
            rows.append((cols[i], cols[j], n, ma, mb, float((da * da).sum()),
                         float((db * db).sum()), float((da * db).sum())))
    return pd.DataFrame(rows, columns=["a", "b", "n", "mean_a", "mean_b", "m2_a", "m2_b", "c"])


def _top_counts(chunk: pd.DataFrame, offset: int) -> pd.DataFrame:
    """Per (column, cluster, value): tracks and the first occurrence (row, place in the
    row's list), which orders ties as ``value_counts`` does (stable, by first appearance)."""
    from pipeline.map import column_values  # the Cluster browser's reading of a column

    frames = []
    for column in [c for c in TOP_COLUMNS if c in chunk.columns]:
        vals = column_values(chunk, column)
        pos = vals.index.to_numpy()
        df = pd.DataFrame({"cluster": chunk["cluster"].to_numpy()[pos], "value": vals.to_numpy(),
                           "row": pos + offset,
                           "k": vals.groupby(level=0).cumcount().to_numpy()})
        g = df.groupby(["cluster", "value"], sort=True)
        frames.append(g.agg(tracks=("row", "size"), row=("row", "first"), k=("k", "first"))
                      .reset_index().assign(column=column))
    if not frames:
        return pd.DataFrame({"cluster": [], "value": [], "tracks": [], "row": [], "k": [],
                             "column": []})
    return pd.concat(frames, ignore_index=True)


def chunk_moments(chunk: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A chunk's feature moments, overall and per cluster (the centres' first pass)."""
    chunk = chunk.reset_index(drop=True)
    return {"features": _features(chunk), "clusters": _clusters(chunk)}


@dataclass(frozen=True)
class RowInputs:
    """What a chunk needs from the first pass for the row tables (:func:`first_pass`)."""

    centres: dict                      # the clusters' centres (see first_pass)
    offsets: dict[str, int]            # per feature, values in the chunks before this one
    positions: dict[str, np.ndarray]   # the distribution samples (sample_positions)
    reps: int = 15                     # typical tracks kept per cluster
    points: tuple[int, ...] = ()       # the distribution samples' sizes


def first_pass(moments: Sequence[dict[str, pd.DataFrame]]) -> dict:
    """From the chunks' :func:`chunk_moments` in chunk order, as plain lists (a small dict
    a task carries to every partition): each cluster's mean and the catalog's standard
    deviation (ddof 0) of ``REP_FEATURES`` (``centres``), each feature's count of values
    (``n_valid``) and, per chunk, the count in the chunks before it (``offsets``)."""
    feats = stats(merge_moments([m["features"] for m in moments], ["feature"]))
    clus = merge_moments([m["clusters"] for m in moments], ["cluster", "feature"])
    cols = [f for f in REP_FEATURES if f in set(feats["feature"])]
    means = clus.pivot(index="cluster", columns="feature", values="mean").reindex(columns=cols)
    counts = [dict(zip(m["features"]["feature"], m["features"]["n"].astype(int)))
              for m in moments]
    names = list(feats["feature"])
    offsets, run = [], dict.fromkeys(names, 0)
    for c in counts:
        offsets.append(dict(run))
        run = {f: run[f] + int(c.get(f, 0)) for f in names}
    return {"centres": {"features": cols,
                        "sd0": feats.set_index("feature").loc[cols, "sd0"].tolist(),
                        "clusters": [int(c) for c in means.index],
                        "means": means.to_numpy(float).tolist()},
            "n_valid": run, "offsets": offsets}


def row_inputs(first: dict, chunk: int, positions: dict[str, np.ndarray], cfg: Any
               ) -> RowInputs:
    """Chunk ``chunk``'s :class:`RowInputs` (``cfg``: ``AggregatesConfig``)."""
    return RowInputs(first["centres"], first["offsets"][chunk], positions,
                     cfg.representatives, tuple(cfg.distribution_points))


def chunk_partials(chunk: pd.DataFrame, offset: int, widths: dict[str, float],
                   rows: RowInputs | None = None) -> dict[str, pd.DataFrame]:
    """One chunk's partial results, by table name.

    Args:
        chunk: rows ``offset:offset + len(chunk)`` of the track table with ``cluster``
            (and ``cluster_probability``), index 0..len-1.
        offset: the chunk's first row in the table.
        widths: histogram bin width per feature (``AggregatesConfig.bin_widths``).
        rows: the first pass's inputs for the row tables (None: no typical tracks and
            distribution samples).
    """
    chunk = chunk.reset_index(drop=True)
    extra = {} if rows is None else {
        "reps": rep_candidates(chunk, rows.centres, rows.reps),
        "dist": dist_rows(chunk, rows.offsets, rows.positions, rows.points)}
    by_year, by_year_hist = _by_year(chunk, widths)
    pop, pop_hist = _popularity(chunk, widths.get("popularity", DEFAULT_WIDTH))
    return {"by_year": by_year, "by_year_hist": by_year_hist, "features": _features(chunk),
            "clusters": _clusters(chunk), "popularity": pop, "popularity_hist": pop_hist,
            "correlation": _correlation(chunk), "top": _top_counts(chunk, offset),
            **_counts(chunk), **extra, "rows": pd.DataFrame({"rows": [len(chunk)]})}


def aggregate_outputs(partials: Sequence[dict[str, pd.DataFrame]], n_rows: int, cfg: Any
                      ) -> dict[str, Any]:
    """The aggregates stage's artifacts by file name from the chunks' partials (in chunk
    order): the tables of :func:`combine_partials` and ``aggregates_report.json``."""
    tables = combine_partials(partials, cfg.top_n, cfg.representatives)
    out: dict[str, Any] = {f: tables[name] for f, name in FILES.items()}
    out["aggregates_report.json"] = aggregates_report(tables, n_rows, len(partials), cfg)
    return out


def build_aggregates(tracks: pd.DataFrame, cfg: Any) -> dict[str, Any]:
    """The aggregates of a track table with its ``cluster`` column, chunk after chunk
    (``cfg``: :class:`~pipeline.config.AggregatesConfig`). A catalog update's form; a build
    reads its chunks from the cache files (pipeline/build/engines/partition_aggregates.py)."""
    cols = [c for c in (*TRACK_COLUMNS, "cluster", "cluster_probability") if c in tracks.columns]
    cut = [tracks.iloc[lo:lo + cfg.chunk_rows][cols]
           for lo in range(0, len(tracks), cfg.chunk_rows)]
    first = first_pass([chunk_moments(c) for c in cut])
    positions = sample_positions(first["n_valid"], cfg.distribution_points)
    partials = [chunk_partials(c, i * cfg.chunk_rows, cfg.bin_widths,
                               row_inputs(first, i, positions, cfg))
                for i, c in enumerate(cut)]
    return aggregate_outputs(partials, len(tracks), cfg)
