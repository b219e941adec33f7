"""The local engine's scheduling: a free worker never waits while a stage is runnable."""
from __future__ import annotations

from pipeline.build.engines.local import _next_stage

DEPENDS = {"embedding": (), "neighbors": ("embedding",), "projection": ("neighbors",),
           "genre": (), "ranker": ("embedding",)}
PLAN = list(DEPENDS)


def test_prefers_the_stage_warmed_up_on_this_worker():
    pending = ["projection", "ranker"]
    done = {"embedding", "neighbors", "genre"}
    assert _next_stage(pending, 0, {"projection": 0}, done, PLAN, DEPENDS) == "projection"
    assert _next_stage(pending, 1, {"projection": 0}, done, PLAN, DEPENDS) == "ranker"


def test_steals_a_stage_warmed_up_on_a_busy_worker_rather_than_wait():
    # the projection was warmed up on worker 0, which is busy with the ranker: worker 1 runs it
    assert _next_stage(["projection"], 1, {"projection": 0}, {"embedding", "neighbors"},
                       PLAN, DEPENDS) == "projection"


def test_nothing_runnable_returns_none():
    assert _next_stage(["projection"], 0, {}, {"embedding"}, PLAN, DEPENDS) is None
    # a dependency outside the plan counts as done
    assert _next_stage(["projection"], 0, {}, set(), ["projection"], DEPENDS) == "projection"
