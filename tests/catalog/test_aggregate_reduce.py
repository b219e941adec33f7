"""pipeline.catalog.aggregate_reduce: quantiles from merged chunk histograms stay within
the bound they report, and are exact on the grid."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.catalog.aggregate_reduce import hist_quantiles, merge_hist, merge_moments


def test_hist_quantiles_bound_holds_and_is_tight_on_the_grid():
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, 5000)
    keys = rng.integers(0, 7, 5000)
    frames = []
    for lo in range(0, 5000, 999):  # chunked histograms, merged
        d = pd.DataFrame({"k": keys[lo:lo + 999], "value": values[lo:lo + 999]})
        b = np.rint(d["value"].to_numpy() / 0.05).astype(np.int64)
        frames.append(d.assign(bin=b).groupby(["k", "bin"])["value"]
                      .agg(count="size", vmin="min", vmax="max").reset_index())
    q = hist_quantiles(merge_hist(frames, ["k"]), ["k"], (0.1, 0.5, 0.9))
    live = pd.DataFrame({"k": keys, "v": values}).groupby("k")["v"]
    for p in (0.1, 0.5, 0.9):
        col = f"q{round(p * 100)}"
        err = np.abs(q[col].to_numpy() - live.quantile(p).to_numpy())
        assert (err <= q[f"{col}_err"].to_numpy() + 1e-12).all()
        assert q[f"{col}_err"].max() < 0.05 and err.max() > 0  # inexact off the grid


def test_merged_moments_are_the_whole_tables():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"k": rng.integers(0, 5, 3000), "value": rng.normal(2e5, 6e4, 3000)})
    parts = []
    for lo in range(0, 3000, 700):
        g = df.iloc[lo:lo + 700].groupby("k")["value"]
        parts.append(pd.DataFrame({"n": g.size(), "mean": g.mean(),
                                   "m2": g.var(ddof=0) * g.size()}).reset_index())
    merged = merge_moments(parts, ["k"]).set_index("k")
    whole = df.groupby("k")["value"]
    np.testing.assert_array_equal(merged["n"], whole.size())
    np.testing.assert_allclose(merged["mean"], whole.mean(), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(merged["m2"] / (merged["n"] - 1)), whole.std(),
                               rtol=1e-9)
