"""Serving contract: every mode and comparison method returns k distinct catalog ids and
one release per song, never the seed, deterministically; steering and feedback move the
ranking the right way, bounded, per profile, and undoably."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.recommend.explain import FEEDBACK_CAP, FEEDBACK_WEIGHT, validate_steer
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
    assert str(out["year"].dtype) == "Int64"                    # 2019, not 2019.0
    assert (out["unsteered_rank"] == out["rank"]).all() and (out["feedback_shift"] == 0).all()
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


def _rec(cache, tmp_path) -> Recommender:
    return Recommender.load(cache, feedback_url=f"sqlite:///{tmp_path / 'fb.sqlite'}")


def _song(rec, ids) -> list[int]:
    return rec.tracks.set_index("track_id").loc[list(ids), "song_group"].tolist()


def test_one_release_per_song_in_every_list(rec):
    """Raw candidate lists repeat songs (the synthetic catalog has same-song releases with
    the same sound); every served list keeps one release per song, never the seed's song."""
    raw_dups = dict.fromkeys(COMPARE_METHODS, 0)
    for i in range(0, len(rec.tracks), 9):
        seed = rec.tracks["track_id"].iloc[i]
        lists = {**{m: rec.recommend(seed, 12, mode=m) for m in MODES},
                 **rec.compare(seed, 12, methods=COMPARE_METHODS)}
        for name, df in lists.items():
            songs = _song(rec, df["track_id"])
            assert len(set(songs)) == len(songs) == 12, (seed, name)
            assert rec._song[i] not in songs, (seed, name)
        for m in COMPARE_METHODS:
            cand, score = rec._candidates(i, m)
            top = rec._song[cand[np.lexsort((cand, -score))[:12]]]
            raw_dups[m] += len(np.unique(top)) < 12 or rec._song[i] in top
    assert sum(raw_dups.values()) >= 10, raw_dups      # the raw lists did repeat songs


def test_the_best_ranked_release_is_kept(rec):
    """For a seed whose raw embedding neighbours hold two releases of one song, the list
    keeps the release ranked first and moves everything below up by one."""
    for i in range(len(rec.tracks)):
        cand, score = rec._candidates(i, "embedding_knn")
        order = cand[np.lexsort((cand, -score))][:10]
        songs = rec._song[order]
        if rec._song[i] in songs or len(np.unique(songs)) == len(songs):
            continue
        first, second = [j for j, g in enumerate(songs) if (songs == g).sum() > 1][:2]
        out = rec.compare(rec.tracks["track_id"].iloc[i], 10, ["embedding_knn"])["embedding_knn"]
        ids = rec.tracks["track_id"].to_numpy()
        assert out["track_id"].iloc[first] == ids[order[first]]
        assert ids[order[second]] not in set(out["track_id"])
        return
    pytest.fail("no seed with a repeated song among its raw neighbours")


def test_seed_other_release_is_not_recommended(rec):
    t = rec.tracks
    pair = t[t["n_releases"] > 1].groupby("song_group")["track_id"].apply(list).iloc[0]
    for m in MODES:
        assert not set(pair) & set(rec.recommend(pair[0], 30, mode=m)["track_id"]), m


def test_like_lifts_the_track_and_tracks_like_it_bounded(built_small_cache, tmp_path):
    rec = _rec(built_small_cache, tmp_path)
    seed = _seed(rec, 30)
    before = rec.recommend(seed, 60).set_index("track_id")
    # far enough down that a capped lift cannot reach the top (a +10 boost did)
    liked = before.index[(before["score"].iloc[0] - before["score"] > FEEDBACK_CAP).to_numpy()][0]
    rec.feedback(seed, liked, 1)
    after = rec.recommend(seed, 60).set_index("track_id")
    assert after.loc[liked, "feedback"] == 1 and after.loc[liked, "rank"] > 1   # not pinned
    assert after.loc[liked, "score"] == pytest.approx(before.loc[liked, "score"]
                                                      + FEEDBACK_WEIGHT, abs=1e-3)
    assert after.loc[liked, "rank"] < before.loc[liked, "rank"]
    assert "you liked it for this seed" in after.loc[liked, "why"]
    assert after["feedback_shift"].abs().max() <= FEEDBACK_CAP
    lifted = after[(after["feedback_shift"] > 0.05) & (after["feedback"] == 0)]
    assert len(lifted) >= 3, "a like must lift tracks like the liked one"
    assert lifted["why"].str.contains("which you liked").all()
    emb = rec.sig.emb
    sim = lambda t: float(emb[rec.index.row(t)] @ emb[rec.index.row(liked)])  # noqa: E731
    lifted_sim = np.mean([sim(t) for t in lifted.index])
    rest_sim = np.mean([sim(t) for t in after.index if after.loc[t, "feedback_shift"] == 0])
    assert lifted_sim > rest_sim                      # the lifted ones sound like the liked one


def test_dislike_hides_the_track_and_pushes_similar_ones_down(built_small_cache, tmp_path):
    rec = _rec(built_small_cache, tmp_path)
    seed = _seed(rec, 30)
    before = rec.recommend(seed, 60).set_index("track_id")
    disliked = before.index[0]
    rec.feedback(seed, disliked, -1)
    after = rec.recommend(seed, 60).set_index("track_id")
    assert disliked not in after.index
    pushed = after[after["feedback_shift"] < -0.05]
    assert len(pushed) >= 3 and pushed["why"].str.contains("which you disliked").all()
    assert (after["feedback_shift"] >= -FEEDBACK_CAP).all()
    assert (pushed["score"] < before.loc[pushed.index, "score"]).all()


def test_votes_are_per_profile_and_undoable(built_small_cache, tmp_path):
    rec = _rec(built_small_cache, tmp_path)
    seed = _seed(rec, 30)
    base = rec.recommend(seed, 10)
    rec.feedback(seed, base["track_id"].iloc[0], -1, user="ann")
    rec.feedback(seed, base["track_id"].iloc[9], 1, user="ann")
    ann = rec.recommend(seed, 10, user="ann")
    assert list(ann["track_id"]) != list(base["track_id"])
    for other in (None, "bob"):                     # "everyone" and another profile
        assert list(rec.recommend(seed, 10, user=other)["track_id"]) == list(base["track_id"])
    assert rec.votes(seed, "ann") == {base["track_id"].iloc[0]: -1,
                                      base["track_id"].iloc[9]: 1}
    for t in rec.votes(seed, "ann"):
        rec.feedback(seed, t, 0, user="ann")        # undo both
    again = rec.recommend(seed, 10, user="ann")
    assert list(again["track_id"]) == list(base["track_id"])
    assert list(again["score"]) == list(base["score"])
    other = rec.recommend(_seed(rec, 31), 10, user="ann")  # votes are per seed
    assert (other["feedback"] == 0).all() and (other["feedback_shift"] == 0).all()


def test_methods_side_by_side_ignore_votes(built_small_cache, tmp_path):
    rec = _rec(built_small_cache, tmp_path)
    seed = _seed(rec, 30)
    pure = rec.compare(seed, 10, methods=COMPARE_METHODS)
    for m, df in pure.items():
        rec.feedback(seed, df["track_id"].iloc[0], 1)
        rec.feedback(seed, df["track_id"].iloc[1], -1)
    for m, df in rec.compare(seed, 10, methods=COMPARE_METHODS).items():
        assert list(df["track_id"]) == list(pure[m]["track_id"]), m
        assert (df["feedback"] == 0).all() and (df["feedback_shift"] == 0).all(), m


def test_liked_track_outside_the_pool_joins_it(built_small_cache, tmp_path):
    rec = _rec(built_small_cache, tmp_path)
    seed = _seed(rec, 40)
    pool = set(rec.recommend(seed, 400)["track_id"])
    seed_song = rec._song[rec.index.row(seed)]
    outside = next(t for t in rec.tracks["track_id"] if t not in pool and t != seed
                   and rec.tracks["n_releases"].iloc[rec.index.row(t)] == 1
                   and rec._song[rec.index.row(t)] != seed_song)
    rec.feedback(seed, outside, 1)
    out = rec.recommend(seed, 400).set_index("track_id")
    assert out.loc[outside, "feedback"] == 1
    assert out.loc[outside, "score"] == pytest.approx(FEEDBACK_WEIGHT, abs=1e-3)  # median + lift


def test_steering_explains_the_moves(rec):
    seed = _seed(rec, 20)
    plain = rec.recommend(seed, 10)
    out = rec.recommend(seed, 10, steer={"energy": 0.05, "year_range": (2000, 2019)})
    assert list(out.columns) == [*COLUMNS, "energy"]
    energy = rec.tracks.set_index("track_id")["energy"]
    assert np.allclose(out["energy"], energy[out["track_id"]])
    moved = out[out["unsteered_rank"] != out["rank"]]
    assert len(moved) > 0
    for _, r in moved.iterrows():
        way = "up" if r["unsteered_rank"] > r["rank"] else "down"
        assert f"moved it {way} from #{r['unsteered_rank']}" in r["why"]
        assert f"energy {r['energy']:.2f}, target 0.05" in r["why"]
        assert "range 2000-2019" in r["why"]
    assert not out.loc[out["unsteered_rank"] == out["rank"], "why"].str.contains(
        "steering").any()
    first = plain["track_id"].iloc[0]               # without steering, #1 is the plain #1
    placed = out[out["track_id"] == first]
    assert placed.empty or placed["unsteered_rank"].iloc[0] == 1


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
    with pytest.raises(ValueError, match="The 'value' parameter of feedback must be"):
        rec.feedback(_seed(rec), _seed(rec, 4), 5)


def test_cli_recommend_json(built_small_cache, capsys):
    row_name = "Song 12"
    assert main(["recommend", "--cache", str(built_small_cache), "--track", row_name,
                 "--k", "4", "--steer", "energy=0.9", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seed"]["track_name"] == row_name and len(out["recommendations"]) == 4


def test_cli_feedback_per_profile_and_undo(built_small_cache, tmp_path, monkeypatch, capsys):
    from pipeline.recommend.feedback import ENV_URL

    monkeypatch.setenv(ENV_URL, f"sqlite:///{tmp_path / 'fb.sqlite'}")
    cache = str(built_small_cache)
    rec = Recommender.load(cache)
    seed = _seed(rec, 12)
    top = rec.recommend(seed, 5)["track_id"].iloc[0]
    vote = ["feedback", "--cache", cache, "--seed-id", seed, "--track-id", top]
    assert main([*vote, "--value", "-1", "--user", "ann"]) == 0
    assert "profile 'ann'" in capsys.readouterr().out

    def shown(*extra) -> list[str]:
        assert main(["recommend", "--cache", cache, "--track", seed, "--k", "5", "--json",
                     *extra]) == 0
        return [r["track_id"] for r in json.loads(capsys.readouterr().out)["recommendations"]]
    assert top not in shown("--user", "ann") and top in shown()
    assert main([*vote, "--value", "0", "--user", "ann"]) == 0
    assert "vote undone" in capsys.readouterr().out
    assert top in shown("--user", "ann")


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


def test_a_ranker_of_an_older_version_is_refused_by_name(built_small_cache, tmp_path):
    import shutil

    import lightgbm as lgb

    from pipeline import generations
    from pipeline.errors import CacheError

    cache = tmp_path / "cache"
    shutil.copytree(generations.resolve(built_small_cache), cache)
    rng = np.random.default_rng(0)
    old = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1},
                    lgb.Dataset(rng.random((50, 5)), rng.random(50)), num_boost_round=2)
    (cache / "ranker.txt").write_text(old.model_to_string())
    generations.record_checksums(cache, ["ranker.txt"])   # a whole file, of another version
    with pytest.raises(CacheError, match=r"ranker.txt: this ranker was trained on 5 features"
                                         r".*python -m pipeline build --cache"):
        Recommender.load(cache, feedback_url=f"sqlite:///{tmp_path / 'f.sqlite'}")
