"""The Dask engine: the build's stages as tasks on a Dask cluster.

Each stage is one task that calls the local engine's :func:`run_stage` on a worker, the
same code path as a local build: a stage reads its inputs from the cache directory and
writes its outputs there, so a task carries only the cache path, the config JSON and the
catalog paths, never arrays (the cache must be a path every worker sees). A stage is
submitted once its upstream stages have finished, at most one per worker thread, longest
remaining chain first; ``on_start``/``on_done`` run here, on the client, and ``on_done``
only once the stage's task has returned, i.e. after its outputs are on disk.

With no scheduler address the engine starts a ``LocalCluster`` of single-thread worker
processes and closes it after the build. Worker processes get one BLAS/OpenMP/numba thread
each (set before the interpreter starts, so before numpy is imported): a worker runs as many
stages at once as it has threads, and each stage sets its own torch, LightGBM and faiss
threads from the config. A worker lost mid-stage (killed, out of memory) is rescheduled by
the scheduler on another worker up to ``ALLOWED_FAILURES`` times; a stage that raises is
not retried (the stages are deterministic: it would raise again) and stops the build.

Catalogs of at least ``PartitionConfig.min_rows`` tracks run the stages that have a
data-parallel form (:mod:`pipeline.build.engines.partitions`) as a fit task, one task per
partition of rows and a combine task, with the same artifacts; progress is logged per
partition, and a failed partition names its stage and row range (docs/DASK.md).
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import dask
import distributed

from pipeline.build.context import Context
from pipeline.build.engines.local import _without_main, bottom_levels, run_stage
from pipeline.build.engines.partition_files import cleanup
from pipeline.build.engines.partitions import PARTITIONED, PartitionConfig, plan_for
from pipeline.build.stages import STAGE_BY_NAME
from pipeline.config import PipelineConfig
from pipeline.errors import BuildError, CatalogError

log = logging.getLogger(__name__)
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
THREADS_PER_STAGE = 1
# Reruns of a stage whose worker died. Set on the LocalCluster's scheduler; a running
# cluster uses its own `distributed.scheduler.allowed-failures` (Dask's default is 3).
ALLOWED_FAILURES = 2
CONNECT_TIMEOUT_S = 30


def execute(plan: list[str], depends: dict[str, tuple[str, ...]], ctx: Context, workers: int,
            on_start: Callable[[str], None],
            on_done: Callable[[str], None] = lambda name: None,
            scheduler: str | None = None,
            partitions: PartitionConfig | None = None) -> dict[str, float]:
    """Run the stages of ``plan`` as Dask tasks once their planned upstreams are done.

    Args:
        plan: names of the stages to run, in dependency order.
        depends: stage name -> upstream stage names (those not in ``plan`` are done).
        ctx: the build's Context; only its cache path, config and catalog paths are sent.
        workers: worker processes of the LocalCluster started when there is no address
            (at most the machine's cores); ignored with an address.
        on_start: called here with a stage's name when it is handed to a worker.
        on_done: called here with a stage's name once its outputs are all on disk.
        scheduler: a running scheduler's address (``tcp://HOST:8786``); default
            ``$DASK_SCHEDULER_ADDRESS``, else a LocalCluster for this build.
        partitions: when to run stages over partitions of rows (default
            :meth:`PartitionConfig.from_env`).
    Returns:
        seconds per stage run (on the worker; a partitioned stage: here, first task to last).
    Raises:
        BuildError: the scheduler cannot be reached, a stage's worker died more often
            than the scheduler allows, or a partitioned stage's task failed (named with
            its partition's rows). A whole stage's own error is re-raised as it is.
    """
    if not plan:
        return {}
    partitions = partitions or PartitionConfig.from_env()   # a bad setting fails before work
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    level = logging.getLogger().getEffectiveLevel()
    with _quiet_distributed(), connect(address, workers) as client:
        log.info("Dask dashboard: %s", client.dashboard_link)
        _log_thread_settings(client.run(thread_report))  # as started, before prepare_worker
        client.run(prepare_worker, level)
        args = (str(Path(ctx.cache).absolute()), ctx.cfg.model_dump_json(),
                [str(Path(p).absolute()) for p in ctx.catalog], level)
        return _run(client, plan, depends, args, on_start, on_done,
                    lambda name: plan_for(name, ctx, partitions))


@contextlib.contextmanager
def connect(address: str | None, workers: int) -> Iterator[distributed.Client]:
    """A client of the cluster at ``address``, or of a LocalCluster started for the build."""
    if address:
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S,
                                        set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise BuildError(f"Dask scheduler {address}: cannot connect ({exc}). Start it "
                             "(`dask scheduler`, then `dask worker ADDRESS` on each machine), "
                             "check the address and port, or build without --scheduler to "
                             "use a local cluster.") from None
        with client:
            yield client
        return
    n = max(1, min(workers, os.cpu_count() or 1))
    with local_cluster(n) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@contextlib.contextmanager
def local_cluster(n_workers: int, **kwargs) -> Iterator[distributed.LocalCluster]:
    """A LocalCluster of ``n_workers`` single-thread processes with one BLAS/OpenMP/numba
    thread each, set before their interpreter starts.

    ``memory_limit=0``: no nanny kill at 95% of a per-worker share of memory; a stage may
    need most of the machine while the other worker idles (the local engine has no limit
    either). The nanny applies its pre-spawn environment to this process too; it is put
    back when the cluster closes.
    """
    env = {var: str(THREADS_PER_STAGE) for var in THREAD_VARS}
    pre_spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **env}
    saved = {k: os.environ.get(k) for k in [*pre_spawn, "PYTHONHASHSEED"]}
    options = {"n_workers": n_workers, "threads_per_worker": 1, "processes": True,
               "memory_limit": 0, **kwargs}
    try:
        # The spawned workers must not re-run this process's __main__ (a dashboard page
        # under pytest or Streamlit): held for the cluster's life, as the nanny respawns
        # a lost worker at any time.
        with _without_main(), dask.config.set({
                "distributed.nanny.pre-spawn-environ": pre_spawn,
                "distributed.scheduler.allowed-failures": ALLOWED_FAILURES}), \
                distributed.LocalCluster(**options) as cluster:
            yield cluster
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Dask's own INFO lines (each connection, nanny, plugin) drown the build's: warnings
    only for the build, unless the caller asked for DEBUG (``-v``)."""
    logger = logging.getLogger("distributed")
    before = logger.level
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


@dataclass
class _Job:
    """A stage on the cluster: one task, or a fit, partitions and a combine task."""

    name: str
    final: distributed.Future | None            # the stage's task, or its combine task
    t0: float = field(default_factory=time.perf_counter)      # (None: after the scan)
    fit: distributed.Future | None = None
    parts: dict[distributed.Future, tuple[int, int, int]] = field(default_factory=dict)
    done: int = 0                                # partitions finished
    submit_parts: Callable[[list[tuple[int, int]]], None] | None = None  # after a scan


def _run(client: distributed.Client, plan: list[str], depends: dict[str, tuple[str, ...]],
         args: tuple, on_start: Callable[[str], None], on_done: Callable[[str], None],
         partition_plan: Callable[[str], tuple | None] = lambda name: None
         ) -> dict[str, float]:
    chain = bottom_levels(plan, depends, {n: STAGE_BY_NAME[n].cost for n in plan})
    pending, done, seconds = list(plan), set(), {}
    owner: dict[distributed.Future, _Job] = {}
    finished = distributed.as_completed(loop=client.loop)
    build_id = uuid.uuid4().hex[:8]
    try:
        while pending or owner:
            busy = {job.name for job in owner.values()}
            free = max(1, sum(client.nthreads().values())) - len(busy)
            for name in _runnable(pending, done, plan, depends, chain)[:max(0, free)]:
                pending.remove(name)
                on_start(name)
                job = _submit(client, name, args, build_id, round(chain[name]),
                              partition_plan(name))
                for fut in [job.final, job.fit, *job.parts]:
                    if fut is not None:
                        owner[fut] = job
                        finished.add(fut)
            if not owner:  # nothing runnable: a dependency outside the stage table
                raise RuntimeError(f"build plan cannot proceed: stages {pending} wait on "
                                   f"{[d for n in pending for d in depends[n]]}")
            fut = next(finished)
            job = owner.pop(fut)
            if job.final is None:  # a scan: its partitions are known now
                job.submit_parts(_progress(job, fut)["ranges"])
                for part in [job.final, *job.parts]:
                    owner[part] = job
                    finished.add(part)
                continue
            if fut is not job.final:
                _progress(job, fut)
                continue
            if job.fit is None:
                result = _result(fut, job.name)
                seconds[job.name] = result["seconds"]
                log.info("stage %-10s finished in %.1f s on %s", job.name, result["seconds"],
                         result["worker"])
            else:
                _part_result(job, fut)
                seconds[job.name] = round(time.perf_counter() - job.t0, 2)
                log.info("stage %-10s finished in %.1f s over %d partitions", job.name,
                         seconds[job.name], len(job.parts))
            done.add(job.name)
            on_done(job.name)
    finally:
        if owner:  # a failed build: stop what still runs (a task cannot be interrupted;
            client.cancel(list(owner), force=True)  # a LocalCluster's close ends it)
    return seconds


def _submit(client: distributed.Client, name: str, args: tuple, build_id: str,
            priority: int, partitioned: tuple | None) -> _Job:
    """The stage's task, or its fit, partition and combine tasks (dependencies by future)."""
    if partitioned is None:
        return _Job(name, client.submit(_worker_stage, name, *args,
                                        key=f"stage-{name}-{build_id}", pure=False,
                                        priority=priority))
    _, ranges, rows = partitioned
    fit = client.submit(_worker_phase, "fit", name, None, None, 0, rows, *args,
                        key=f"stage-{name}-fit-{build_id}", pure=False, priority=priority)
    job = _Job(name, None, fit=fit)

    def submit_parts(ranges: list[tuple[int, int]]) -> None:
        log.info("stage %-10s runs over %d partitions (%d rows each at most)", name,
                 len(ranges), max(hi - lo for lo, hi in ranges))
        job.parts = {client.submit(_worker_phase, "part", name, fit, None, lo, hi, *args,
                                   key=f"stage-{name}-part{i}-{build_id}", pure=False,
                                   priority=priority): (i + 1, lo, hi)
                     for i, (lo, hi) in enumerate(ranges)}
        job.final = client.submit(_worker_phase, "combine", name, fit, list(job.parts), 0, 0,
                                  *args, key=f"stage-{name}-combine-{build_id}", pure=False,
                                  priority=priority)

    if ranges is None:  # a scan decides them (ingest): submitted when it is done
        job.submit_parts = submit_parts
    else:
        submit_parts(ranges)
    return job


def _progress(job: _Job, fut: distributed.Future) -> dict:
    """Log a partitioned stage's fit or partition as it finishes (a failure: BuildError);
    returns the task's result."""
    result = _part_result(job, fut)
    if fut is job.fit:
        log.info("%s: fit done in %.1f s on %s", job.name, result["seconds"], result["worker"])
        return result
    job.done += 1
    i, lo, hi = job.parts[fut]
    log.info("%s: partition %d/%d done (rows %d-%d: %d rows in %.2f s, %.0f rows/s on %s)",
             job.name, job.done, len(job.parts), lo, hi - 1, hi - lo, result["seconds"],
             (hi - lo) / max(result["seconds"], 1e-9), result["worker"])
    return result


def _part_result(job: _Job, fut: distributed.Future) -> dict:
    """A partitioned stage's task result; a failure names the stage and the partition."""
    try:
        return fut.result()
    except CatalogError as exc:  # bad input: the local stage's one-line message, as it is
        log.error("stage %-10s failed on the Dask cluster: %s", job.name, exc)
        raise
    except Exception as exc:
        what = _failed_task(job, fut)
        died = isinstance(exc, distributed.KilledWorker)
        cause = ("the Dask worker running it died more often than the scheduler allows (out "
                 "of memory? see the worker's log)" if died else f"{type(exc).__name__}: {exc}")
        log.error("stage %-10s failed on the Dask cluster: %s: %s", job.name, what, cause)
        raise BuildError(f"stage {job.name}, {what}: {cause}. The served build is unchanged; "
                         "build again to resume after the finished stages.") from exc


def _failed_task(job: _Job, fut: distributed.Future) -> str:
    """Which task of the stage failed first: the fit, a partition (its rows), the combine.
    A task whose input failed fails too; the first failed one in that order is the cause."""
    if job.fit is not None and job.fit.status == "error":
        return "fit"
    for part, (i, lo, hi) in job.parts.items():
        if part.status == "error" or part is fut:
            return f"partition {i}/{len(job.parts)} (rows {lo}-{hi - 1})"
    return "combine"


def _runnable(pending: list[str], done: set[str], plan: list[str],
              depends: dict[str, tuple[str, ...]], chain: dict[str, float]) -> list[str]:
    """Stages whose planned upstreams are done, the longest remaining chain first."""
    ready = [n for n in pending if all(d in done or d not in plan for d in depends[n])]
    return sorted(ready, key=lambda n: -chain.get(n, 0.0))


def _result(fut: distributed.Future, name: str) -> dict:
    """The stage task's result; its own error re-raised, a worker lost too often a BuildError."""
    try:
        return fut.result()
    except distributed.KilledWorker:
        raise BuildError(f"stage {name}: the Dask worker running it died more often than "
                         "the scheduler allows (out of memory? see the worker's log). The "
                         "served build is unchanged; build again to resume after the "
                         "finished stages.") from None
    except Exception as exc:
        log.error("stage %-10s failed on the Dask cluster: %s: %s", name,
                  type(exc).__name__, exc)
        raise


def _worker_phase(phase: str, name: str, fit: dict | None, parts: list[dict] | None,
                  lo: int, hi: int, cache: str, cfg_json: str, catalog: list[str],
                  level: int) -> dict:
    """A task of a partitioned stage on a worker: its ``fit``, one ``part`` (rows lo:hi)
    or the ``combine`` that writes the stage's artifacts and removes the scratch files."""
    prepare_worker(level)
    _limit_numba_here()
    ctx = Context(Path(cache), PipelineConfig.model_validate_json(cfg_json),
                  [Path(p) for p in catalog])
    form, t0 = PARTITIONED[name], time.perf_counter()
    if phase == "fit":  # a scan gets the rows per partition in ``hi``
        out = form.scan(ctx, hi) if form.scan else form.fit(ctx)
    elif phase == "part":
        out = form.part(ctx, fit, lo, hi)
    else:
        form.combine(ctx, fit, parts)
        cleanup(ctx, name)
        out = {}
    return {**out, "seconds": round(time.perf_counter() - t0, 3),
            "worker": distributed.get_worker().address}


def _worker_stage(name: str, cache: str, cfg_json: str, catalog: list[str],
                  level: int) -> dict:
    """A stage task on a worker: a fresh context that reads its inputs from the cache."""
    prepare_worker(level)
    _limit_numba_here()
    ctx = Context(Path(cache), PipelineConfig.model_validate_json(cfg_json),
                  [Path(p) for p in catalog])
    return {"seconds": run_stage(name, ctx), "worker": distributed.get_worker().address}


def prepare_worker(level: int) -> None:
    """Thread settings and logging on a worker (idempotent; cheap on every task).

    The environment reaches libraries imported from now on; ``threadpoolctl`` limits the
    BLAS/OpenMP pools already loaded (a worker of a running cluster imported numpy at
    start, before these settings could reach it).
    """
    from threadpoolctl import threadpool_limits

    for var in THREAD_VARS:
        os.environ[var] = str(THREADS_PER_STAGE)
    threadpool_limits(THREADS_PER_STAGE)
    root = logging.getLogger()
    if not root.handlers:  # the stages' own log lines reach the worker's stderr
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [dask worker]: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
        # the client logs each stage's start and finish; the worker's copy would repeat it
        logging.getLogger("pipeline.build.engines.local").setLevel(logging.WARNING)


def _limit_numba_here() -> None:
    """numba's thread count is per calling thread: set it in the task's own thread."""
    import sys

    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(THREADS_PER_STAGE, numba.config.NUMBA_NUM_THREADS))


def thread_report() -> dict:
    """A worker's thread settings: the variables, each loaded BLAS/OpenMP pool, numba's."""
    import numba
    import numpy  # noqa: F401  (loads its BLAS, so the report covers it)
    from threadpoolctl import threadpool_info

    return {"env": {var: os.environ.get(var) for var in THREAD_VARS},
            "pools": {f"{p['internal_api']}:{Path(p['filepath']).name}": p["num_threads"]
                      for p in threadpool_info()},
            "numba": numba.config.NUMBA_NUM_THREADS, "pid": os.getpid()}


def _log_thread_settings(reports: dict[str, dict]) -> None:
    wrong = {w: r for w, r in reports.items()
             if set(r["env"].values()) != {str(THREADS_PER_STAGE)}
             or r["numba"] != THREADS_PER_STAGE
             or any(n != THREADS_PER_STAGE for n in r["pools"].values())}
    if not wrong:
        log.info("Dask workers: %d; %s = %d on each (checked on the workers)", len(reports),
                 "/".join(v.split("_")[0] for v in THREAD_VARS), THREADS_PER_STAGE)
    for worker, report in wrong.items():  # limited per task from now on, as far as possible
        log.warning("Dask worker %s was started with other thread settings (%s, pools %s, "
                    "numba %s); start workers with %s set to %d (docs/DASK.md)", worker,
                    report["env"], report["pools"], report["numba"], ", ".join(THREAD_VARS),
                    THREADS_PER_STAGE)

