"""How a build runs: the stage table, the orchestrator that plans and records a build, and
the engines that execute the plan.

``build(catalog_files, cache_dir, cfg)`` builds or refreshes a cache; ``is_stale`` says
which stages a build would recompute.
"""
from .context import Context
from .orchestrator import PIPELINE_VERSION, assemble_metrics, build, is_stale
from .remote import mirror_from, publish_to
from .stages import STAGE_BY_NAME, STAGES, Stage

__all__ = ["Context", "PIPELINE_VERSION", "STAGES", "STAGE_BY_NAME", "Stage", "assemble_metrics",
           "build", "is_stale", "mirror_from", "publish_to"]
