"""Serving contract: every mode and comparison method returns k distinct catalog ids,
never the seed, deterministically; steering and feedback move the ranking the right way."""
from __future__ import annotations

import json

import pytest

from pipeline.cli import main
from pipeline.recommend.explain import validate_steer
from pipeline.recommend.recommender import COLUMNS, COMPARE_METHODS, MODES, Recommender


@pytest.fixture(scope="module")
def rec(built_small_cache, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fb') / 'fb.sqlite'}"
    return Recommender.load(built_small_cache, feedback_url=url)


def _seed(rec, i=3):
    return rec.tracks["track_id"].iloc[i]


@pytest.mark.parametrize("mode", MODES)
def test_contract_of_every_mode(rec, mode):
    seed = _seed(rec)
    out = rec.recommend(seed, k=10, mode=mode)
    assert list(out.columns) == COLUMNS
    assert len(out) == 10 and out["track_id"].is_unique
    assert seed not in set(out["track_id"])
    assert set(out["track_id"]) <= set(rec.tracks["track_id"])
    assert list(out["rank"]) == list(range(1, 11))
    assert out["score"].is_monotonic_decreasing
    assert out["why"].str.len().gt(0).all()
    again = rec.recommend(seed, k=10, mode=mode)
    assert list(again["track_id"]) == list(out["track_id"])


def test_compare_gives_every_method(rec):
    seed = _seed(rec, 11)
    res = rec.compare(seed, k=7, methods=COMPARE_METHODS)
    assert list(res) == list(COMPARE_METHODS)
    for name, df in res.items():
        assert len(df) == 7 and df["track_id"].is_unique and seed not in set(df["track_id"]), name


def test_steering_moves_the_list_towards_the_target(rec):
    seed = _seed(rec, 20)
    energy = rec.tracks.set_index("track_id")["energy"]
    base = energy[rec.recommend(seed, 10)["track_id"]].mean()
    high = energy[rec.recommend(seed, 10, steer={"energy": 1.0})["track_id"]].mean()
    low = energy[rec.recommend(seed, 10, steer={"energy": 0.0})["track_id"]].mean()
    assert low < base < high
    year = rec.tracks.set_index("track_id")["year"]
    in_range = lambda df: year[df["track_id"]].between(2010, 2019).mean()  # noqa: E731
    assert in_range(rec.recommend(seed, 10, steer={"year_range": (2010, 2019)})) > \
        in_range(rec.recommend(seed, 10))


@pytest.mark.parametrize("steer, match", [
    ({"loudness": 3}, "unknown target 'loudness'"),
    ({"energy": 2}, r"steer\['energy'\] must be a number in \[0, 1\]"),
    ({"year_range": (2019, 2010)}, "starts after it ends"),
])
def test_bad_steer_is_named(steer, match):
    with pytest.raises(ValueError, match=match):
        validate_steer(steer)


def test_feedback_applies_at_once(built_small_cache, tmp_path):
    rec = Recommender.load(built_small_cache, feedback_url=f"sqlite:///{tmp_path / 'fb.sqlite'}")
    seed = _seed(rec, 30)
    before = rec.recommend(seed, 10)
    disliked, liked = before["track_id"].iloc[0], before["track_id"].iloc[9]
    rec.feedback(seed, disliked, -1)
    rec.feedback(seed, liked, 1)
    after = rec.recommend(seed, 10)
    assert disliked not in set(after["track_id"])
    assert after["track_id"].iloc[0] == liked and after["feedback"].iloc[0] == 1
    other = rec.recommend(_seed(rec, 31), 10)  # feedback is per seed
    assert (other["feedback"] == 0).all()


def test_liked_track_outside_the_pool_is_added(built_small_cache, tmp_path):
    rec = Recommender.load(built_small_cache, feedback_url=f"sqlite:///{tmp_path / 'fb.sqlite'}")
    seed = _seed(rec, 40)
    pool = set(rec.recommend(seed, 400)["track_id"])
    outside = next(t for t in rec.tracks["track_id"] if t not in pool and t != seed)
    rec.feedback(seed, outside, 1)
    assert rec.recommend(seed, 5)["track_id"].iloc[0] == outside


def test_search_finds_exact_title_first(rec):
    row = rec.tracks.iloc[12]
    out = rec.search(f"{row['track_name']}, {row['artist']}")
    assert list(out.columns) == ["track_id", "track_name", "artist", "year", "score"]
    assert out["track_id"].iloc[0] == row["track_id"] and out["score"].iloc[0] == 100
    assert rec.search(row["track_id"])["track_id"].tolist() == [row["track_id"]]
    with pytest.raises(ValueError, match="query is empty"):
        rec.search("  ")


def test_errors_name_the_thing(rec):
    with pytest.raises(KeyError, match="track_id 'nope' is not in the catalog"):
        rec.recommend("nope")
    with pytest.raises(ValueError, match="The 'mode' parameter of recommend must be one of"):
        rec.recommend(_seed(rec), mode="magic")
    with pytest.raises(KeyError, match="feedback: track_id 'nope'"):
        rec.feedback(_seed(rec), "nope", 1)


def test_cli_recommend_json(built_small_cache, capsys):
    row_name = "Song 12"
    assert main(["recommend", "--cache", str(built_small_cache), "--track", row_name,
                 "--k", "4", "--steer", "energy=0.9", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seed"]["track_name"] == row_name and len(out["recommendations"]) == 4


def test_cli_lists_candidates_when_ambiguous(built_small_cache, capsys):
    assert main(["recommend", "--cache", str(built_small_cache), "--track", "Song",
                 "--k", "3"]) == 0
    text = capsys.readouterr().out
    assert "tracks match 'Song'" in text and "seed:" in text


def test_cli_bad_steer_is_an_error_line(built_small_cache, capsys):
    assert main(["recommend", "--cache", str(built_small_cache), "--track", "Song 12",
                 "--steer", "energy=loud"]) == 2
    assert "error: --steer 'energy=loud'" in capsys.readouterr().err


def _model_ranks(cache, seed: str, ids: list[str], tmp_path) -> list[int]:
    """1-based ranks of ``ids`` in the seed's whole candidate list as the cache's ranker
    orders it, served with an empty feedback store: votes are applied at serving time
    (likes lifted, dislikes dropped), and this measures the model alone."""
    import uuid

    url = f"sqlite:///{tmp_path / f'no_votes_{uuid.uuid4().hex}.sqlite'}"
    ranked = Recommender.load(cache, feedback_url=url).recommend(seed, 1000)["track_id"].tolist()
    assert set(ids) <= set(ranked), "a voted track left the candidate pool"
    return [ranked.index(t) + 1 for t in ids]


def test_retrain_uses_feedback(built_small_cache, tmp_path, monkeypatch):
    """After `retrain-ranker`, the model itself ranks the liked track higher and the disliked
    track lower for that seed (here the list's 10th track is liked and its 1st disliked)."""
    from pipeline.recommend.feedback import ENV_URL
    from rec_fixtures import copy_cache

    monkeypatch.delenv(ENV_URL, raising=False)
    cache = copy_cache(built_small_cache, tmp_path / "cache")
    before = (cache / "ranker.txt").read_text()
    rec = Recommender.load(cache)
    seed = _seed(rec, 50)
    top = rec.recommend(seed, 10)["track_id"]
    liked, disliked = top.iloc[9], top.iloc[0]
    assert _model_ranks(cache, seed, [liked, disliked], tmp_path) == [10, 1]
    rec.feedback(seed, liked, 1)
    rec.feedback(seed, disliked, -1)
    assert main(["retrain-ranker", "--cache", str(cache)]) == 0
    report = json.loads((cache / "ranker_report.json").read_text())
    assert report["feedback"] == {"votes": 2, "groups": 1, "pairs": 22}  # top 20 + 2 voted
    assert (cache / "ranker.txt").read_text() != before
    liked_rank, disliked_rank = _model_ranks(cache, seed, [liked, disliked], tmp_path)
    assert liked_rank < 10, f"the liked track did not move up (rank {liked_rank})"
    assert disliked_rank > 10, f"the disliked track is still in the top 10 (rank {disliked_rank})"
