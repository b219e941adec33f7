"""The local engine: a build plan in dependency order, in this process or on a process pool.

Independent stages (the recommender's ``genre`` and ``ranker`` beside the map's
``projection`` and ``clusters``) overlap when ``workers > 1``. Each worker reads its inputs
from the cache directory and writes its outputs there, exactly as an engine such as Dask
would run the same stages as tasks; the artifacts do not depend on the number of workers.
Workers are spawned (not forked) so torch's and OpenMP's thread pools start clean, and
without re-running the parent's ``__main__`` (see :func:`_without_main`).
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import threading
import time
import types
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable

from pipeline.build.context import Context
from pipeline.build.stages import STAGE_BY_NAME
from pipeline.config import PipelineConfig
from pipeline.store import save_artifact

log = logging.getLogger(__name__)
WARMUP_MIN_BYTES = 200_000_000


def run_stage(name: str, ctx: Context) -> float:
    """Run one stage on ``ctx``, save its outputs atomically; returns its seconds."""
    log.info("stage %-10s running", name)
    t0 = time.perf_counter()
    for artifact, value in STAGE_BY_NAME[name].run(ctx).items():
        save_artifact(ctx.cache / artifact, value)
        ctx.put(artifact, value)
    seconds = round(time.perf_counter() - t0, 2)
    log.info("stage %-10s done in %.1f s", name, seconds)
    return seconds


def _worker_stage(name: str, cache: str, cfg_json: str, catalog: list[str]) -> float:
    """Entry point in a worker process: a fresh context that reads inputs from the cache."""
    ctx = Context(Path(cache), PipelineConfig.model_validate_json(cfg_json),
                  [Path(p) for p in catalog])
    return run_stage(name, ctx)


@contextlib.contextmanager
def _without_main():
    """Start processes without re-running the parent's ``__main__`` in them.

    A spawned child first re-imports the parent's main script (to unpickle functions defined
    there; ours live in this module). When the parent is pytest after a Streamlit AppTest,
    or the Streamlit server, that script is a dashboard page, which then runs in the
    worker and kills it (measured: BrokenProcessPool). A main module without a file or
    spec is skipped. Only held while a process starts, which ``submit`` does synchronously.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _init_worker(level: int, parent: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # CPU-variant probing
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker when the build process is gone (killed, crashed): an orphaned
    worker would otherwise go on computing a stage nobody waits for (seen: minutes of CPU
    after the parent was killed)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def execute(plan: list[str], depends: dict[str, tuple[str, ...]], ctx: Context, workers: int,
            on_start: Callable[[str], None],
            on_done: Callable[[str], None] = lambda name: None) -> dict[str, float]:
    """Run the stages of ``plan`` (in a valid order) once their planned upstreams are done.

    Args:
        plan: names of the stages to run, in dependency order.
        depends: stage name -> upstream stage names (those not in ``plan`` are done).
        ctx: the build's Context (used directly when ``workers == 1``).
        workers: processes; 1 runs everything here, in order.
        on_start: called with a stage's name when it starts.
        on_done: called with a stage's name once its outputs are all on disk.
    Returns:
        seconds per stage run.
    """
    if workers <= 1 or len(plan) <= 1:
        out = {}
        for name in plan:
            on_start(name)
            out[name] = run_stage(name, ctx)
            on_done(name)
        return out
    return _execute_pool(plan, depends, ctx, workers, on_start, on_done)


def bottom_levels(plan: list[str], depends: dict[str, tuple[str, ...]],
                  cost: dict[str, float]) -> dict[str, float]:
    """Each stage's cost plus the longest chain of planned stages that waits on it."""
    level: dict[str, float] = {}
    for name in reversed(plan):
        after = [level[c] for c in plan if name in depends[c] and c in level]
        level[name] = cost.get(name, 1.0) + max(after, default=0.0)
    return level


def _next_stage(pending: list[str], slot: int, affinity: dict[str, int], done: set[str],
                plan: list[str], depends: dict[str, tuple[str, ...]],
                level: dict[str, float] | None = None) -> str | None:
    """The stage a free slot should run: a runnable one warmed up here, else the runnable
    one with the longest remaining chain (``level``), even one warmed up on another slot.
    A free worker never waits: losing a warm-up costs its JIT time once, waiting on a busy
    worker can cost minutes; and the longest chain first keeps the other worker fed (30k:
    the ranker, 51 s, starts beside the embedding instead of after the genre model)."""
    runnable = [n for n in pending if all(d in done or d not in plan for d in depends[n])]
    level = level or {}
    runnable.sort(key=lambda n: (affinity.get(n) != slot, -level.get(n, 0.0),
                                 affinity.get(n, slot) != slot))
    return runnable[0] if runnable else None


def warmup_pays_off(catalog: list[Path]) -> bool:
    """Warm stages up only when ingest alone keeps the other worker idle longer than a
    warm-up takes (UMAP's JIT, ~11 s): ingest reads about 8 MB/s, and the 200k catalog
    (60 MB, 7.5 s of ingest) lost its warm-up to the ranker (which then started late) and
    compiled UMAP again in the projection. From ~200 MB (about 700k tracks) the warm-up
    costs nothing; below, it only delays the stage with the longest chain."""
    return sum(p.stat().st_size for p in _files(catalog)) >= WARMUP_MIN_BYTES


def _files(catalog: list[Path]) -> list[Path]:
    return [f for p in catalog for f in ([p] if p.is_file() else
                                         sorted(q for q in p.rglob("*") if q.is_file()))]


def _worker_warmup(name: str, cfg_json: str) -> None:
    t0 = time.perf_counter()
    STAGE_BY_NAME[name].warmup(PipelineConfig.model_validate_json(cfg_json))
    log.info("stage %-10s warmed up in %.1f s", name, time.perf_counter() - t0)


def _execute_pool(plan: list[str], depends: dict[str, tuple[str, ...]], ctx: Context,
                  workers: int, on_start: Callable[[str], None],
                  on_done: Callable[[str], None]) -> dict[str, float]:
    """One single-process executor per slot, so a stage can run in the process that
    warmed it up (its JIT-compiled code stays in memory) while earlier stages run."""
    ctx_args = (str(ctx.cache), ctx.cfg.model_dump_json(), [str(p) for p in ctx.catalog])
    log_level = logging.getLogger().getEffectiveLevel()
    spawn = multiprocessing.get_context("spawn")
    slots = [ProcessPoolExecutor(1, mp_context=spawn, initializer=_init_worker,
                                 initargs=(log_level, os.getpid())) for _ in range(workers)]
    pending, done, seconds = list(plan), set(), {}
    warmups = [n for n in plan if STAGE_BY_NAME[n].warmup is not None
               and warmup_pays_off(ctx.catalog)]
    chain = bottom_levels(plan, depends, {n: STAGE_BY_NAME[n].cost for n in plan})
    affinity: dict[str, int] = {}
    busy: dict[int, tuple[Future, str, bool]] = {}  # slot -> (future, stage, is_warmup)
    failed = True
    try:
        while pending or busy:
            for slot in (i for i in range(workers) if i not in busy):
                name = _next_stage(pending, slot, affinity, done, plan, depends, chain)
                if name is not None:
                    pending.remove(name)
                    if name in warmups:  # started before a worker was free to warm it up
                        warmups.remove(name)
                    on_start(name)
                    with _without_main():
                        fut = slots[slot].submit(_worker_stage, name, *ctx_args)
                    busy[slot] = (fut, name, False)
                elif warmups:
                    name = warmups.pop(0)
                    affinity[name] = slot
                    with _without_main():
                        fut = slots[slot].submit(_worker_warmup, name, ctx_args[1])
                    busy[slot] = (fut, name, True)
            if not busy:  # nothing runnable: a dependency outside the stage table
                raise RuntimeError(f"build plan cannot proceed: stages {pending} wait on "
                                   f"{[d for n in pending for d in depends[n]]}")
            finished, _ = wait([f for f, _, _ in busy.values()], return_when=FIRST_COMPLETED)
            for slot in [i for i, (f, _, _) in busy.items() if f in finished]:
                fut, name, is_warmup = busy.pop(slot)
                result = fut.result()  # re-raises the stage's own error
                if not is_warmup:
                    seconds[name] = result
                    done.add(name)
                    on_done(name)
        failed = False
    finally:
        for ex in slots:
            if failed:  # say what failed now, not after a warm-up or a stage has finished
                _terminate(ex)
            ex.shutdown(wait=not failed, cancel_futures=True)
    return seconds


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop an executor's worker process (the standard API can only wait for it)."""
    for process in list(getattr(executor, "_processes", {}).values()):
        process.terminate()
