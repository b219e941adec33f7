"""Neighbours: exact kNN matches brute force; the HNSW and IVF indexes reach the recall
target against exact search, are deterministic (IVF: the same bytes for any thread count and
any partition of the graph's rows), and survive a save/load round trip."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import NeighborConfig, PipelineConfig
from pipeline.map.neighbors import (
    NeighborIndex,
    _drop_self,
    build_neighbors,
    ivf_lists,
    knn,
    recall_at_10,
)

EXACT = NeighborConfig(k=7)
HNSW = NeighborConfig(k=10, exact_max=100)  # force the approximate index on small data
# force the IVF on small data: ~50 tracks per list (80 lists at 4,000 tracks), 8 probed
IVF = NeighborConfig(k=10, exact_max=100, hnsw_max=100, ivf_list_size=50, ivf_nprobe=8)


def _clustered(n: int, d: int = 24, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres: like a track embedding, neighbours are meaningful."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, d))
    x = centres[rng.integers(0, 40, n)] + 0.5 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_matches_brute_force_and_excludes_self():
    x = np.random.default_rng(0).normal(size=(300, 12)).astype(np.float32)
    idx, sim, index, report = build_neighbors(x, EXACT, seed=0)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    full = u @ u.T
    np.fill_diagonal(full, -np.inf)
    expect = np.argsort(-full, axis=1)[:, :7]
    assert (idx != np.arange(300)[:, None]).all()
    assert np.array_equal(np.sort(idx, 1), np.sort(expect, 1))
    assert np.all(np.diff(sim, axis=1) <= 1e-6)
    assert index.exact and report["method"] == "exact" and index.to_bytes().size == 0


def test_block_size_does_not_change_the_result():
    x = np.random.default_rng(1).normal(size=(257, 5)).astype(np.float32)
    a = knn(x, x, 5, exclude_self=True, block=16)
    b = knn(x, x, 5, exclude_self=True, block=4096)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])


def test_blocks_shrink_to_the_memory_bound_with_the_same_result():
    x = np.random.default_rng(3).normal(size=(700, 8)).astype(np.float32)
    full = knn(x, x, 5, exclude_self=True)
    # 8 KB per block: 2 queries per block against 700 base rows (4 bytes x 700 each)
    small = knn(x, x, 5, exclude_self=True, block_bytes=8 * 1024)
    assert np.array_equal(full[0], small[0]) and np.allclose(full[1], small[1])


def test_hnsw_recall_against_exact_search():
    x = _clustered(4000)
    idx, sim, index, report = build_neighbors(x, HNSW, seed=3)
    assert not index.exact and report["method"] == "faiss HNSW"
    assert idx.shape == (4000, 10) and (idx != np.arange(4000)[:, None]).all()
    assert np.all(np.diff(sim, axis=1) <= 1e-5)
    # the reported figure is measured, and matches an independent computation
    exact, _ = knn(x, x, 10, exclude_self=True)
    hits = [len(set(a) & set(b)) for a, b in zip(idx.tolist(), exact.tolist())]
    assert np.mean(hits) / 10 >= 0.95
    assert report["recall_at_10"] >= 0.95
    assert report["recall_at_10"] == recall_at_10(index, idx, HNSW.recall_queries, seed=3)


def test_hnsw_is_deterministic_and_round_trips():
    x = _clustered(2000, seed=1)
    a = build_neighbors(x, HNSW, seed=0)
    b = build_neighbors(x, HNSW, seed=0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2].to_bytes(), b[2].to_bytes())
    loaded = NeighborIndex.from_bytes(a[2].to_bytes(), x, HNSW)
    q = x[:50] + 0.01
    assert np.array_equal(loaded.search(q, 5)[0], a[2].search(q, 5)[0])


@pytest.mark.parametrize("cfg", [EXACT, HNSW, IVF])
def test_search_returns_nearest_first(cfg):
    x = _clustered(1500, seed=2)
    index = NeighborIndex.build(x, cfg)
    idx, sim = index.search(x[:20], 5)
    assert idx.shape == (20, 5) and (idx[:, 0] == np.arange(20)).all()  # itself first
    assert np.allclose(sim[:, 0], 1.0, atol=1e-5)


def test_method_follows_the_thresholds():
    x = _clustered(400, seed=4)
    cfg = NeighborConfig(exact_max=100, hnsw_max=400, ivf_list_size=20)
    assert NeighborIndex.build(x, cfg).method == "faiss HNSW"
    assert NeighborIndex.build(x, cfg.model_copy(update={"hnsw_max": 399})).method == "faiss IVF"
    assert NeighborIndex.build(x[:100], cfg).method == "exact"
    assert ivf_lists(10_000_000, NeighborConfig()) == 10_000


def test_ivf_recall_against_exact_search_and_report():
    x = _clustered(4000)
    idx, sim, index, report = build_neighbors(x, IVF, seed=3)
    assert report["method"] == "faiss IVF" and report["nlist"] == 80 and report["nprobe"] == 8
    assert report["train_rows"] == min(4000, IVF.ivf_train_per_list * 80)
    assert idx.shape == (4000, 10) and (idx != np.arange(4000)[:, None]).all()
    assert np.all(np.diff(sim, axis=1) <= 1e-5)
    exact, _ = knn(x, x, 10, exclude_self=True)
    hits = [len(set(a) & set(b)) for a, b in zip(idx.tolist(), exact.tolist())]
    assert np.mean(hits) / 10 >= 0.95
    assert report["recall_at_10"] == recall_at_10(index, idx, IVF.recall_queries, seed=3)
    # one probed list of 80 misses more: the setting is what the recall rests on
    one = NeighborIndex.from_bytes(index.to_bytes(), x, IVF.model_copy(update={"ivf_nprobe": 1}))
    assert recall_at_10(one, one.graph(10)[0], 2000, seed=3) < report["recall_at_10"] - 0.05


def test_ivf_bytes_do_not_depend_on_threads_or_partitions():
    x = _clustered(3000, seed=5)
    one = NeighborIndex.build(x, IVF.model_copy(update={"threads": 1}), seed=9)
    two = NeighborIndex.build(x, IVF.model_copy(update={"threads": 2}), seed=9)
    assert np.array_equal(one.to_bytes(), two.to_bytes())
    whole = one.graph(10)
    cuts = [0, 7, 70, 1001, 2999, 3000]  # uneven partitions, one of a single row
    parts = [two.graph_rows(lo, hi, 10, batch=333) for lo, hi in zip(cuts, cuts[1:])]
    for i in (0, 1):
        assert np.concatenate([p[i] for p in parts]).tobytes() == whole[i].tobytes()
    rows = np.arange(3000)  # the graph searches rows grouped by list: each its own result
    alone = _drop_self(*one.search(one.base, 11), rows)
    assert alone[0].tobytes() == whole[0].tobytes() and alone[1].tobytes() == whole[1].tobytes()
    loaded = NeighborIndex.from_bytes(one.to_bytes(), x, IVF)
    assert np.array_equal(loaded.to_bytes(), one.to_bytes())
    assert loaded.graph(10)[0].tobytes() == whole[0].tobytes()
    other = NeighborIndex.build(x, IVF, seed=10)  # the k-means sample follows the seed
    assert not np.array_equal(other.to_bytes(), one.to_bytes())


def test_ivf_settings_at_their_defaults_keep_the_stage_key():
    """Builds keyed before the IVF settings existed keep their keys; a changed one counts."""
    assert "hnsw_max" not in PipelineConfig().section("neighbors")["neighbors"]
    changed = PipelineConfig(neighbors=NeighborConfig(ivf_nprobe=4)).section("neighbors")
    assert changed["neighbors"]["ivf_nprobe"] == 4
    assert NeighborConfig.model_validate(NeighborConfig().model_dump()) == NeighborConfig()
