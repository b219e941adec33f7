"""Catalog updates: a small change updates the served build (kept tracks keep every row,
new ones are placed and labelled, removed ones leave every artifact), a large one or
``refit=True`` refits and aligns to the previous build, and a failed update leaves the
served build as it was."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pipeline
from catalog_fixtures import make_catalog, small_config
from pipeline import generations as gens
from pipeline.build import STAGES, build
from pipeline.config import ClusterConfig
from pipeline.map import knn
from pipeline.store import LAYOUT, load_artifact

REMOVED = [f"T{i:05d}" for i in range(100, 110)]
EDITED = [f"T{i:05d}" for i in range(200, 205)]
ADDED = [f"T{i:05d}" for i in range(400, 430)]
ROW_ARTIFACTS = ["features.npy", "embedding.npy", "neighbors_idx.npy", "neighbors_sim.npy",
                 "map2d.npy", "cluster_space.npy", "clusters.parquet", "membership.npy",
                 "genre_pred.parquet", "rank_clusters.npy", "rank_labels.npy",
                 "track_status.parquet"]


def _catalog_b() -> pd.DataFrame:
    """Catalog A (400 tracks) with 30 tracks added, 10 removed and 5 edited."""
    b = make_catalog(430, seed=0)
    b = b[~b["track_id"].isin(REMOVED)].copy()
    edit = b["track_id"].isin(EDITED)
    b.loc[edit, "energy"] = b.loc[edit, "energy"].astype(float) * 0.5
    return b


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    work = tmp_path_factory.mktemp("update")
    make_catalog(400, seed=0).to_csv(work / "a.csv", index=False)
    _catalog_b().to_csv(work / "b.csv", index=False)
    build([work / "a.csv"], work / "cache", small_config())
    shutil.copytree(gens.resolve(work / "cache"), work / "a_build")  # the served A
    build([work / "b.csv"], work / "cache", small_config())
    return work


def _rows_by_id(cache: Path, name: str) -> dict[str, np.ndarray]:
    ids = load_artifact(cache / "tracks.parquet")["track_id"].to_numpy()
    arr = np.asarray(load_artifact(cache / name))
    return {t: arr[i] for i, t in enumerate(ids)}


def test_a_small_change_updates(updated):
    index = pipeline.load(updated / "cache")
    assert index.manifest["last_run"]["mode"] == "update"
    assert index.manifest["last_run"]["recomputed"] == ["ingest"]
    assert index.changes["mode"] == "update"
    assert index.changes["tracks"] == {"added": 30, "removed": 10, "edited": 5,
                                       "kept": len(index.tracks) - 35}
    assert index.changes["previous"]["generation"] == index.manifest["lineage"]["base_generation"]
    assert index.changes["alignment"] is None
    share = index.changes["placed_by_transform_share"]
    assert share == pytest.approx(35 / len(index.tracks), abs=1e-4)
    status = index.track_status.set_index("track_id")
    assert set(status.loc[ADDED, "status"]) == {"new"}
    assert set(status.loc[EDITED, "status"]) == {"edited"}
    assert set(status.loc[ADDED + EDITED, "placed_by"]) == {"transform"}
    assert (status.drop(ADDED + EDITED)["status"] == "kept").all()


def test_kept_tracks_keep_every_row(updated):
    before, after = updated / "a_build", gens.resolve(updated / "cache")
    kept = set(_rows_by_id(after, "embedding.npy")) - set(ADDED) - set(EDITED)
    for name in ["features.npy", "embedding.npy", "map2d.npy", "cluster_space.npy",
                 "membership.npy", "rank_clusters.npy"]:
        a, b = _rows_by_id(before, name), _rows_by_id(after, name)
        assert all(np.array_equal(a[t], b[t]) for t in kept), name
    a = load_artifact(before / "clusters.parquet").set_index("track_id")
    b = load_artifact(after / "clusters.parquet").set_index("track_id")
    assert a.loc[sorted(kept)].equals(b.loc[sorted(kept)])
    names_a = load_artifact(before / "cluster_names.json")
    names_b = load_artifact(after / "cluster_names.json")
    assert all(names_b[k] == v for k, v in names_a.items())


def test_new_tracks_are_embedded_placed_and_labelled(updated):
    index = pipeline.load(updated / "cache")
    rows = [index.row(t) for t in ADDED + EDITED]
    assert np.allclose(np.linalg.norm(index.embedding[rows], axis=1), 1.0, atol=1e-5)
    kept = np.setdiff1d(np.arange(len(index.tracks)), rows)
    lo, hi = index.coords[kept].min(0), index.coords[kept].max(0)
    assert ((index.coords[rows] >= lo) & (index.coords[rows] <= hi)).all()
    old_ids = set(pd.read_parquet(updated / "a_build" / "clusters.parquet")["cluster"])
    assert set(index.labels[rows]) <= old_ids
    assert (index.labels[rows] >= 0).mean() > 0.5
    assert index.manifest["lineage"]["max_cluster_id"] == max(old_ids)
    # an edited track was embedded again from its new feature values
    a = _rows_by_id(updated / "a_build", "embedding.npy")
    assert not np.allclose(a[EDITED[0]], index.embedding[index.row(EDITED[0])])
    genre = pd.read_parquet(gens.resolve(updated / "cache") / "genre_pred.parquet")
    assert genre.set_index("track_id").loc[ADDED, "genre_pred"].notna().all()


def test_the_merged_neighbour_graph_equals_a_full_search(updated):
    index = pipeline.load(updated / "cache")
    k = index.neighbors.shape[1]
    idx, sim = knn(index.embedding, index.embedding, k, exclude_self=True)
    assert np.allclose(np.asarray(index.neighbor_sims), sim, atol=1e-5)
    same = [len(set(a[:k - 1]) & set(b)) >= k - 2 for a, b in zip(idx, index.neighbors)]
    assert np.mean(same) > 0.99  # ties between same-song releases may swap at the cut


def test_removed_tracks_leave_every_artifact(updated):
    cache = gens.resolve(updated / "cache")
    tracks = load_artifact(cache / "tracks.parquet")
    n = len(tracks)
    assert not set(REMOVED) & set(tracks["track_id"])
    for name in ROW_ARTIFACTS:
        value = load_artifact(cache / name)
        assert len(value) == n, name
        if isinstance(value, pd.DataFrame):
            assert (value["track_id"].to_numpy() == tracks["track_id"].to_numpy()).all(), name
    assert (np.asarray(load_artifact(cache / "neighbors_idx.npy")) < n).all()
    manifest = json.loads((cache / "manifest.json").read_text())
    for stage in STAGES:
        for out in stage.outputs:
            assert out in manifest["artifacts"], out
    assert all(f in manifest["artifacts"] for f in LAYOUT["changes"])


def test_the_updated_build_serves(updated):
    from pipeline.recommend import Recommender

    rec = Recommender.load(updated / "cache")
    out = rec.recommend(ADDED[0], k=5)
    assert len(out) == 5 and ADDED[0] not in set(out["track_id"])


def test_an_unchanged_rebuild_after_an_update_recomputes_nothing(updated):
    build([updated / "b.csv"], updated / "cache", small_config())
    manifest = pipeline.load(updated / "cache").manifest
    assert manifest["last_run"]["recomputed"] == []


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(gens.resolve(src), dst)
    return dst


def test_a_large_change_refits_and_aligns(updated, tmp_path):
    cache = _copy(updated / "cache", tmp_path / "cache")
    big = make_catalog(520, seed=0)
    big = big[~big["track_id"].isin([f"T{i:05d}" for i in range(300, 330)])]
    big.to_csv(tmp_path / "c.csv", index=False)
    build([tmp_path / "c.csv"], cache, small_config())
    index = pipeline.load(cache)
    ch = index.changes
    assert ch["mode"] == "refit" and "changed" in ch["decision"]
    assert ch["placed_by_transform_share"] == 0.0
    assert set(index.track_status["placed_by"]) == {"fit"}
    al = ch["alignment"]
    assert al["shared_tracks"] == ch["tracks"]["kept"] + ch["tracks"]["edited"]
    assert 0 <= al["mean_displacement_share"] < 0.5 and 0 <= al["kept_cluster_share"] <= 1
    _check_cluster_ids(index, ch)


def _check_cluster_ids(index, ch: dict) -> None:
    ids = sorted(set(index.labels[index.labels >= 0].tolist()))
    assert index.membership.shape[1] == max(ids) + 1
    assert set(index.cluster_names) >= set(ids)
    assert set(ch["vanished_ids"]).isdisjoint(ids)
    for c in ch["clusters"]:
        assert c["after"] == int((index.labels == c["id"]).sum())
    report = index.metrics["clusters"]
    assert [i for i, s in enumerate(report["sizes"]) if s] == ids


def _config(warm: bool = True, ids: str = "carry", min_clusters: int = 8):
    cfg = small_config()
    return cfg.model_copy(update={
        "update": cfg.update.model_copy(update={"warm_start": warm, "refit_clusters": ids}),
        "clusters": cfg.clusters.model_copy(update={"min_clusters": min_clusters})})


def test_refit_keeps_ids_of_matching_clusters(updated, tmp_path):
    """The one-to-one id hand-over itself (ids "fresh": no carry), on a cold refit."""
    cache = _copy(updated / "cache", tmp_path / "cache")
    before = pipeline.load(cache)
    build([updated / "b.csv"], cache, _config(warm=False, ids="fresh"), refit=True)
    index = pipeline.load(cache)
    ch = index.changes
    assert ch["mode"] == "refit" and ch["tracks"]["added"] == 0
    assert index.manifest["last_run"]["recomputed"] == [s.name for s in STAGES[1:]]
    assert ch["alignment"]["kept_cluster_share"] > 0.8
    _check_cluster_ids(index, ch)
    matched = index.metrics["clusters"]["ids_matched_to_previous"]
    for new_id, old_id in matched.items():
        assert int(new_id) == old_id and index.cluster_names[old_id] == before.cluster_names[old_id]
    fresh = set(index.labels.tolist()) - {-1} - {int(k) for k in matched}
    assert all(c > before.manifest["lineage"]["max_cluster_id"] for c in fresh)


def test_a_changed_config_refits(updated, tmp_path):
    cache = _copy(updated / "a_build", tmp_path / "cache")
    cfg = small_config().model_copy(update={"clusters": ClusterConfig(min_cluster_sizes=(20,))})
    build([updated / "b.csv"], cache, cfg)
    ch = pipeline.load(cache).changes
    assert ch["mode"] == "refit" and "clusters changed" in ch["decision"]


def test_a_failed_update_leaves_the_served_build(updated, tmp_path, monkeypatch):
    from pipeline.build import update

    cache = _copy(updated / "a_build", tmp_path / "cache")
    n_before = len(pipeline.load(cache).tracks)

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-update")

    monkeypatch.setattr(update, "_clusters", crash)
    with pytest.raises(RuntimeError, match="killed mid-update"):
        build([updated / "b.csv"], cache, small_config())
    index = pipeline.load(cache)
    assert len(index.tracks) == n_before and index.changes["mode"] == "fit"
    monkeypatch.undo()
    build([updated / "b.csv"], cache, small_config())  # the next build updates
    assert pipeline.load(cache).changes["mode"] == "update"


def test_embed_with_reproduces_the_trained_encoder(updated):
    from pipeline.map import embed_with

    a = updated / "a_build"
    features = load_artifact(a / "features.npy")
    out = embed_with(load_artifact(a / "encoder.safetensors"), features[:50],
                     small_config().embedding)
    assert np.allclose(out, load_artifact(a / "embedding.npy")[:50], atol=1e-5)


def test_new_tracks_neighbour_labels_match_the_full_pass(updated):
    from pipeline.recommend import neighbour_labels

    cache = gens.resolve(updated / "cache")
    layout = load_artifact(cache / "rank_labels.json")
    mat = load_artifact(cache / "rank_labels.npy")
    widths = layout["widths"]
    start = {b: sum(widths[x] for x in layout["blocks"][:i])
             for i, b in enumerate(layout["blocks"])}

    def block(name: str) -> np.ndarray:
        return mat[:, start[name]:start[name] + widths[name]]

    emb = load_artifact(cache / "embedding.npy")
    full = neighbour_labels(emb, [block("genre_vec"), block("subgenre_vec")])
    status = load_artifact(cache / "track_status.parquet")["status"].to_numpy()
    fresh = np.flatnonzero(status != "kept")
    assert np.allclose(block("genre_nn")[fresh], full[0][fresh], atol=1e-5)
    assert np.allclose(block("subgenre_nn")[fresh], full[1][fresh], atol=1e-5)


def _refit_c(updated: Path, tmp_path: Path, warm: bool, ids: str = "carry",
             min_clusters: int = 8) -> Path:
    """Catalog A's fit, refitted with catalog C (120 tracks added, 30 removed)."""
    cache = _copy(updated / "a_build", tmp_path / f"cache_{warm}_{ids}_{min_clusters}")
    _catalog_c().to_csv(tmp_path / "c.csv", index=False)
    build([tmp_path / "c.csv"], cache, _config(warm, ids, min_clusters), refit=True)
    return cache


def _catalog_c() -> pd.DataFrame:
    big = make_catalog(520, seed=0)
    return big[~big["track_id"].isin([f"T{i:05d}" for i in range(300, 330)])]


def test_a_refit_starts_from_the_previous_build(updated, tmp_path):
    """A warm refit starts UMAP from the previous map and records it; its stage keys for
    a resume include the previous build's checksums; it moves tracks less than a cold one.

    Cluster ids on this planted catalog, HDBSCAN's fresh partition with matched ids: the
    cold refit keeps 0.997, the warm one 0.858 (measured): the warm map splits two planted
    clusters the cold map keeps whole; carried ids (the default) keep them whole
    (test_a_carried_refit_keeps_every_artifact_consistent)."""
    base = pipeline.load(updated / "a_build")
    warm, cold = (pipeline.load(_refit_c(updated, tmp_path, w)) for w in (True, False))
    for name in ("projection", "clusters"):
        start = warm.manifest["stages"][name]["warm_start"]
        assert start["generation"] == warm.manifest["lineage"]["base_generation"]
        assert set(start["files"]) >= {"tracks.parquet"}
        assert "warm_start" not in cold.manifest["stages"][name]
    assert "warm_start" not in base.manifest["stages"]["projection"]  # a first build: cold
    gen = gens.resolve(updated / "cache")  # any published generation: no prior/ left
    assert not (gen / "prior").exists()
    assert "previous build" in warm.metrics["clusters"]["selection_rule"]
    moved = {k: ix.changes["alignment"]["mean_displacement_share"]
             for k, ix in (("warm", warm), ("cold", cold))}
    assert moved["warm"] < 0.75 * moved["cold"], moved  # measured 0.072 vs 0.136
    assert warm.changes["alignment"]["kept_cluster_share"] >= 0.8
    assert warm.changes["alignment"]["warm_start"] and not cold.changes["alignment"]["warm_start"]


def test_a_resumed_refit_reuses_stages_started_from_the_same_build(updated, tmp_path,
                                                                   monkeypatch):
    from pipeline.build import lineage

    cache = _copy(updated / "a_build", tmp_path / "cache")
    gens.adopt_plain_cache(cache)  # named by the second: the refit's folder must sort after
    time.sleep(1.1)

    def crash(ctx):
        raise RuntimeError("killed after the projection")

    monkeypatch.setattr(lineage, "previous_labels", crash)
    with pytest.raises(RuntimeError, match="killed after the projection"):
        build([updated / "b.csv"], cache, _config(), refit=True)
    work = next(g for g in (cache.parent / f".{cache.name}.builds").glob("g-*")
                if not (g / "manifest.json").exists())  # the interrupted refit
    progress = json.loads((work / gens.PROGRESS).read_text())
    assert (work / "prior" / "map2d.npy").exists() and "clusters" not in progress
    monkeypatch.undo()
    build([updated / "b.csv"], cache, _config(), refit=True)
    index = pipeline.load(cache)
    stages = index.manifest["stages"]
    assert "projection" not in index.manifest["last_run"]["recomputed"]
    assert stages["projection"]["built_at"] == "by an interrupted build, resumed"
    assert "warm_start" in stages["clusters"] and not (gens.resolve(cache) / "prior").exists()
    # the keys a resume compares: the warm stages' include the previous build's checksums
    done = json.loads((gens.resolve(cache) / gens.PROGRESS).read_text())
    assert done["projection"] == progress["projection"] != stages["projection"]["key"]
    assert done["features"] == stages["features"]["key"]


@pytest.fixture(scope="module")
def refits(updated, tmp_path_factory) -> dict[str, Path]:
    """Catalog A refitted with catalog C (warm): ids carried and fresh with an aim of 2
    clusters (the catalog has 6 planted ones), and carried with the default aim of 8,
    which only a partition splitting planted clusters meets."""
    work = tmp_path_factory.mktemp("refits")
    out = {ids: _refit_c(updated, work, True, ids, 2) for ids in ("carry", "fresh")}
    out["aims"] = _refit_c(updated, work, True, "carry", 8)
    return out


def test_a_carried_refit_keeps_every_artifact_consistent(updated, refits):
    """The final partition's rows: strength, membership (n, max id + 1), nearest cluster,
    report sizes/silhouettes by id, names, changes.json's figures, all for the final ids."""
    index, base = pipeline.load(refits["carry"]), pipeline.load(updated / "a_build")
    ch, labels = index.changes, index.labels
    _check_cluster_ids(index, ch)
    table = load_artifact(gens.resolve(refits["carry"]) / "clusters.parquet")
    assert len(table) == len(index.tracks) == len(index.membership)
    ids = np.unique(labels[labels >= 0])
    m = np.asarray(index.membership)
    sums = m.sum(axis=1)
    assert np.allclose(sums[sums > 0], 1, atol=1e-4)
    assert not m[:, np.setdiff1d(np.arange(m.shape[1]), ids)].any()  # absent ids: zero
    nearest = table["nearest_cluster"].to_numpy()
    assert np.array_equal(nearest[labels >= 0], labels[labels >= 0])
    noise = np.flatnonzero((labels < 0) & (sums > 0))
    assert np.array_equal(nearest[noise], m[noise].argmax(axis=1))
    strength = table["probability"].to_numpy()
    assert (strength[labels >= 0] > 0).all() and (strength <= 1 + 1e-6).all()
    report = index.metrics["clusters"]
    assert report["sizes"] == np.bincount(labels[labels >= 0]).tolist()
    assert [c for c, v in enumerate(report["per_cluster_silhouette"]) if v is not None] \
        == ids.tolist()
    assert report["n_clusters"] == len(ids)
    assert report["noise_share"] == round(float((labels < 0).mean()), 4)
    al = ch["alignment"]
    assert al["cluster_ids"] == "carry" and al["final_partition"]["n_clusters"] == len(ids)
    assert set(al["fresh_partition"]) == set(al["final_partition"])
    assert report["refit_partition"]["kept_cluster_share"]["final"] == al["kept_cluster_share"]
    before = pd.Series(base.labels, index=base.tracks["track_id"])
    after = pd.Series(labels, index=index.tracks["track_id"])
    shared = before.index.intersection(after.index)
    kept = (before[shared].to_numpy() == after[shared].to_numpy()).mean()
    assert al["kept_cluster_share"] == round(float(kept), 4)
    assert al["kept_cluster_share"] >= max(0.95, al["fresh_kept_cluster_share"])
    assert not (gens.resolve(refits["carry"]) / "fresh").exists()


def test_a_fresh_refit_is_hdbscans_partition_with_matched_ids(refits):
    carried, fresh = (pipeline.load(refits[k]).changes["alignment"] for k in ("carry", "fresh"))
    assert fresh["cluster_ids"] == "fresh" and "final_partition" not in fresh
    assert fresh["kept_cluster_share"] == carried["fresh_kept_cluster_share"]
    index = pipeline.load(refits["fresh"])
    _check_cluster_ids(index, index.changes)
    report = index.metrics["clusters"]
    assert "refit_partition" not in report
    assert report["n_clusters"] == carried["fresh_partition"]["n_clusters"]
    assert report["silhouette"] == carried["fresh_partition"]["silhouette"]


def test_carried_ids_that_break_the_aims_give_way_to_the_fresh_partition(refits):
    """With the default aim (>= 8 clusters) the warm fresh partition splits two of the 6
    planted clusters to meet it (8 clusters, 0.858 of the ids kept, measured); carrying
    the ids restores the 6 (100% kept), which breaks the aim: the fresh partition is
    served, and the refused carry is reported."""
    index = pipeline.load(refits["aims"])
    al = index.changes["alignment"]
    assert al["cluster_ids"] == "fresh" and "clusters < 8" in al["carry_refused"]
    assert al["final_partition"]["n_clusters"] < 8 <= al["fresh_partition"]["n_clusters"]
    assert al["kept_cluster_share"] == al["fresh_kept_cluster_share"] < 0.95
    assert index.metrics["clusters"]["n_clusters"] == al["fresh_partition"]["n_clusters"]
    assert index.metrics["clusters"]["constraints_met"]
    _check_cluster_ids(index, index.changes)


def test_a_refit_killed_after_its_alignment_resumes_to_the_same_build(updated, refits,
                                                                     tmp_path, monkeypatch):
    """The alignment rewrites stage outputs in place; a resumed build starts it again
    from the stages' own outputs (kept in fresh/), not from its own result."""
    from pipeline.build import lineage

    cache = _copy(updated / "a_build", tmp_path / "cache")
    gens.adopt_plain_cache(cache)
    time.sleep(1.1)
    _catalog_c().to_csv(tmp_path / "c.csv", index=False)

    def crash(*args, **kwargs):
        raise RuntimeError("killed before publishing")

    monkeypatch.setattr(lineage, "drop_prior", crash)  # right after the alignment
    with pytest.raises(RuntimeError, match="killed before publishing"):
        build([tmp_path / "c.csv"], cache, _config(min_clusters=2), refit=True)
    work = next(g for g in (cache.parent / f".{cache.name}.builds").glob("g-*")
                if not (g / "manifest.json").exists())
    assert (work / "fresh" / "keys.json").exists() and (work / "changes.json").exists()
    monkeypatch.undo()
    build([tmp_path / "c.csv"], cache, _config(min_clusters=2), refit=True)
    assert pipeline.load(cache).manifest["last_run"]["recomputed"] == []
    for name in ("clusters.parquet", "membership.npy", "map2d.npy"):
        assert np.array_equal(np.asarray(load_artifact(cache / name)),
                              np.asarray(load_artifact(refits["carry"] / name))), name
