"""Recommender quality on the real default catalog: a regression test of the offline
evaluation (``python -m pipeline evaluate``, protocol in docs/EVALUATION.md).

It runs ``pipeline.evaluation.run_evaluation`` exactly as the CLI does, on the session's
real-catalog cache, with the documented protocol (seed, held-out playlists, seeds per
playlist, k, depth) and only fewer bootstrap resamples: the bootstrap gives the intervals,
not the means asserted here, so the figures are the ones of docs/evaluation.json.
About 100-120 s on a quiet 2-core machine, plus the session's cache build; when other
processes hold the cores it has taken up to 7 minutes (the autoencoder baseline trains with
two torch threads, which stall whenever one core is busy).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline import store as io
from pipeline.config import PipelineConfig
from pipeline.evaluation import EvalConfig, run_evaluation

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = ROOT / "docs" / "evaluation.json"
# Today's hybrid P@10 is 0.254 (ranker v4, cross-fitted, docs/evaluation.json). One version
# of the code gives the same figure on every run (seed-determined), so the floor only has to
# absorb floating-point differences between machines and library builds and the small
# shifts of behaviour-preserving refactors (0.216-0.230 measured across the versions of one
# day for v2), while catching a real regression: 0.247 lies ~0.007 below today's figure and
# above ranker v3's 0.2451, so losing v4's cross-fitting (issue 12 part 3) fails.
HYBRID_P10_FLOOR = 0.247
# The hybrid must beat each of these (warm start, same seeds): the artist-first heuristic,
# the kNN of the pipeline's embedding, cosine on raw audio features and popularity.
BASELINES = ("artist_then_cosine", "embedding_knn", "cosine_raw", "popularity")


@pytest.fixture(scope="module")
def evaluation(real_cache) -> dict:
    cfg = PipelineConfig.model_validate(io.read_json(real_cache / "config.json"))
    t0 = time.perf_counter()
    result = run_evaluation(io.read_parquet(real_cache / "tracks.parquet"),
                            io.read_parquet(real_cache / "memberships.parquet"),
                            io.read_npy(real_cache / "features.npy"),
                            io.read_json(real_cache / "feature_scaler.json")["names"], cfg,
                            EvalConfig(n_boot=50))
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return result


def test_protocol_is_the_documented_one(evaluation):
    """Same seeds from the same held-out playlists as docs/evaluation.json: the figures are
    comparable with the documented ones."""
    documented = json.loads(DOCUMENTED.read_text())["protocol"]
    got = evaluation["protocol"]
    for key in ("seed", "evaluate_seed", "holdout_share", "min_playlist", "seeds_per_playlist",
                "k", "depth", "playlists", "heldout_playlists", "eval_playlists", "n_seeds"):
        assert got[key] == documented[key], key
    assert got["leakage"]["playlist_overlap"] == 0


def test_hybrid_precision_at_10_holds(evaluation):
    methods = evaluation["methods"]
    hybrid = methods["hybrid"]["precision_at_10"]
    figures = {m: methods[m]["precision_at_10"] for m in ("hybrid", *BASELINES)}
    print(f"P@10 {figures}; evaluation took {evaluation['wall_seconds']} s")
    assert hybrid >= HYBRID_P10_FLOOR, f"hybrid P@10 {hybrid} fell below {HYBRID_P10_FLOOR}"
    for name in BASELINES:
        assert methods[name]["n_seeds"] == methods["hybrid"]["n_seeds"], name
        assert hybrid > methods[name]["precision_at_10"], \
            f"hybrid P@10 {hybrid} does not beat {name} ({methods[name]['precision_at_10']})"
