"""A refit's cluster ids: the previous build's ids handed to the refit's clusters.

Called by :func:`pipeline.build.lineage.finalize` (after the map's Procrustes alignment)
on the working generation's cluster artifacts:

- one-to-one matching of the fresh HDBSCAN partition to the previous clusters
  (:func:`pipeline.map.match_clusters`; unmatched clusters get ids above every id ever
  used);
- ``UpdateConfig.refit_clusters = "carry"`` (the default): ids carried where the refit's
  clustering space supports them (:mod:`pipeline.map.carry`, evolutionary clustering);
  the cluster artifacts then describe that final partition, and ``cluster_report.json``
  and changes.json's alignment give its figures next to the fresh partition's;
- ``"fresh"``: the fresh partition with the matched ids (the behaviour before "carry").

``membership.npy`` is (n, max id + 1), column j = cluster j; ``sizes`` and
``per_cluster_silhouette`` are indexed by id (0 / None for ids no cluster holds).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import store as io
from pipeline.config import PipelineConfig

log = logging.getLogger(__name__)
NOISE = -1


def hand_over_ids(work: Path, old_names: dict[int, str], shared: np.ndarray,
                   old_labels: np.ndarray, max_id: int, cfg: PipelineConfig) -> dict:
    """Give the refit's clusters the previous build's ids: one-to-one matching of the
    fresh partition, then (``refit_clusters="carry"``) ids carried where the new space
    supports them (:mod:`pipeline.map.carry`). Rewrites clusters.parquet, membership.npy,
    cluster_report.json and cluster_names.json; returns the alignment's id figures."""
    from pipeline.map import match_clusters, relabel, remap_columns, remap_list

    table = io.read_parquet(work / "clusters.parquet")
    report = io.read_json(work / "cluster_report.json")
    new = table["cluster"].to_numpy()
    matched = match_clusters(old_labels, new[shared], cfg.update.min_jaccard)
    fresh, mapping = relabel(new, matched, max_id + 1)
    membership = remap_columns(io.read_npy(work / "membership.npy"), mapping)
    fresh_kept = float((fresh[shared] == old_labels).mean()) if len(shared) else 1.0
    report["ids_matched_to_previous"] = {str(mapping[k]): v for k, v in matched.items()}
    raw = {int(k): v for k, v in io.read_json(work / "cluster_names.json").items()}
    names = _names_after(raw, mapping, matched, old_names)
    out: dict = {"cluster_ids": cfg.update.refit_clusters}
    carried = (_carry(work, table, fresh, membership, shared, old_labels, report, cfg)
               if cfg.update.refit_clusters == "carry" else None)
    broken = carried is not None and _broken_aims(carried[2]["final_partition"], report, cfg)
    if broken:  # the fresh partition met the aims, the carried one not: serve the fresh
        log.warning("carried cluster ids break the aims (%s); keeping the fresh partition",
                    broken)
        out.update(cluster_ids="fresh", carry_refused=broken, **carried[2],
                   fresh_kept_cluster_share=round(fresh_kept, 4))
        carried = None
    if carried is None:
        nearest = np.array([mapping.get(int(c), NOISE) for c in table["nearest_cluster"]],
                           np.int32)
        report["sizes"] = remap_list(report.get("sizes", []), mapping, 0)
        report["per_cluster_silhouette"] = remap_list(report.get("per_cluster_silhouette",
                                                                 []), mapping)
        table = table.assign(cluster=fresh, nearest_cluster=nearest)
    else:
        table, membership, figures, update = carried
        report.update(update)
        final = table["cluster"].to_numpy()
        names = _present_names(names, final, old_names)
        out.update(figures, fresh_kept_cluster_share=round(fresh_kept, 4))
        report["refit_partition"] = {**figures, "kept_cluster_share": {
            "fresh": round(fresh_kept, 4),
            "final": round(float((final[shared] == old_labels).mean())
                           if len(shared) else 1.0, 4)}}
    io.write_parquet(work / "clusters.parquet", table)
    io.write_npy(work / "membership.npy", membership)
    io.write_json(work / "cluster_report.json", report)
    io.write_json(work / "cluster_names.json", names)
    return out


def _carry(work: Path, table: pd.DataFrame, fresh: np.ndarray, membership: np.ndarray,
           shared: np.ndarray, old_labels: np.ndarray, report: dict, cfg: PipelineConfig
           ) -> tuple[pd.DataFrame, np.ndarray, dict, dict]:
    """The carried partition (:func:`pipeline.map.carry_labels`) and its rows: a track
    whose final id is its fresh one keeps HDBSCAN's strength and soft membership; any
    other takes as strength the share of its k nearest tracks holding its id and as
    membership its neighbours' shares per cluster. Columns of ids the final partition no
    longer holds are dropped (rows renormalised). Returns (table, membership (n, max
    id + 1), the alignment's figures, the cluster report's new values)."""
    from pipeline.config import stage_seed
    from pipeline.map import (
        NOT_PREVIOUS,
        carry_labels,
        neighbour_membership,
        partition_figures,
        playlist_genres,
    )

    up = cfg.update
    x = io.read_npy(work / SPACE_FILES.get(report.get("space", "map2d"), "map2d.npy"))
    previous = np.full(len(fresh), NOT_PREVIOUS, np.int64)
    previous[shared] = old_labels
    res = carry_labels(x, fresh, previous, up.carry_k, up.carry_stickiness,
                       _min_size(report, cfg, len(fresh)), up.carry_new_share)
    labels = res.labels
    width = int(labels.max(initial=-1)) + 1
    held = np.zeros(width, bool)
    held[labels[labels >= 0]] = True
    mem = np.zeros((len(labels), width), np.float32)
    mem[:, :min(width, membership.shape[1])] = membership[:, :width]
    mem[:, ~held] = 0
    mem /= np.maximum(mem.sum(axis=1, keepdims=True), 1e-12)
    other = np.flatnonzero((labels != fresh) | (mem.sum(axis=1) == 0))
    mem[other] = neighbour_membership(labels, res.neighbours, other, width)
    strength = np.where(labels == fresh, table["probability"].to_numpy(np.float32),
                        res.support).astype(np.float32)
    top = np.where(mem.sum(axis=1) > 0, mem.argmax(axis=1), NOISE) if width else NOISE
    nearest = np.where(labels >= 0, labels, top).astype(np.int32)
    fresh_figures = {k: report.get(k) for k in ("n_clusters", "noise_share", "silhouette",
                                                "dbcv", "silhouette_in_embedding")}
    genres = playlist_genres(io.read_parquet(work / "tracks.parquet"),
                             io.read_parquet(work / "memberships.parquet"))
    fig = partition_figures(x, labels, nearest, cfg.clusters, stage_seed(cfg.seed, "clusters"),
                            io.read_npy(work / "embedding.npy"), genres)
    ami = fig.pop("playlist_ami")
    update = dict(fig)
    if isinstance(report.get("playlist_ami"), dict):
        update["playlist_ami"] = {k: ({**v, "clusters": ami[k]} if k in ami else v)
                                  for k, v in report["playlist_ami"].items()}
    final = {k: fig.get(k) for k in fresh_figures}
    figures = {"fresh_partition": fresh_figures, "final_partition": final,
               "carried_share": round(float((labels != fresh).mean()), 4),
               "carry": {"k": up.carry_k, "stickiness": up.carry_stickiness,
                         "sweeps": res.sweeps, "dissolved_ids": res.dissolved}}
    table = table.assign(cluster=labels, probability=strength, nearest_cluster=nearest)
    return table, mem, figures, update


def _broken_aims(final: dict, report: dict, cfg: PipelineConfig) -> str | None:
    """Why the carried partition breaks an aim the fresh one met (``>= min_clusters``
    clusters, ``<= max_noise_share`` unclustered), or None."""
    if not report.get("constraints_met", True):
        return None  # the fresh partition broke them too: the carried one is no worse
    c = cfg.clusters
    if final["n_clusters"] < c.min_clusters:
        return f"{final['n_clusters']} clusters < {c.min_clusters}"
    if final["noise_share"] > c.max_noise_share:
        return f"{final['noise_share']:.1%} unclustered > {c.max_noise_share:.0%}"
    return None


SPACE_FILES = {"map2d": "map2d.npy", "umap_nd": "cluster_space.npy",
               "embedding": "embedding.npy"}


def _min_size(report: dict, cfg: PipelineConfig, n: int) -> int:
    """The smallest cluster HDBSCAN's chosen setting accepts, in tracks of the whole
    catalog (its min_cluster_size as the clusters stage scales and caps it)."""
    from pipeline.map import effective_min_cluster_size

    mcs = int(report.get("params", {}).get("min_cluster_size", 5))
    n_fit = min(n, cfg.clusters.fit_sample)
    scale = max(1.0, n_fit / cfg.clusters.reference_tracks)
    fitted = effective_min_cluster_size(mcs, n_fit, scale)
    return max(2, round(fitted * n / max(n_fit, 1)))


def _present_names(names: dict[str, str], labels: np.ndarray, old: dict[int, str]
                   ) -> dict[str, str]:
    """Names of the ids the final partition holds (and noise): the computed or matched
    name, else the previous build's (an id carried without a fresh cluster)."""
    present = {int(c) for c in np.unique(labels)}
    out = {int(k): v for k, v in names.items() if int(k) in present}
    for c in sorted(present - set(out)):
        out[c] = old.get(c, "unclustered" if c == NOISE else f"cluster {c}")
    return {str(k): v for k, v in sorted(out.items())}


def _names_after(raw: dict[int, str], mapping: dict[int, int], matched: dict[int, int],
                 old: dict[int, str]) -> dict[str, str]:
    """Matched clusters keep their old name; new ones take the name computed for them
    (made unique with their id if an old name already reads the same)."""
    out = {NOISE: raw.get(NOISE, "unclustered")} if NOISE in raw else {}
    for cur, final in mapping.items():
        if cur in matched and final in old:
            out[final] = old[final]
    for cur, final in mapping.items():
        if final not in out:
            name = raw.get(cur, f"cluster {final}")
            out[final] = f"{name} (#{final})" if name in out.values() else name
    return {str(k): v for k, v in sorted(out.items())}
