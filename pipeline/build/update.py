"""Catalog updates: apply the served build's fitted models to the tracks that changed.

After ingest, the new track table is compared with the served build's by ``track_id``
(:func:`diff_tracks`); :func:`decide` says whether the change is small enough to update
(:class:`pipeline.config.UpdateConfig`). An update keeps every kept track's rows of every
artifact and computes rows only for new and edited tracks, each step a pure function over
a batch of rows (the data-parallel stage bodies an engine can map over partitions):

- features: the fitted scaler (``FeatureScaler.transform``);
- embedding: the trained encoder (:func:`pipeline.map.embed_with`);
- neighbours: the previous graph merged with the fresh tracks (:func:`pipeline.map.update_graph`);
- projection: :func:`pipeline.map.place` among the kept tracks (UMAP's transform start);
- clusters: the majority label of the nearest kept tracks (:func:`pipeline.map.assign_labels`);
- genre: the saved LightGBM model (:func:`pipeline.recommend.apply_genre`);
- serving signals: :func:`pipeline.recommend.extend_rank_signals`;
- the Trends / Cluster browser aggregates: recomputed (:func:`pipeline.catalog.build_aggregates`);
- the rankers are kept (they score feature pairs, new tracks included).

Removed tracks leave every artifact; every artifact stays row-aligned with the new
``tracks.parquet``. The orchestrator writes the outputs into a working generation and
publishes it like any build (:mod:`pipeline.generations`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig

log = logging.getLogger(__name__)
# The columns the fitted models read: a kept id whose values here changed is "edited".
COMPARED = ("danceability", "energy", "key", "loudness", "mode", "speechiness",
            "acousticness", "instrumentalness", "liveness", "valence", "tempo",
            "duration_ms", "year", "decade", "popularity")


@dataclass
class TrackDiff:
    """How the new track table relates to the previous one.

    Attributes:
        prev_row: (n,) each current track's row in the previous build, -1 if new.
        edited: (n,) bool, kept id with changed feature values.
        n_prev: tracks in the previous build; removed: how many of them are gone.
    """

    prev_row: np.ndarray
    edited: np.ndarray
    n_prev: int
    removed: int

    @property
    def added(self) -> int:
        return int((self.prev_row < 0).sum())

    @property
    def n_edited(self) -> int:
        return int(self.edited.sum())

    @property
    def kept_row(self) -> np.ndarray:
        """(n,) previous row of each unchanged track, -1 for new and edited ones."""
        return np.where(self.edited, -1, self.prev_row)

    @property
    def fresh(self) -> np.ndarray:
        """Sorted rows of the new and edited tracks (the rows an update computes)."""
        return np.flatnonzero(self.kept_row < 0)

    def prev_to_new(self) -> np.ndarray:
        """(n_prev,) each previous row's current row, -1 if removed or edited."""
        out = np.full(self.n_prev, -1, np.int64)
        kept = np.flatnonzero(self.kept_row >= 0)
        out[self.kept_row[kept]] = kept
        return out

    def counts(self) -> dict[str, int]:
        kept = len(self.prev_row) - self.added - self.n_edited
        return {"added": self.added, "removed": self.removed, "edited": self.n_edited,
                "kept": int(kept)}


def diff_tracks(prev: pd.DataFrame, new: pd.DataFrame) -> TrackDiff:
    """Compare two track tables by ``track_id`` on the :data:`COMPARED` columns."""
    row_of = pd.Series(np.arange(len(prev)), index=prev["track_id"].to_numpy())
    prev_row = row_of.reindex(new["track_id"].to_numpy()).fillna(-1).to_numpy(np.int64)
    edited = np.zeros(len(new), bool)
    both = np.flatnonzero(prev_row >= 0)
    for col in (c for c in COMPARED if c in prev.columns or c in new.columns):
        if col not in prev.columns or col not in new.columns:
            edited[both] = True
            break
        a = pd.to_numeric(prev[col], errors="coerce").to_numpy(float)[prev_row[both]]
        b = pd.to_numeric(new[col], errors="coerce").to_numpy(float)[both]
        edited[both] |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
    removed = len(prev) - int(len(np.unique(prev_row[both])))
    return TrackDiff(prev_row, edited, len(prev), removed)


@dataclass
class Decision:
    update: bool
    reason: str                  # why (logged, shown by the CLI, in changes.json)
    changed_share: float         # (added + edited + removed) / previous tracks
    transform_share: float       # share placed by transform after an update


def decide(diff: TrackDiff, prev_transform: np.ndarray, cfg: PipelineConfig) -> Decision:
    """Update or refit: both shares must stay within :class:`UpdateConfig`'s limits.

    Args:
        prev_transform: (n_prev,) bool, previous tracks placed by transform since the
            last full fit.
    """
    c = diff.counts()
    changed = (c["added"] + c["edited"] + c["removed"]) / max(diff.n_prev, 1)
    kept = diff.kept_row[diff.kept_row >= 0]
    share = (int(prev_transform[kept].sum()) + c["added"] + c["edited"]) / max(len(diff.prev_row), 1)
    ucfg = cfg.update
    if changed > ucfg.max_changed_share:
        return Decision(False, f"{changed:.1%} of the catalog changed (limit "
                        f"{ucfg.max_changed_share:.0%}): refitting", changed, share)
    if share > ucfg.max_transform_share:
        return Decision(False, f"{share:.1%} of the tracks would be placed by transform "
                        f"since the last full fit (limit {ucfg.max_transform_share:.0%}): "
                        "refitting", changed, share)
    return Decision(True, f"{changed:.1%} of the catalog changed: updating", changed, share)


def _rows(prev: np.ndarray, diff: TrackDiff, fresh_values: np.ndarray) -> np.ndarray:
    """An artifact over the new catalog: kept rows from ``prev``, fresh rows computed."""
    kept = np.flatnonzero(diff.kept_row >= 0)
    out = np.empty((len(diff.prev_row), *prev.shape[1:]), prev.dtype)
    out[kept] = prev[diff.kept_row[kept]]
    out[diff.fresh] = fresh_values
    return out


def update_artifacts(prev: Callable[[str], Any], tracks: pd.DataFrame,
                     memberships: pd.DataFrame, diff: TrackDiff, cfg: PipelineConfig
                     ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every stage's new outputs after ingest, stage by stage in the build's order.

    Args:
        prev: reads an artifact of the served build by name (None if it has none).
        tracks, memberships: the new ingest's tables (n rows).
    Yields:
        (stage, {artifact: value}); a stage's artifacts absent from its dict are unchanged
        (the orchestrator links them from the served build).
    """
    from pipeline.catalog import FeatureScaler
    from pipeline.map import embed_with

    fresh = diff.fresh
    scaler = FeatureScaler.from_dict(prev("feature_scaler.json"))
    features = _rows(prev("features.npy"), diff, scaler.transform(tracks.iloc[fresh]))
    yield "features", {"features.npy": features}
    emb = _rows(prev("embedding.npy"), diff,
                embed_with(prev("encoder.safetensors"), features[fresh], cfg.embedding))
    yield "embedding", {"embedding.npy": emb}
    neighbors = _neighbors(prev, emb, diff, cfg)
    yield "neighbors", neighbors
    projection = _projection(prev, emb, diff, cfg)
    yield "projection", projection
    clusters = _clusters(prev, tracks, emb, projection, diff, cfg)
    yield "clusters", clusters
    yield "genre", _genre(prev, tracks, memberships, diff)
    yield "ranker", {}
    yield "rank_signals", _rank_signals(prev, tracks, memberships, emb,
                                        neighbors["neighbors_idx.npy"], diff, cfg)
    yield "aggregates", _aggregates(tracks, clusters["clusters.parquet"], cfg)


def _neighbors(prev: Callable[[str], Any], emb: np.ndarray, diff: TrackDiff,
               cfg: PipelineConfig) -> dict[str, Any]:
    from pipeline.config import stage_seed
    from pipeline.map import NeighborIndex, update_graph

    idx, sim, counts = update_graph(emb, prev("neighbors_idx.npy"), prev("neighbors_sim.npy"),
                                    diff.prev_to_new(), diff.fresh, cfg.neighbors.k)
    report = dict(prev("neighbors_report.json"), tracks=int(len(emb)), k=int(idx.shape[1]))
    if len(emb) <= cfg.neighbors.exact_max:
        index, note = np.zeros(0, np.uint8), "exact search: no index to update"
        report.update(method="exact", recall_at_10=1.0, recall_note="exact search")
    else:  # rebuilt over the updated embedding (HNSW cannot remove rows), as a build would
        built = NeighborIndex.build(emb, cfg.neighbors, stage_seed(cfg.seed, "neighbors"))
        index = built.to_bytes()
        note = f"{built.method} index rebuilt over the updated embedding (a full build's)"
        report.update(method=built.method, recall_note=report.get("recall_note", "") +
                      " (measured at the last full fit)")
    report["update"] = {**counts, "index": note}
    return {"neighbors_idx.npy": idx, "neighbors_sim.npy": sim, "neighbors_index.npy": index,
            "neighbors_report.json": report}


def _projection(prev: Callable[[str], Any], emb: np.ndarray, diff: TrackDiff,
                cfg: PipelineConfig) -> dict[str, Any]:
    from pipeline.map import place

    kept = np.flatnonzero(diff.kept_row >= 0)
    old_map, old_dense = prev("map2d.npy"), prev("cluster_space.npy")
    k = cfg.projection.place_k
    map2d = _rows(old_map, diff, place(emb[diff.fresh], emb[kept],
                                       old_map[diff.kept_row[kept]], k))
    if old_dense.shape == old_map.shape and np.array_equal(old_dense, old_map):
        return {"map2d.npy": map2d, "cluster_space.npy": map2d}
    dense = _rows(old_dense, diff, place(emb[diff.fresh], emb[kept],
                                         old_dense[diff.kept_row[kept]], k))
    return {"map2d.npy": map2d, "cluster_space.npy": dense}


def _clusters(prev: Callable[[str], Any], tracks: pd.DataFrame, emb: np.ndarray,
              projection: dict[str, Any], diff: TrackDiff, cfg: PipelineConfig
              ) -> dict[str, Any]:
    from pipeline.map import assign_labels, cluster_names

    report = prev("cluster_report.json")
    spaces = {"map2d": projection["map2d.npy"], "umap_nd": projection["cluster_space.npy"],
              "embedding": emb}
    x = spaces[report.get("space", "map2d")]
    table, membership = prev("clusters.parquet"), prev("membership.npy")
    kept = np.flatnonzero(diff.kept_row >= 0)
    labels = table["cluster"].to_numpy()[diff.kept_row[kept]]
    prob = table["probability"].to_numpy()[diff.kept_row[kept]]
    lab_f, prob_f, mem_f = assign_labels(x[kept], labels, prob,
                                         np.asarray(membership)[diff.kept_row[kept]],
                                         x[diff.fresh], cfg.clusters.assign_k)
    nearest_f = np.where(lab_f >= 0, lab_f, mem_f.argmax(axis=1) if mem_f.shape[1] else -1)
    out = pd.DataFrame({
        "track_id": tracks["track_id"].to_numpy(),
        "cluster": _rows(table["cluster"].to_numpy(np.int32), diff, lab_f),
        "probability": _rows(table["probability"].to_numpy(np.float32), diff, prob_f),
        "nearest_cluster": _rows(table["nearest_cluster"].to_numpy(np.int32), diff, nearest_f)})
    labels_all = out["cluster"].to_numpy()
    ids = labels_all[labels_all >= 0]
    report = dict(report, n_clusters=int(len(np.unique(ids))),
                  noise_share=round(float((labels_all < 0).mean()), 4),
                  sizes=np.bincount(ids, minlength=membership.shape[1]).tolist(),
                  update=(f"{len(diff.fresh)} new or edited tracks labelled by their "
                          f"{cfg.clusters.assign_k} nearest kept tracks; silhouette, DBCV "
                          "and the baseline are the last full fit's"))
    names = {int(k): v for k, v in (prev("cluster_names.json") or {}).items()}
    missing = set(np.unique(labels_all).tolist()) - set(names)
    if missing:  # a build from before cluster names were saved
        computed = cluster_names(tracks.assign(cluster=labels_all))
        names.update({c: computed[c] for c in missing})
    return {"clusters.parquet": out, "membership.npy": _rows(np.asarray(membership), diff, mem_f),
            "cluster_report.json": report, "cluster_names.json": _name_json(names)}


def _aggregates(tracks: pd.DataFrame, clusters: pd.DataFrame, cfg: PipelineConfig
                ) -> dict[str, Any]:
    from pipeline.catalog import build_aggregates

    return build_aggregates(tracks.assign(cluster=clusters["cluster"].to_numpy(),
                                          cluster_probability=clusters["probability"].to_numpy()),
                            cfg.aggregates)


def _name_json(names: dict[int, str]) -> dict[str, str]:
    return {str(k): v for k, v in sorted(names.items())}


def _genre(prev: Callable[[str], Any], tracks: pd.DataFrame, memberships: pd.DataFrame,
           diff: TrackDiff) -> dict[str, Any]:
    from pipeline.recommend import apply_genre, label_source, track_labels

    fresh = tracks.iloc[diff.fresh]
    labels = track_labels(fresh, label_source(tracks, memberships))
    new = apply_genre(prev("genre_model.txt"), prev("genre_report.json").get("classes", []),
                      fresh, labels, len(tracks))
    old = prev("genre_pred.parquet")
    kept = np.flatnonzero(diff.kept_row >= 0)
    parts = pd.concat([old.iloc[diff.kept_row[kept]].set_axis(kept),
                       new.set_axis(diff.fresh)]).sort_index()
    return {"genre_pred.parquet": parts.reset_index(drop=True)}


def _rank_signals(prev: Callable[[str], Any], tracks: pd.DataFrame, memberships: pd.DataFrame,
                  emb: np.ndarray, graph: np.ndarray, diff: TrackDiff, cfg: PipelineConfig
                  ) -> dict[str, Any]:
    from pipeline.config import stage_seed
    from pipeline.recommend import extend_rank_signals, rank_signals

    out = extend_rank_signals(prev("rank_clusters.npy"), prev("rank_labels.npy"),
                              prev("rank_labels.json"), prev("memberships.parquet"), tracks,
                              memberships, emb, diff.kept_row)
    if out is None:
        log.info("update: the playlists' genre or subgenre labels changed; serving signals "
                 "recomputed in full")
        exact = len(emb) <= cfg.neighbors.exact_max
        out = rank_signals(tracks, memberships, emb, None if exact else graph, cfg.ranker,
                           stage_seed(cfg.seed, "ranker"))
    clusters, labels, layout = out
    return {"rank_clusters.npy": clusters, "rank_labels.npy": labels, "rank_labels.json": layout}
