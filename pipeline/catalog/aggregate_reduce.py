"""The aggregates' reduction: every chunk's partial results
(:func:`pipeline.catalog.chunk_partials`), taken in chunk order, into the artifact tables
(docs/AGGREGATES.md). Counts are summed, means weighted by counts, centred sums of squares
and co-moments merged with Chan et al.'s update, histograms summed bin by bin; quantiles
are read from the merged histograms with an error bound per value. Pure functions.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

import numpy as np
import pandas as pd

from .aggregate_rows import distributions, representatives

QUANTILES: tuple[float, ...] = (0.25, 0.5, 0.75)


def merge_moments(frames: Sequence[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Chunks' (n, mean, m2) per key reduced: n summed, the mean weighted by n, m2 summed
    with each chunk's n * (its mean - the mean)^2 (Chan et al.). Rows sorted by key."""
    df = pd.concat(frames, ignore_index=True)
    df["s"] = df["n"] * df["mean"]
    tot = df.groupby(keys, sort=True)[["n", "s"]].sum()
    mu = (tot["s"] / tot["n"]).rename("mu")
    d = df.join(mu, on=keys)
    dev = d["mean"] - d["mu"]
    m2 = (d["m2"] + d["n"] * dev * dev).groupby([d[k] for k in keys], sort=True).sum()
    return pd.DataFrame({"n": tot["n"].astype(np.int64), "mean": mu, "m2": m2}).reset_index()


def merge_hist(frames: Iterable[pd.DataFrame], keys: list[str], batch: int = 8
               ) -> pd.DataFrame:
    """Histograms summed bin by bin (counts summed, each bin's min and max kept), folded
    ``batch`` chunks at a time: a chunk's by-year histogram has about 1M rows (73 MB), so
    a 10M-track catalog's 153 chunks held at once took the combine past 22 GB. Sums of
    integers, minima and maxima: the same table for any batch."""
    it, acc = iter(frames), None
    while group := list(islice(it, batch)):
        g = pd.concat(group if acc is None else [acc, *group],
                      ignore_index=True).groupby([*keys, "bin"], sort=True)
        acc = g.agg(count=("count", "sum"), vmin=("vmin", "min"),
                    vmax=("vmax", "max")).reset_index()
    if acc is None:
        raise ValueError("merge_hist: no histograms to merge")
    return acc


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's linear interpolation (what ``Series.quantile`` uses), bit for bit."""
    diff = b - a
    out = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), out)


def hist_quantiles(hist: pd.DataFrame, keys: list[str], probs: Sequence[float]) -> pd.DataFrame:
    """Quantiles (linear interpolation, as pandas) per key from merged histograms.

    The order statistics a quantile needs are read from the bin that holds them: exact when
    the bin's count is 1 or it is the bin's first or last value (its min / max), else
    interpolated between min and max, off by at most ``vmax - vmin`` (<= the bin width).

    Returns:
        keys + ``q{p}`` and ``q{p}_err`` (the bound) per probability, e.g. ``q25``, ``q25_err``.
    """
    counts = hist["count"].to_numpy(np.int64)
    vmin, vmax = hist["vmin"].to_numpy(float), hist["vmax"].to_numpy(float)
    cum = np.cumsum(counts)
    cells = hist.groupby(keys, sort=True)["count"].sum()
    n = cells.to_numpy(np.int64)
    start = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)

    def order_stat(rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = np.searchsorted(cum, start + rank, side="right")
        c = counts[b]
        j = start + rank - (cum[b] - c)
        span = vmax[b] - vmin[b]
        value = np.where(c > 1, vmin[b] + span * (j / np.maximum(c - 1, 1)), vmin[b])
        value = np.where(j == c - 1, vmax[b], value)
        return value, np.where((j == 0) | (j == c - 1), 0.0, span)

    out = cells.index.to_frame(index=False)
    for p in probs:
        h = (n - 1) * p
        lo = np.floor(h).astype(np.int64)
        t = h - lo
        (a, ea), (b, eb) = order_stat(lo), order_stat(np.minimum(lo + 1, n - 1))
        name = f"q{round(p * 100)}"
        out[name] = _lerp(a, b, t)
        out[f"{name}_err"] = np.maximum(ea, np.where(t > 0, eb, 0.0))
    return out


def stats(m: pd.DataFrame) -> pd.DataFrame:
    """Sample (ddof 1, NaN for one value) and population standard deviations from m2."""
    n = m["n"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.where(n > 1, np.sqrt(m["m2"] / np.maximum(n - 1, 1)), np.nan)
        sd0 = np.where(n > 0, np.sqrt(m["m2"] / np.maximum(n, 1)), np.nan)
    return m.assign(sd=sd, sd0=sd0).drop(columns="m2")


def _correlation_matrix(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Pearson correlations from the chunks' pairwise co-moments (Chan et al.)."""
    df = pd.concat(frames, ignore_index=True)
    cols = list(dict.fromkeys(df["a"]))
    out = pd.DataFrame(np.nan, index=cols, columns=cols)
    for (a, b), g in df.groupby(["a", "b"], sort=False):
        n = g["n"].to_numpy(float)
        total = n.sum()
        if total == 0:
            continue
        ma = (n * g["mean_a"]).sum() / total
        mb = (n * g["mean_b"]).sum() / total
        da, db = g["mean_a"].to_numpy() - ma, g["mean_b"].to_numpy() - mb
        m2a = (g["m2_a"].to_numpy() + n * da * da).sum()
        m2b = (g["m2_b"].to_numpy() + n * db * db).sum()
        c = (g["c"].to_numpy() + n * da * db).sum()
        div = np.sqrt(m2a * m2b)
        out.loc[a, b] = out.loc[b, a] = c / div if div != 0 else np.nan
    return out.rename_axis("feature").reset_index()


def _top_values(frames: Sequence[pd.DataFrame], sizes: pd.DataFrame, n_rows: int,
                top_n: int) -> pd.DataFrame:
    """The ``top_n`` values per (column, cluster) with tracks, share and lift, as
    :func:`pipeline.map.top_values` ranks them."""
    df = pd.concat(frames, ignore_index=True)
    df = df.groupby(["column", "cluster", "value"], sort=True).agg(
        tracks=("tracks", "sum"), row=("row", "first"), k=("k", "first")).reset_index()
    overall = df.groupby(["column", "value"], sort=True)["tracks"].sum().rename("overall")
    df = df.join(overall, on=["column", "value"])
    df = df.sort_values(["column", "cluster", "tracks", "row", "k"],
                        ascending=[True, True, False, True, True], kind="stable")
    df = df.groupby(["column", "cluster"], sort=False).head(top_n)
    size = sizes.set_index("cluster")["tracks"]
    df["share"] = df["tracks"] / size.reindex(df["cluster"]).to_numpy()
    df["lift"] = df["share"] / (df["overall"] / max(n_rows, 1))
    return df[["column", "cluster", "value", "tracks", "share", "lift"]].reset_index(drop=True)


def combine_partials(partials: Sequence[dict[str, pd.DataFrame]], top_n: int = 10,
                     reps: int = 15) -> dict[str, pd.DataFrame]:
    """The artifact tables from every chunk's partials, given in chunk order.

    Returns:
        by_year (feature, by, year, group, n, mean, sd, q25, q25_err, q75, q75_err),
        features (feature, n, mean, sd, sd0), clusters (cluster, feature, n, mean, sd, sd0),
        year_cluster, key_mode, cluster_size (tracks), popularity (level, group, n, mean,
        median, q25, q75 and bounds), correlation (feature x feature), top_values,
        representatives and distributions (when the partials hold their rows).
    """
    def take(name: str) -> list[pd.DataFrame]:
        return [p[name] for p in partials]

    def each(name: str) -> Iterable[pd.DataFrame]:  # read one chunk at a time (merge_hist)
        return (p[name] for p in partials)

    keys = ["feature", "by", "year", "group"]
    by_year = stats(merge_moments(take("by_year"), keys)).merge(
        hist_quantiles(merge_hist(each("by_year_hist"), keys), keys, (0.25, 0.75)),
        on=keys, how="left")
    pkeys = ["level", "group"]
    pop = stats(merge_moments(take("popularity"), pkeys)).merge(
        hist_quantiles(merge_hist(each("popularity_hist"), pkeys), pkeys, QUANTILES),
        on=pkeys, how="left").rename(columns={"q50": "median", "q50_err": "median_err"})
    counts = {name: pd.concat(take(name), ignore_index=True)
              .groupby(cols, sort=True)["tracks"].sum().reset_index()
              for name, cols in (("year_cluster", ["year", "cluster"]),
                                 ("key_mode", ["key", "mode"]), ("cluster_size", ["cluster"]))}
    n_rows = int(sum(int(p["rows"]["rows"].iloc[0]) for p in partials))
    return {"by_year": by_year,
            "features": stats(merge_moments(take("features"), ["feature"])),
            "clusters": stats(merge_moments(take("clusters"), ["cluster", "feature"])),
            "popularity": pop, **counts,
            "correlation": _correlation_matrix(take("correlation")),
            "top_values": _top_values(take("top"), counts["cluster_size"], n_rows, top_n),
            **({"representatives": representatives(take("reps"), reps),
                "distributions": distributions(take("dist"))}
               if partials and all("reps" in p for p in partials) else {})}


def aggregates_report(tables: dict[str, pd.DataFrame], n_rows: int, chunks: int,
                      cfg: Any) -> dict:
    """What was aggregated and how exactly: per feature, the largest quantile error bound
    of the year bands and the share of exact quantiles (no timings: the report is
    byte-identical too)."""
    by_year, pop = tables["by_year"], tables["popularity"]
    errs = by_year[["feature"]].assign(err=by_year[["q25_err", "q75_err"]].max(axis=1))
    exact = by_year[["q25_err", "q75_err"]].eq(0).mean(axis=1)
    pop_errs = pop[[c for c in pop.columns if c.endswith("_err")]].to_numpy()
    return {"rows": n_rows, "chunks": chunks, "chunk_rows": cfg.chunk_rows,
            "bin_widths": dict(sorted(cfg.bin_widths.items())), "top_n": cfg.top_n,
            "year_band_quantiles": {
                f: {"max_error": float(g["err"].max()),
                    "exact_share": round(float(exact[g.index].mean()), 4)}
                for f, g in errs.groupby("feature", sort=True)},
            "popularity_quantiles_max_error": float(pop_errs.max()) if pop_errs.size else 0.0}
