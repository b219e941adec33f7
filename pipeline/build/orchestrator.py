"""Which stages a build runs, and the build's record: keys, plan, manifest, metrics.

The stage table itself (what each stage reads and writes) is :mod:`pipeline.build.stages`;
an engine (:mod:`pipeline.build.engines`) runs the plan.

A stage is recomputed only when its key changes: the key hashes the stage's code version,
its config section, the seed and the keys of the stages it reads (the ingest key also
hashes the catalog files' md5). Unchanged input and config: nothing is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

from pipeline import store as io
from pipeline.catalog import md5_of
from pipeline.config import PipelineConfig

from .context import Context
from .engines import execute
from .stages import STAGES, Stage

log = logging.getLogger(__name__)
PIPELINE_VERSION = "1.0"
LIBRARIES = ["numpy", "pandas", "pyarrow", "scikit-learn", "torch", "umap-learn", "hdbscan",
             "lightgbm", "streamlit"]


def _key(stage: Stage, cfg: PipelineConfig, upstream: dict[str, str], catalog_md5: list[str]) -> str:
    payload = {"stage": stage.name, "version": stage.version, "pipeline": PIPELINE_VERSION,
               "config": cfg.section(stage.config) if stage.config else {"seed": cfg.seed},
               "upstream": {d: upstream[d] for d in stage.depends},
               "catalog": catalog_md5 if stage.name == "ingest" else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _library_versions() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def build(catalog: list[Path], cache: Path, cfg: PipelineConfig | None = None,
          force: bool = False,
          progress: Callable[[str, int, int, bool], None] | None = None,
          workers: int = 1) -> dict:
    """Run every stage whose inputs or config changed; return the build's metrics.

    Args:
        catalog: catalog files (one schema each; several files are concatenated).
        cache: the artifact directory.
        progress: called as (stage, index, n_stages, cached) as each stage is reused or starts.
        workers: processes for independent stages (1: all in this process, in order).
            The artifacts are the same for any number of workers.
    """
    cfg = cfg or PipelineConfig()
    cache.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    files = [{"path": str(p), "md5": md5_of(p), "bytes": p.stat().st_size} for p in catalog]
    old = _read_manifest(cache).get("stages", {})
    keys = _stage_keys(cfg, [f["md5"] for f in files])
    plan = _plan(cache, keys, old, force)
    position = {s.name: i for i, s in enumerate(STAGES)}
    for stage in STAGES:
        if stage.name not in plan:
            log.info("stage %-10s cached", stage.name)
            if progress:
                progress(stage.name, position[stage.name], len(STAGES), True)

    def on_start(name: str) -> None:
        if progress:
            progress(name, position[name], len(STAGES), False)

    ctx = Context(cache, cfg, catalog)
    seconds = execute(plan, {s.name: s.depends for s in STAGES}, ctx, workers, on_start)
    stages_meta = {s.name: ({"key": keys[s.name], "seconds": seconds[s.name],
                             "outputs": list(s.outputs),
                             "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
                            if s.name in seconds else old[s.name]) for s in STAGES}
    manifest = {"pipeline_version": PIPELINE_VERSION, "catalog": files,
                "config": cfg.model_dump(), "libraries": _library_versions(),
                "stages": stages_meta, "last_run": {
                    "recomputed": plan, "workers": workers,
                    "seconds": round(time.perf_counter() - t_start, 2)}}
    if plan or not (cache / "metrics.json").exists():
        metrics = assemble_metrics(cache, manifest)
        io.write_json(cache / "metrics.json", metrics)
    io.write_json(cache / "config.json", cfg.model_dump())
    io.write_json(cache / "manifest.json", manifest)
    return io.read_json(cache / "metrics.json")


def _stage_keys(cfg: PipelineConfig, catalog_md5: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for stage in STAGES:
        keys[stage.name] = _key(stage, cfg, keys, catalog_md5)
    return keys


def _plan(cache: Path, keys: dict[str, str], old: dict[str, dict], force: bool) -> list[str]:
    """Stages to run, in order: changed key, missing output, or a rerun upstream."""
    plan: list[str] = []
    for stage in STAGES:
        current = (not force and old.get(stage.name, {}).get("key") == keys[stage.name]
                   and not set(stage.depends) & set(plan)
                   and all((cache / o).exists() for o in stage.outputs))
        if not current:
            plan.append(stage.name)
    return plan


def _read_manifest(cache: Path) -> dict:
    path = cache / "manifest.json"
    try:
        return io.read_json(path) if path.exists() else {}
    except (json.JSONDecodeError, OSError):
        log.warning("%s is unreadable; rebuilding everything", path)
        return {}


def assemble_metrics(cache: Path, manifest: dict) -> dict:
    """metrics.json from the stage reports and the manifest's per-stage timings."""
    ing = io.read_json(cache / "ingest_report.json")
    emb = io.read_json(cache / "embedding_report.json")
    clu = io.read_json(cache / "cluster_report.json")
    return {
        "catalog": ing,
        "embedding": emb,
        "clusters": clu,
        **{k: io.read_json(cache / f"{k}_report.json") for k in ("neighbors", "genre", "ranker")
           if (cache / f"{k}_report.json").exists()},
        "timings_s": {n: m["seconds"] for n, m in manifest["stages"].items()},
        "build": {"pipeline_version": manifest["pipeline_version"],
                  "catalog_md5": [f["md5"] for f in manifest["catalog"]],
                  "seed": manifest["config"]["seed"]},
    }


def is_stale(cache: Path, catalog: list[Path] | None = None,
             cfg: PipelineConfig | None = None) -> list[str]:
    """Stages that a build would recompute (empty list: the cache is current)."""
    man = _read_manifest(cache)
    if not man:
        return [s.name for s in STAGES]
    cfg = cfg or PipelineConfig.model_validate(man["config"])
    md5s = ([md5_of(p) for p in catalog] if catalog else [f["md5"] for f in man["catalog"]])
    return _plan(cache, _stage_keys(cfg, md5s), man.get("stages", {}), force=False)
