"""UMAP projection: keeps neighbourhoods (trustworthiness), places new tracks sensibly."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness

from pipeline.config import NeighborConfig, ProjectionConfig
from pipeline.map import displacement_share, procrustes
from pipeline.map.neighbors import knn
from pipeline.map.projection import Warm, build_projection, place, warm_init


def _blobs(n=400, d=16, k=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, d))
    return (centres[np.arange(n) % k] + rng.normal(0, 1, (n, d))).astype(np.float32)


def test_map_is_trustworthy_and_uses_precomputed_knn():
    x = _blobs()
    map2d, dense = build_projection(x, ProjectionConfig(), seed=1, knn_graph=knn(x, x, 30, exclude_self=True))
    assert map2d.shape == (400, 2) and dense is map2d  # no extra UMAP unless cluster_dim is set
    assert trustworthiness(x, map2d, n_neighbors=10) >= 0.8


def test_cluster_space_has_requested_dimensions():
    x = _blobs(200)
    _, dense = build_projection(x, ProjectionConfig(cluster_dim=4), seed=1)
    assert dense.shape == (200, 4)


def test_fit_on_sample_then_place_the_rest():
    x = _blobs(300)
    map2d, _ = build_projection(x, ProjectionConfig(fit_sample=150), seed=2)
    assert map2d.shape == (300, 2) and np.isfinite(map2d).all()
    assert trustworthiness(x, map2d, n_neighbors=10) >= 0.8


@pytest.mark.parametrize("nbr", [NeighborConfig(), NeighborConfig(exact_max=100)])
def test_batched_placement_equals_one_shot(nbr):
    """Placing the rest in batches of 37 gives the same map as one batch (exact and HNSW)."""
    x = _blobs(400)
    one, _ = build_projection(x, ProjectionConfig(fit_sample=200, place_batch=10_000), 4,
                              nbr=nbr)
    batched, _ = build_projection(x, ProjectionConfig(fit_sample=200, place_batch=37), 4,
                                  nbr=nbr)
    np.testing.assert_allclose(one, batched, atol=1e-5)


def test_place_new_tracks_near_their_neighbours():
    x = _blobs()
    map2d, _ = build_projection(x, ProjectionConfig(), seed=1)
    new = x[:20] + np.random.default_rng(3).normal(0, 0.05, x[:20].shape).astype(np.float32)
    placed = place(new, x, map2d)
    spread = np.linalg.norm(map2d.std(axis=0))
    assert np.median(np.linalg.norm(placed - map2d[:20], axis=1)) < 0.25 * spread


def test_umap_runs_on_one_blas_thread(monkeypatch):
    """UMAP's result depends on OpenBLAS's thread count; the fit must see one BLAS thread
    in every BLAS library loaded (numpy's and scipy's own), whatever the process has."""
    import umap
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []
    fit = umap.UMAP.fit

    def spy(self, *args, **kwargs):
        seen.append([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"])
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(umap.UMAP, "fit", spy)
    x = _blobs(200)
    with threadpool_limits(2, user_api="blas"):  # the caller's setting, even on one core
        build_projection(x, ProjectionConfig(cluster_dim=3), seed=1)
    assert len(seen) == 2 and all(s and set(s) == {1} for s in seen)


def test_a_cold_fit_is_umap_as_before():
    """Without a previous build the map is UMAP with exactly the former arguments (no
    init, no learning rate): a first build's map is byte-identical to before warm starts."""
    import umap
    from threadpoolctl import threadpool_limits

    from pipeline.map.projection import _umap_knn

    x = _blobs(300)
    graph = knn(x, x, 30, exclude_self=True)
    with threadpool_limits(1, user_api="blas"):
        ref = umap.UMAP(n_components=2, n_neighbors=30, min_dist=0.05, random_state=5,
                        metric="cosine", precomputed_knn=_umap_knn(graph, 30)).fit(x)
    ours, _ = build_projection(x, ProjectionConfig(), 5, graph)
    assert np.array_equal(ours, ref.embedding_.astype(np.float32))


def test_warm_start_refines_the_previous_map():
    """A refit with a changed embedding moves the shared points less from the previous map
    when it starts there than a cold fit does (both aligned by Procrustes)."""
    x = _blobs(400)
    prev, _ = build_projection(x[:360], ProjectionConfig(), 1)
    x2 = x + np.random.default_rng(9).normal(0, 0.3, x.shape).astype(np.float32)
    rows = np.r_[np.arange(360), np.full(40, -1)]          # 40 new tracks
    init = warm_init(x2, rows, prev)
    assert np.array_equal(init[:360], prev) and np.isfinite(init).all()
    moved = {}
    for name, warm in (("cold", None), ("warm", Warm(init, 0.05))):
        new, _ = build_projection(x2, ProjectionConfig(), 2, warm=warm)
        aligned = procrustes(new[:360], prev).apply(new)
        moved[name] = displacement_share(prev, aligned[:360])
        assert trustworthiness(x2, new, n_neighbors=10) >= 0.8
    assert moved["warm"] < 0.75 * moved["cold"], moved  # measured 0.091 vs 0.156
