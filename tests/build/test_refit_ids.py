"""The refit's id hand-over (pipeline/build/refit_ids.py): its pure parts. The whole
hand-over runs end to end in tests/build/test_update.py (carried and fresh refits)."""
from __future__ import annotations

import numpy as np

from pipeline.build.refit_ids import _broken_aims, _min_size, _present_names
from pipeline.config import ClusterConfig, PipelineConfig


def test_carried_ids_are_refused_only_when_they_break_an_aim_the_fresh_partition_met():
    cfg = PipelineConfig()
    met = {"constraints_met": True}
    assert _broken_aims({"n_clusters": 16, "noise_share": 0.176}, met, cfg) is None
    assert "7 clusters" in _broken_aims({"n_clusters": 7, "noise_share": 0.1}, met, cfg)
    assert "unclustered" in _broken_aims({"n_clusters": 9, "noise_share": 0.25}, met, cfg)
    # the fresh partition broke them too (a small catalog): the carried one is no worse
    assert _broken_aims({"n_clusters": 3, "noise_share": 0.5},
                        {"constraints_met": False}, cfg) is None


def test_min_size_is_hdbscans_min_cluster_size_over_the_catalog():
    cfg = PipelineConfig()
    report = {"params": {"min_cluster_size": 500}}
    assert _min_size(report, cfg, 28_356) == 500
    assert _min_size(report, cfg, 3_000) == 200  # capped at n / 15, as the stage does
    big = cfg.model_copy(update={"clusters": ClusterConfig(fit_sample=100_000)})
    # 1M tracks: fitted on 100k with min_cluster_size x 100k / 30k, i.e. 1,667 of 100k
    assert _min_size(report, big, 1_000_000) == 16_670


def test_names_cover_the_final_ids():
    names = {"-1": "unclustered", "0": "calm acoustic", "9": "fast loud"}
    labels = np.array([0, 3, -1, 3])
    out = _present_names(names, labels, {3: "late-90s rock", 0: "old name"})
    assert out == {"-1": "unclustered", "0": "calm acoustic", "3": "late-90s rock"}
