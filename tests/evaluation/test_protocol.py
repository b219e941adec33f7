"""Evaluation protocol: every method honours the contract, held-out playlists and their
labels are invisible to training, and the command writes the documented JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.config import RankerConfig, stage_seed
from pipeline.evaluation.protocol import (
    METRICS,
    EvalConfig,
    check_rankings,
    method_table,
    per_seed_metrics,
    protocol_split,
    run_evaluation,
    validation_split,
)
from pipeline.recommend.ranker import fit_signals, train_rankers
from rec_fixtures import cache_inputs

FAST = RankerConfig(n_estimators=30, n_emb=60, n_cooc=40, n_same=10)
ECFG = EvalConfig(n_boot=50, depth=30)
WARM = ["random", "popularity", "cosine_raw", "kmeans_nn", "autoencoder", "embedding_knn",
        "cooccurrence", "hybrid"]


@pytest.fixture(scope="module")
def inputs(built_small_cache):
    tracks, mem, x, names, cfg = cache_inputs(built_small_cache)
    return tracks, mem, x, names, cfg.model_copy(update={"ranker": FAST})


@pytest.fixture(scope="module")
def result(inputs):
    return run_evaluation(*inputs, ECFG)


def test_every_method_runs_under_the_contract(inputs):
    tracks, mem, x, names, cfg = inputs
    train_m, _, seeds = protocol_split(tracks, mem, 11, ECFG)
    sig = fit_signals(tracks, x, names, train_m, cfg.embedding, FAST, 11)
    models = train_rankers(tracks, x, names, train_m, cfg.embedding, FAST, 11)
    table = method_table(tracks, x, names, sig, models, FAST, ECFG.depth, 11, cold=False)
    assert set(WARM) <= set(table)
    for name, fn in table.items():
        ranked = fn(seeds.rows)
        check_rankings(ranked, seeds.rows, 10, name)  # k distinct, seed excluded
        assert ranked[:, :10].max() < len(tracks), name  # only catalog rows
        assert np.array_equal(ranked, fn(seeds.rows)), name  # deterministic


def test_result_has_the_documented_keys(result):
    for name in WARM:
        m = result["methods"][name]
        assert set(METRICS) <= set(m) and m["n_seeds"] > 0
        for k in METRICS:
            lo, hi = m["ci95"][k]
            assert lo <= m[k] <= hi
    content_only = {"cosine_raw", "kmeans_nn", "autoencoder", "embedding_knn", "content"}
    assert content_only <= set(result["cold_start"])
    assert "hybrid" not in result["cold_start"] and "cooccurrence" not in result["cold_start"]
    g = result["genre_classifier"]
    assert 0 <= g["accuracy_random_split"] <= 1 and 0 <= g["accuracy_artist_disjoint"] <= 1
    p = result["protocol"]
    assert p["holdout_share"] == 0.2 and p["leakage"]["playlist_overlap"] == 0
    audit = result["artist_overlap_audit"]
    assert 0 <= audit["seed_artist_in_training"] <= audit["seeds"] == p["n_seeds"]


def test_hybrid_beats_random_on_synthetic_playlists(result):
    m = result["methods"]
    assert m["hybrid"]["precision_at_10"] > m["random"]["precision_at_10"]


def test_heldout_labels_are_invisible(inputs, result):
    """Rewriting every label of the held-out playlists (genre, subgenre, name) changes
    nothing in the result: training never saw them."""
    tracks, mem, x, names, cfg = inputs
    _, test_m, _ = protocol_split(tracks, mem, stage_seed(cfg.seed, "evaluate"), ECFG)
    held = mem["playlist_id"].isin(set(test_m["playlist_id"]))
    tampered = mem.copy()
    tampered.loc[held, ["genre", "subgenre", "playlist_name"]] = ["leak", "leak sub", "LEAK"]
    again = run_evaluation(tracks, tampered, x, names, cfg, ECFG)
    for key in ("methods", "cold_start", "genre_classifier", "artist_overlap_audit"):
        assert again[key] == result[key], key


def test_training_signals_do_not_see_heldout_memberships(inputs):
    tracks, mem, x, names, cfg = inputs
    train_m, test_m, seeds = protocol_split(tracks, mem, 11, ECFG)
    sig = fit_signals(tracks, x, names, train_m, cfg.embedding, FAST, 11)
    only_test = ~tracks["track_id"].isin(train_m["track_id"]).to_numpy()
    assert only_test.any()
    assert (sig.cooc.degree[only_test] == 0).all()
    assert (sig.genre_vec[only_test] == 0).all()
    counts = sig.cooc.counts(seeds.rows)
    for i, rel in enumerate(seeds.relevant):  # pairs only together in a held-out playlist
        mates = rel[only_test[rel]]
        assert (counts[i, mates].toarray() == 0).all()


def test_validation_split_comes_from_training_playlists_only(inputs):
    tracks, mem, *_ = inputs
    train_m, test_m, _ = protocol_split(tracks, mem, 11, ECFG)
    inner, seeds = validation_split(tracks, train_m, 11, ECFG)
    val_pls = set(seeds.playlist)
    assert val_pls and val_pls <= set(train_m["playlist_id"].astype(str))
    assert not val_pls & set(test_m["playlist_id"].astype(str))
    assert not val_pls & set(inner["playlist_id"].astype(str))
    assert set(inner["playlist_id"]) < set(train_m["playlist_id"])
    again = validation_split(tracks, train_m, 11, ECFG)[1]
    assert again.rows.tolist() == seeds.rows.tolist()


def test_metrics_on_a_known_ranking():
    ranked = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]])
    vals = per_seed_metrics(ranked, [np.array([1, 11])], k=10)
    assert vals["precision_at_10"][0] == pytest.approx(0.1)
    assert vals["hit_rate_at_10"][0] == 1.0
    assert vals["r_precision"][0] == pytest.approx(0.5)
    assert vals["ndcg_at_10"][0] == pytest.approx(1 / (1 + 1 / np.log2(3)))


def test_no_playlists_is_a_clear_error(inputs):
    tracks, mem, x, names, cfg = inputs
    with pytest.raises(ValueError, match="no playlists; the protocol holds out playlists"):
        run_evaluation(tracks, mem.iloc[:0], x, names, cfg, ECFG)


def test_evaluate_command_writes_json_and_report(built_small_cache, tmp_path, capsys):
    out, report = tmp_path / "eval.json", tmp_path / "EVALUATION.md"
    assert main(["evaluate", "--cache", str(built_small_cache), "--out", str(out),
                 "--report", str(report), "--n-boot", "50"]) == 0
    res = json.loads(out.read_text())
    assert set(WARM) <= set(res["methods"]) and res["protocol"]["seed"] == 7
    text = report.read_text()
    assert "| `hybrid` |" in text and "python -m pipeline evaluate --cache" in text
    assert "hybrid P@10" in capsys.readouterr().out
