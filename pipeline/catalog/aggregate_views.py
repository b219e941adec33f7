"""The Trends and Cluster browser tables read from the precomputed aggregates.

Each function returns what its live counterpart (:mod:`pipeline.catalog.trends`,
:mod:`pipeline.map.profiles`) returns for the whole, unfiltered catalog, from the tables
:func:`~pipeline.catalog.aggregates.combine_partials` wrote: same columns, rows and order;
means and correlations within ~1e-12 relative, quantiles within their stored bounds
(docs/AGGREGATES.md). A request the tables do not cover returns None (the caller computes
it live). :func:`read_aggregates` is the one reader of the artifacts.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .aggregate_rows import REP_FEATURES, SAMPLE_SEED
from .aggregates import FILES
from .trends import BANDS, GROUPINGS, KEY_NAMES, TREND_FEATURES


@dataclass(frozen=True)
class Aggregates:
    """The precomputed tables by name (see :func:`~pipeline.catalog.combine_partials`):
    given, or read from ``cache`` on first use (a page reads only the tables it shows)."""

    tables: dict[str, pd.DataFrame]
    cache: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self.tables and self.cache is not None:
            from pipeline.store import read_parquet

            with self._lock:  # shared by the dashboard's sessions: read once
                if name not in self.tables:
                    file = next(f for f, n in FILES.items() if n == name)
                    self.tables[name] = read_parquet(self.cache / file)
        return self.tables[name]


def read_aggregates(cache: str | Path) -> Aggregates | None:
    """The aggregates of a built cache (tables read on first use), or None when it has
    none (built before the stage)."""
    cache = Path(cache)
    if not all((cache / f).exists() for f in FILES):
        return None
    return Aggregates({}, cache.resolve())  # this build's generation, even if the link moves


def feature_by_year(agg: Aggregates, feature: str, by: str | None = None, band: str = "ci95",
                    min_tracks: int = 10) -> pd.DataFrame | None:
    """:func:`pipeline.catalog.feature_by_year` of the whole catalog."""
    if band not in BANDS or by not in GROUPINGS:
        return None
    t = agg["by_year"]
    d = t[(t["feature"] == feature) & (t["by"] == (by or "none"))]
    if d.empty:
        return None
    d = d[d["n"] >= min_tracks]
    if band == "ci95":
        half = 1.96 * d["sd"].fillna(0) / np.sqrt(d["n"])
        lo, hi = d["mean"] - half, d["mean"] + half
    else:
        lo, hi = d["q25"], d["q75"]
    return pd.DataFrame({"year": d["year"], "group": d["group"], "mean": d["mean"], "lo": lo,
                         "hi": hi, "n": d["n"]}).reset_index(drop=True)


def normalised_trends(agg: Aggregates, features: Sequence[str],
                      min_tracks: int = 10) -> pd.DataFrame | None:
    """:func:`pipeline.catalog.normalised_trends` of the whole catalog."""
    stats = agg["features"].set_index("feature")
    frames = []
    for feat in features:
        yearly = feature_by_year(agg, feat, min_tracks=min_tracks)
        if yearly is None or feat not in stats.index:
            return None
        sd = stats.loc[feat, "sd"]
        z = (yearly["mean"] - stats.loc[feat, "mean"]) / (sd if sd and np.isfinite(sd) else 1.0)
        frames.append(pd.DataFrame({"year": yearly["year"], "feature": feat, "z": z,
                                    "mean": yearly["mean"], "n": yearly["n"]}))
    if not frames:
        return pd.DataFrame(columns=["year", "feature", "z", "mean", "n"])
    return pd.concat(frames, ignore_index=True)


def cluster_share_by_year(agg: Aggregates, min_tracks: int = 10) -> pd.DataFrame:
    """:func:`pipeline.catalog.cluster_share_by_year` of the whole catalog."""
    counts = agg["year_cluster"].copy()
    totals = counts.groupby("year")["tracks"].transform("sum")
    counts["share"] = counts["tracks"] / totals
    return counts[totals >= min_tracks].reset_index(drop=True)


def correlation_matrix(agg: Aggregates, features: Sequence[str] = TREND_FEATURES
                       ) -> pd.DataFrame:
    """:func:`pipeline.catalog.correlation_matrix` of the whole catalog (its default
    ``features`` only: :func:`precomputed` declines others)."""
    corr = agg["correlation"].set_index("feature")
    corr.index.name = None
    return corr


def key_mode_distribution(agg: Aggregates) -> pd.DataFrame:
    """:func:`pipeline.catalog.key_mode_distribution` of the whole catalog."""
    out = agg["key_mode"].copy()
    out["key"] = out["key"].astype(int)
    out["key_name"] = [KEY_NAMES[k] for k in out["key"]]
    out["mode"] = np.where(out["mode"].astype(int) == 1, "major", "minor")
    out["share"] = out["tracks"] / max(int(out["tracks"].sum()), 1)
    return out[["key", "key_name", "mode", "tracks", "share"]]


def popularity_by_group(agg: Aggregates, by: str = "genre",
                        min_tracks: int = 20) -> pd.DataFrame | None:
    """:func:`pipeline.catalog.popularity_by_group` of the whole catalog."""
    col = {"subgenre": "subgenres", "genres": "genres", "genre": "genre"}.get(by, by)
    t = agg["popularity"]
    d = t[t["level"] == col]
    if d.empty:
        return None
    out = pd.DataFrame({"group": d["group"], "tracks": d["n"], "mean": d["mean"],
                        "median": d["median"], "q25": d["q25"], "q75": d["q75"]})
    out = out[out["tracks"] >= min_tracks]
    return out.sort_values("median", ascending=False).reset_index(drop=True)


def top_values(agg: Aggregates, cluster: int, column: str, n: int = 10) -> pd.DataFrame | None:
    """:func:`pipeline.map.top_values` (at most the ``top_n`` the build kept)."""
    t = agg["top_values"]
    if column not in set(t["column"]) or n > _top_n(agg):
        return None
    d = t[(t["column"] == column) & (t["cluster"] == cluster)]
    if d.empty:
        return pd.DataFrame(columns=["value", "tracks", "share", "lift"])
    return d[["value", "tracks", "share", "lift"]].head(n).reset_index(drop=True)


def _top_n(agg: Aggregates) -> int:
    """The number of values kept per list (the largest list the build wrote, at least 1)."""
    t = agg["top_values"]
    return int(t.groupby(["column", "cluster"]).size().max()) if len(t) else 0


def feature_profile(agg: Aggregates, features: Sequence[str]) -> pd.DataFrame | None:
    """:func:`pipeline.map.feature_profile` of the whole catalog (None if a feature is not
    one of the aggregated ``TREND_FEATURES``)."""
    if not set(features) <= set(TREND_FEATURES):
        return None
    stats = agg["features"].set_index("feature")
    cols = [f for f in features if f in stats.index]
    means = _cluster_means(agg, cols)
    sd = stats.loc[cols, "sd0"].replace(0, np.nan)
    z = (means - stats.loc[cols, "mean"]) / sd
    z.index.name = "cluster"
    return z.fillna(0.0)


def _cluster_means(agg: Aggregates, cols: list[str]) -> pd.DataFrame:
    """(clusters, features) means; every cluster a row (NaN where it has no value)."""
    means = agg["clusters"].pivot(index="cluster", columns="feature", values="mean")
    means = means.reindex(index=agg["cluster_size"]["cluster"].to_numpy(), columns=cols)
    means.columns.name = None
    return means


def compare_clusters(agg: Aggregates, a: int, b: int,
                     features: Sequence[str]) -> pd.DataFrame | None:
    """:func:`pipeline.map.compare_clusters` of the whole catalog."""
    z = feature_profile(agg, features)
    if z is None or a not in z.index or b not in z.index:
        return None  # live raises its error naming the clusters
    cols = list(z.columns)
    means = _cluster_means(agg, cols)
    out = pd.DataFrame({"feature": cols, "mean_a": means.loc[a, cols].to_numpy(),
                        "mean_b": means.loc[b, cols].to_numpy(),
                        "z_a": z.loc[a, cols].to_numpy(), "z_b": z.loc[b, cols].to_numpy()})
    out["z_diff"] = out["z_a"] - out["z_b"]
    order = out["z_diff"].abs().sort_values(ascending=False).index
    return out.reindex(order).reset_index(drop=True)


def representative_tracks(agg: Aggregates, cluster: int, n: int = 10,
                          features: Sequence[str] = ()) -> pd.DataFrame | None:
    """:func:`pipeline.map.representative_tracks` (``features``: the build's, at most the
    ``representatives`` it kept per cluster)."""
    t = agg["representatives"]
    kept = int(t.groupby("cluster").size().max()) if len(t) else 0
    if tuple(features) != REP_FEATURES or n > kept:
        return None
    d = t[t["cluster"] == cluster].drop(columns="cluster")
    return d.head(n).reset_index(drop=True)


def feature_distribution(agg: Aggregates, feature: str, by: str = "genre",
                         max_points: int = 20000, seed: int = SAMPLE_SEED
                         ) -> pd.DataFrame | None:
    """:func:`pipeline.catalog.feature_distribution` of the whole catalog (the sample
    sizes and seed the build drew)."""
    t = agg["distributions"]
    d = t[(t["feature"] == feature) & (t["by"] == by) & (t["points"] == max_points)]
    if seed != SAMPLE_SEED or d.empty:
        return None
    return pd.DataFrame({"group": d["group"].astype("string"),
                         feature: d["value"].to_numpy()}).reset_index(drop=True)


# (module, function) of the live computation -> its precomputed form
_VIEWS = {
    ("pipeline.catalog", "feature_by_year"): feature_by_year,
    ("pipeline.catalog", "normalised_trends"): normalised_trends,
    ("pipeline.catalog", "cluster_share_by_year"): cluster_share_by_year,
    ("pipeline.catalog", "correlation_matrix"): correlation_matrix,
    ("pipeline.catalog", "key_mode_distribution"): key_mode_distribution,
    ("pipeline.catalog", "popularity_by_group"): popularity_by_group,
    ("pipeline.catalog", "feature_distribution"): feature_distribution,
    ("pipeline.map", "top_values"): top_values,
    ("pipeline.map", "feature_profile"): feature_profile,
    ("pipeline.map", "compare_clusters"): compare_clusters,
    ("pipeline.map", "representative_tracks"): representative_tracks,
}


def precomputed(agg: Aggregates, module: str, fn: str, kwargs: dict) -> pd.DataFrame | None:
    """What ``module.fn(whole_track_table, **kwargs)`` returns, read from the aggregates;
    None when they do not hold it (another function, a feature or argument they do not
    cover): the caller then computes it live. ``feature_profile``, ``compare_clusters`` and
    ``representative_tracks`` need their ``features`` passed
    (``pipeline.map.PROFILE_FEATURES``)."""
    import inspect

    view = _VIEWS.get((module, fn))
    if view is None or not set(kwargs) <= set(inspect.signature(view).parameters) - {"agg"}:
        return None
    if fn == "correlation_matrix" and tuple(kwargs.get("features", TREND_FEATURES)) \
            != TREND_FEATURES:
        return None
    if fn in ("feature_profile", "compare_clusters", "representative_tracks") \
            and "features" not in kwargs:  # their live default is the map's list
        return None
    return view(agg, **kwargs)
