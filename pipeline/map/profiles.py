"""What distinguishes each cluster: names, profiles, top values and representative tracks.

Pure functions over the track table (``CatalogIndex.tracks``) and ``metrics.json``; no I/O.
A cluster's name reads its audio-feature profile as z-scores against the whole catalog,
its dominant genres and, when they set it apart, its central years, e.g.
``"energetic, loud-mastered, electric · edm"`` or ``"soft-mastered, acoustic · rock · 1971-78"``.
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
# (most tracks have little speech, no live audience and vocals). Loudness is how loud the
# track is mastered (dBFS), not how calm it sounds: "soft-mastered", never "quiet".
FEATURE_WORDS: dict[str, tuple[str, str | None]] = {
    "tempo": ("fast", "slow"),
    "energy": ("energetic", "calm"),
    "loudness": ("loud-mastered", "soft-mastered"),
    "acousticness": ("acoustic", "electric"),
    "danceability": ("danceable", "less danceable"),
    "valence": ("upbeat", "dark"),
    "speechiness": ("wordy", None),
    "instrumentalness": ("instrumental", None),
    "liveness": ("live", None),
    "popularity": ("popular", "obscure"),
}
# Features where a word needs most tracks past an absolute level (Spotify's own reading:
# instrumentalness > 0.5 "likely instrumental", speechiness > 0.33 "music and speech",
# liveness > 0.8 "likely live"); a high mean alone can come from a few tracks.
ABSOLUTE_LEVELS: dict[str, float] = {"instrumentalness": 0.5, "speechiness": 0.33,
                                     "liveness": 0.8}
MIN_Z = 0.5            # |mean z-score| for a feature to be named
MIN_SIDE_SHARE = 0.7   # share of the cluster's tracks on the named side of the catalog median
MIN_LEVEL_SHARE = 0.5  # share past ABSOLUTE_LEVELS for "instrumental", "wordy", "live"
YEAR_MIN_SHIFT = 0.5   # cluster's median year this many catalog sds from the catalog's


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


def describe_profile(z: pd.Series, n_words: int = 3, threshold: float = MIN_Z,
                     side_share: pd.Series | None = None) -> str:
    """Words for the features that set a cluster apart, strongest first.

    Args:
        z: one cluster's z-scores by feature (a row of :func:`feature_profile`).
        n_words: at most this many words.
        threshold: minimum absolute z-score for a feature to count as distinctive.
        side_share: per feature, the share of the cluster's tracks on the side the word
            names (see :func:`side_shares`); a feature below ``MIN_SIDE_SHARE`` (or
            ``MIN_LEVEL_SHARE`` for ``ABSOLUTE_LEVELS``) is not named, however high its mean.
    """
    words = []
    for feat in z.abs().sort_values(ascending=False).index:
        value = float(z[feat])
        if abs(value) < threshold or len(words) >= n_words:
            break
        high, low = FEATURE_WORDS.get(feat, (f"high {feat}", f"low {feat}"))
        word = high if value > 0 else low
        if side_share is not None and feat in side_share.index:
            need = MIN_LEVEL_SHARE if feat in ABSOLUTE_LEVELS else MIN_SIDE_SHARE
            if float(side_share[feat]) < need:
                continue
        if word:
            words.append(word)
    return ", ".join(words) if words else "typical sound"


def side_shares(tracks: pd.DataFrame, cluster: int, z: pd.Series,
                medians: pd.Series | None = None) -> pd.Series:
    """Per feature, the share of the cluster's tracks on the side its mean points to:
    above the catalog median when z > 0 (past ``ABSOLUTE_LEVELS`` for the features there),
    below it when z < 0. A word backed by a share near 1 holds for almost every track.
    ``medians``: the catalog's medians of the features, when the caller has them (a
    catalog-wide median per cluster took 90 s of naming 21 clusters at 10M tracks)."""
    cols = list(z.index)
    members = tracks.loc[tracks["cluster"].to_numpy() == cluster, cols].astype(float)
    med = tracks[cols].astype(float).median() if medians is None else medians[cols]
    out = {}
    for feat in z.index:
        v = members[feat].dropna()
        if v.empty:
            out[feat] = 0.0
        elif z[feat] > 0:
            out[feat] = float((v > ABSOLUTE_LEVELS.get(feat, med[feat])).mean())
        else:
            out[feat] = float((v < med[feat]).mean())
    return pd.Series(out)


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


def years_distinguish(cluster_years: pd.Series, all_years: pd.Series,
                      min_shift: float = YEAR_MIN_SHIFT) -> bool:
    """Whether a cluster's release years set it apart: its median year lies at least
    ``min_shift`` catalog standard deviations from the catalog's median year."""
    y, a = cluster_years.dropna(), all_years.dropna()
    if y.empty or len(a) < 2 or not a.std() > 0:
        return False
    return abs(float(y.median()) - float(a.median())) >= min_shift * float(a.std())


def cluster_names(tracks: pd.DataFrame) -> dict[int, str]:
    """A readable, unique name for every cluster id (noise is "unclustered").

    The name holds only what distinguishes the cluster: features named by
    :func:`describe_profile` (backed by most of its tracks), its leading genres, and its
    central years only when they differ from the catalog's (:func:`years_distinguish`).
    """
    z = feature_profile(tracks)
    medians = tracks[list(z.columns)].astype(float).median()
    names: dict[int, str] = {}
    for cid, group in tracks.groupby("cluster"):
        cid = int(cid)
        if cid == NOISE:
            names[cid] = NOISE_NAME
            continue
        shares = side_shares(tracks, cid, z.loc[cid], medians)
        parts = [describe_profile(z.loc[cid], side_share=shares),
                 dominant_genres(group["genre"])]
        if years_distinguish(group["year"], tracks["year"]):
            parts.append(year_span(group["year"]))
        names[cid] = " · ".join(parts)
    seen: dict[str, int] = {}
    for cid, name in sorted(names.items()):
        seen[name] = seen.get(name, 0) + 1
    for cid, name in names.items():
        if seen[name] > 1 and cid != NOISE:
            names[cid] = f"{name} (#{cid})"
    return names


def cluster_summary(tracks: pd.DataFrame, metrics: dict | None = None,
                    names: dict[int, str] | None = None) -> pd.DataFrame:
    """One row per cluster: id, name, size, share, silhouette, mean membership, top genre, years.

    ``silhouette`` comes from ``metrics["clusters"]["per_cluster_silhouette"]`` (indexed by
    cluster id; NaN for noise, where a silhouette is not defined). ``names``: the build's
    names (``cluster_names.json``) when they cover every cluster, else computed here
    (:func:`cluster_names`: 11 s at 1M tracks).
    """
    metrics = metrics or {}
    sil = (metrics.get("clusters") or {}).get("per_cluster_silhouette") or []
    ids = {int(c) for c in tracks["cluster"].unique()}
    if not names or not ids <= set(names):
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
    values = column_values(tracks, column)
    in_cluster = values[tracks.loc[values.index, "cluster"].to_numpy() == cluster]
    counts = in_cluster.value_counts()
    if counts.empty:
        return pd.DataFrame(columns=["value", "tracks", "share", "lift"])
    overall = values.value_counts() / max(len(tracks), 1)
    out = pd.DataFrame({"value": counts.index.astype(str), "tracks": counts.to_numpy()})
    out["share"] = out["tracks"] / int((tracks["cluster"] == cluster).sum())
    out["lift"] = out["share"] / overall.reindex(counts.index).to_numpy()
    return out.head(n).reset_index(drop=True)


def column_values(tracks: pd.DataFrame, column: str) -> pd.Series:
    """A column's values as the Cluster browser lists them: decades as "1990s", lists
    (genres, subgenres) exploded, missing values dropped."""
    col = tracks[column]
    if column == "decade":
        return col.dropna().astype(int).astype(str) + "s"
    if col.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
        return col.explode().dropna().astype(str)
    return col.dropna().astype(str)


def representative_tracks(tracks: pd.DataFrame, cluster: int, n: int = 10,
                          features: Sequence[str] = PROFILE_FEATURES) -> pd.DataFrame:
    """The ``n`` most typical tracks of ``cluster``: closest to the cluster's average audio
    profile (the features of :func:`feature_profile`, each scaled by its catalog standard
    deviation), one release per song (the closest one).

    Returns:
        DataFrame(track_id, track_name, artist, year, genre, popularity,
        cluster_probability, distance, spotify_url), most typical first; ``distance`` is
        the root-mean-square distance to the centre in standard deviations.
    """
    cols = [c for c in ("track_id", "track_name", "artist", "year", "genre", "popularity",
                        "cluster_probability", "spotify_url") if c in tracks.columns]
    feats = [f for f in features if f in tracks.columns]
    x = tracks[feats].astype(float)
    sd = x.std(ddof=0).replace(0, np.nan)
    members = tracks["cluster"].to_numpy() == cluster
    xs = ((x[members] - x[members].mean()) / sd).fillna(0.0)
    sub = tracks.loc[members, cols].assign(distance=np.sqrt((xs ** 2).mean(axis=1)).to_numpy())
    sub = sub.sort_values(["distance", "track_id"] if "track_id" in sub else "distance")
    if "song_group" in tracks.columns:
        sub = sub[~tracks.loc[sub.index, "song_group"].duplicated().to_numpy()]
    order = [c for c in cols if c != "spotify_url"] + ["distance"] + (
        ["spotify_url"] if "spotify_url" in cols else [])
    return sub.head(n)[order].reset_index(drop=True)


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
