"""Offline evaluation: the held-out-playlist protocol, the baselines the hybrid is compared
with, and the Markdown report (``python -m pipeline evaluate``)."""
from .protocol import (
                       METRICS,
                       EvalConfig,
                       check_rankings,
                       leakage_checks,
                       method_table,
                       per_seed_metrics,
                       protocol_split,
                       run_evaluation,
                       summarise,
                       validation_split,
)
from .report import render

__all__ = ["EvalConfig", "METRICS", "check_rankings", "leakage_checks", "method_table",
           "per_seed_metrics", "protocol_split", "render", "run_evaluation", "summarise",
           "validation_split"]
