"""What distinguishes each cluster: names, profiles, top values and representative tracks.

Pure functions over the track table (``CatalogIndex.tracks``) and ``metrics.json``; no I/O.
A cluster's name reads its audio-feature profile as z-scores against the whole catalog,
its dominant genres and its central years, e.g. ``"fast, loud, low acoustic · edm/pop · 2015-19"``.
HDBSCAN's noise (cluster -1) is the real label "unclustered".
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

NOISE = -1
NOISE_NAME = "unclustered"
PROFILE_FEATURES: tuple[str, ...] = (
    "danceability", "energy", "loudness", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "popularity")
# Word for a clearly high / clearly low value; None where "low" is the catalog norm
# (most tracks have little speech, no live audience and vocals).
FEATURE_WORDS: dict[str, tuple[str, str | None]] = {
    "tempo": ("fast", "slow"),
    "energy": ("energetic", "calm"),
    "loudness": ("loud", "quiet"),
    "acousticness": ("acoustic", "low acoustic"),
    "danceability": ("danceable", "less danceable"),
    "valence": ("upbeat", "dark"),
    "speechiness": ("wordy", None),
    "instrumentalness": ("instrumental", None),
    "liveness": ("live", None),
    "popularity": ("popular", "obscure"),
}


def cluster_label(cluster: int, names: dict[int, str] | None = None) -> str:
    """Display label of a cluster id: ``"7 · fast, loud · edm · 2015-19"`` or "unclustered"."""
    if cluster == NOISE:
        return NOISE_NAME
    name = (names or {}).get(cluster)
    return f"{cluster} · {name}" if name else f"cluster {cluster}"


def feature_profile(tracks: pd.DataFrame,
                    features: Sequence[str] = PROFILE_FEATURES) -> pd.DataFrame:
    """Each cluster's mean of each feature as a z-score against the whole catalog.

    Returns:
        DataFrame (n_clusters + noise, n_features) indexed by cluster id; 0 = catalog mean.
    """
    cols = [f for f in features if f in tracks.columns]
    x = tracks[cols].astype(float)
    mu, sd = x.mean(), x.std(ddof=0).replace(0, np.nan)
    means = x.groupby(tracks["cluster"].to_numpy()).mean()
    z = (means - mu) / sd
    z.index.name = "cluster"
    return z.fillna(0.0)


def describe_profile(z: pd.Series, n_words: int = 3, threshold: float = 0.35) -> str:
    """Words for the features that set a cluster apart, strongest first.

    Args:
        z: one cluster's z-scores by feature (a row of :func:`feature_profile`).
        n_words: at most this many words.
        threshold: minimum absolute z-score for a feature to count as distinctive.
    """
    words = []
    for feat in z.abs().sort_values(ascending=False).index:
        value = float(z[feat])
        if abs(value) < threshold or len(words) >= n_words:
            break
        high, low = FEATURE_WORDS.get(feat, (f"high {feat}", f"low {feat}"))
        word = high if value > 0 else low
        if word:
            words.append(word)
    return ", ".join(words) if words else "typical sound"


def dominant_genres(genres: pd.Series, max_genres: int = 2, min_share: float = 0.25) -> str:
    """The cluster's leading genres joined by "/", e.g. ``"edm/pop"``; "mixed genres" if none lead."""
    share = genres.dropna().astype(str).value_counts(normalize=True)
    top = [g for g, s in share.head(max_genres).items() if s >= min_share]
    return "/".join(top) if top else "mixed genres"


def year_span(years: pd.Series, lo_q: float = 0.25, hi_q: float = 0.75) -> str:
    """Central release years as ``"2015-19"`` / ``"1985-2012"`` / ``"2019"`` (inter-quartile)."""
    y = years.dropna()
    if y.empty:
        return "years unknown"
    lo, hi = int(y.quantile(lo_q)), int(y.quantile(hi_q))
    if lo == hi:
        return str(lo)
    if lo // 100 == hi // 100:
        return f"{lo}-{hi % 100:02d}"
    return f"{lo}-{hi}"


def cluster_names(tracks: pd.DataFrame) -> dict[int, str]:
    """A readable, unique name for every cluster id (noise is "unclustered")."""
    z = feature_profile(tracks)
    names: dict[int, str] = {}
    for cid, group in tracks.groupby("cluster"):
        cid = int(cid)
        if cid == NOISE:
            names[cid] = NOISE_NAME
            continue
        names[cid] = " · ".join([describe_profile(z.loc[cid]), dominant_genres(group["genre"]),
                                 year_span(group["year"])])
    seen: dict[str, int] = {}
    for cid, name in sorted(names.items()):
        seen[name] = seen.get(name, 0) + 1
    for cid, name in names.items():
        if seen[name] > 1 and cid != NOISE:
            names[cid] = f"{name} (#{cid})"
    return names


def cluster_summary(tracks: pd.DataFrame, metrics: dict | None = None) -> pd.DataFrame:
    """One row per cluster: id, name, size, share, silhouette, mean membership, top genre, years.

    ``silhouette`` comes from ``metrics["clusters"]["per_cluster_silhouette"]`` (indexed by
    cluster id; NaN for noise, where a silhouette is not defined).
    """
    metrics = metrics or {}
    sil = (metrics.get("clusters") or {}).get("per_cluster_silhouette") or []
    names = cluster_names(tracks)
    rows = []
    n = len(tracks)
    for cid, group in tracks.groupby("cluster"):
        cid = int(cid)
        rows.append({
            "cluster": cid, "name": names[cid], "size": len(group),
            "share": len(group) / n if n else 0.0,
            "silhouette": float(sil[cid]) if 0 <= cid < len(sil) else np.nan,
            "mean_membership": float(group["cluster_probability"].mean()),
            "top_genre": dominant_genres(group["genre"], max_genres=1, min_share=0.0),
            "years": year_span(group["year"]),
        })
    return pd.DataFrame(rows).sort_values("cluster").reset_index(drop=True)


def top_values(tracks: pd.DataFrame, cluster: int, column: str, n: int = 10) -> pd.DataFrame:
    """Most common values of ``column`` in a cluster with their share and lift over the catalog.

    List columns (``genres``, ``subgenres``) are exploded; ``decade`` is shown as "1990s".

    Returns:
        DataFrame(value, tracks, share, lift) sorted by tracks, at most ``n`` rows.
    """
    if column not in tracks.columns:
        raise KeyError(f"top_values: the track table has no column {column!r}")
    values = _column_values(tracks, column)
    in_cluster = values[tracks.loc[values.index, "cluster"].to_numpy() == cluster]
    counts = in_cluster.value_counts()
    if counts.empty:
        return pd.DataFrame(columns=["value", "tracks", "share", "lift"])
    overall = values.value_counts() / max(len(tracks), 1)
    out = pd.DataFrame({"value": counts.index.astype(str), "tracks": counts.to_numpy()})
    out["share"] = out["tracks"] / int((tracks["cluster"] == cluster).sum())
    out["lift"] = out["share"] / overall.reindex(counts.index).to_numpy()
    return out.head(n).reset_index(drop=True)


def _column_values(tracks: pd.DataFrame, column: str) -> pd.Series:
    col = tracks[column]
    if column == "decade":
        return col.dropna().astype(int).astype(str) + "s"
    if col.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
        return col.explode().dropna().astype(str)
    return col.dropna().astype(str)


def representative_tracks(tracks: pd.DataFrame, cluster: int, n: int = 10) -> pd.DataFrame:
    """The ``n`` tracks with the highest membership probability in ``cluster``."""
    cols = [c for c in ("track_id", "track_name", "artist", "year", "genre", "popularity",
                        "cluster_probability", "spotify_url") if c in tracks.columns]
    sub = tracks.loc[tracks["cluster"] == cluster, cols]
    return sub.sort_values(["cluster_probability", "popularity"],
                           ascending=False).head(n).reset_index(drop=True)


def compare_clusters(tracks: pd.DataFrame, a: int, b: int,
                     features: Sequence[str] = PROFILE_FEATURES) -> pd.DataFrame:
    """Two clusters side by side on each feature: means, z-scores and the z difference.

    Returns:
        DataFrame(feature, mean_a, mean_b, z_a, z_b, z_diff) sorted by |z_diff|, largest first.
    """
    known = set(tracks["cluster"].unique())
    for c in (a, b):
        if c not in known:
            raise KeyError(f"compare_clusters: cluster {c} does not exist "
                           f"(clusters are {sorted(int(k) for k in known)})")
    cols = [f for f in features if f in tracks.columns]
    z = feature_profile(tracks, cols)
    means = tracks[cols].astype(float).groupby(tracks["cluster"].to_numpy()).mean()
    out = pd.DataFrame({"feature": cols, "mean_a": means.loc[a, cols].to_numpy(),
                        "mean_b": means.loc[b, cols].to_numpy(),
                        "z_a": z.loc[a, cols].to_numpy(), "z_b": z.loc[b, cols].to_numpy()})
    out["z_diff"] = out["z_a"] - out["z_b"]
    return out.reindex(out["z_diff"].abs().sort_values(ascending=False).index).reset_index(drop=True)
