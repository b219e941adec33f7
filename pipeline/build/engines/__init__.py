"""Engines run a build plan; they decide *how* (order, processes, machines), never *what*.

``local``: this process, or a pool of spawned worker processes on this machine.
``dask``: tasks on a Dask cluster, a LocalCluster started for the build or a running one
(imported only when chosen: ``distributed`` takes a while to import).
Every engine is called as ``execute(plan, depends, ctx, workers, on_start, on_done)``.
"""
from __future__ import annotations

import functools
from typing import Callable

from pipeline.build.engines.local import execute

ENGINES = ("local", "dask")


def get_engine(name: str = "local", scheduler: str | None = None) -> Callable[..., dict]:
    """The ``execute`` function of engine ``name``.

    Args:
        name: "local" or "dask".
        scheduler: a running Dask scheduler's address (dask only; default
            ``$DASK_SCHEDULER_ADDRESS``, else a LocalCluster).
    Raises:
        ValueError: an unknown engine, or a scheduler address for the local engine.
    """
    if name not in ENGINES:
        raise ValueError(f"The 'engine' parameter of build must be one of {list(ENGINES)}. "
                         f"Got {name!r} instead.")
    if name == "local":
        if scheduler:
            raise ValueError(f"a Dask scheduler address ({scheduler}) needs the dask engine: "
                             "pass --engine dask, or drop --scheduler.")
        return execute
    from pipeline.build.engines.dask import execute as dask_execute

    return functools.partial(dask_execute, scheduler=scheduler)


__all__ = ["ENGINES", "execute", "get_engine"]
