"""Engines run a build plan; they decide *how* (order, processes), never *what*.

``local``: this process, or a pool of spawned worker processes on this machine.
"""
from pipeline.build.engines.local import execute

__all__ = ["execute"]
