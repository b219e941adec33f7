"""Declarative build: the stages in order, the artifacts each writes, and caching.

A stage is recomputed only when its key changes: the key hashes the stage's code version,
its config section, the seed and the keys of the stages it reads (the ingest key also
hashes the catalog files' md5). Unchanged input and config: nothing is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import artifacts as io
from .config import PipelineConfig, stage_seed
from .sources import md5_of, read_catalog_file

log = logging.getLogger(__name__)
PIPELINE_VERSION = "1.0"
LIBRARIES = ["numpy", "pandas", "pyarrow", "scikit-learn", "torch", "umap-learn", "hdbscan",
             "lightgbm", "streamlit"]


@dataclass(frozen=True)
class Stage:
    name: str
    version: int                    # bump when the stage's code changes its output
    depends: tuple[str, ...]        # upstream stages whose artifacts it reads
    config: str | None              # PipelineConfig section it depends on
    outputs: tuple[str, ...]        # artifact file names under the cache directory
    run: Callable[["Context"], dict[str, Any]]
    # Optional: compile or load what the stage needs before its inputs exist (run early,
    # in the process that will later run the stage, when the build has spare workers).
    warmup: Callable[[PipelineConfig], None] | None = None


class Context:
    """What a stage runner sees: config, catalog files, and upstream artifacts by name."""

    def __init__(self, cache: Path, cfg: PipelineConfig, catalog: list[Path]):
        self.cache, self.cfg, self.catalog = cache, cfg, catalog
        self._memo: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._memo:
            self._memo[name] = load_artifact(self.cache / name)
        return self._memo[name]

    def put(self, name: str, value: Any) -> None:
        self._memo[name] = value

    def seed(self, stage: str) -> int:
        return stage_seed(self.cfg.seed, stage)


def load_artifact(path: Path) -> Any:
    suffix = "".join(path.suffixes[-1:])
    readers = {".parquet": io.read_parquet, ".npy": io.read_npy, ".json": io.read_json,
               ".csv": pd.read_csv, ".safetensors": io.read_weights, ".txt": io.read_text}
    return readers[suffix](path)


def save_artifact(path: Path, value: Any) -> None:
    writers = {".parquet": io.write_parquet, ".npy": io.write_npy, ".json": io.write_json,
               ".csv": io.write_csv, ".safetensors": io.write_weights, ".txt": io.write_text}
    writers[path.suffix](path, value)


# --- stage runners: read upstream artifacts, call the pure stage function, name outputs ---

def _run_ingest(ctx: Context) -> dict[str, Any]:
    from .ingest import ingest

    res = ingest([(read_catalog_file(p), p) for p in ctx.catalog])
    return {"tracks.parquet": res.tracks, "memberships.parquet": res.memberships,
            "rejects.csv": res.rejects, "ingest_report.json": res.report}


def _run_features(ctx: Context) -> dict[str, Any]:
    from .features import build_features

    x, scaler = build_features(ctx.get("tracks.parquet"), ctx.cfg.features)
    return {"features.npy": x, "feature_scaler.json": scaler.to_dict()}


def _run_embedding(ctx: Context) -> dict[str, Any]:
    from .embedding import build_embedding

    res = build_embedding(ctx.get("features.npy"), ctx.get("tracks.parquet"),
                          ctx.get("memberships.parquet"), ctx.cfg.embedding, ctx.seed("embedding"))
    return {"embedding.npy": res.embedding, "encoder.safetensors": res.weights,
            "embedding_report.json": res.report}


def _run_neighbors(ctx: Context) -> dict[str, Any]:
    from .neighbors import build_neighbors

    idx, sim = build_neighbors(ctx.get("embedding.npy"), ctx.cfg.neighbors.k)
    return {"neighbors_idx.npy": idx, "neighbors_sim.npy": sim}


def _run_projection(ctx: Context) -> dict[str, Any]:
    from .projection import build_projection

    graph = (ctx.get("neighbors_idx.npy"), ctx.get("neighbors_sim.npy"))
    map2d, dense = build_projection(ctx.get("embedding.npy"), ctx.cfg.projection,
                                    ctx.seed("projection"), graph)
    return {"map2d.npy": map2d, "cluster_space.npy": dense}


def _warm_projection(cfg: PipelineConfig) -> None:
    from .projection import warm_up

    warm_up(cfg.projection, cfg.neighbors.k, stage_seed(cfg.seed, "projection"))


def _run_clusters(ctx: Context) -> dict[str, Any]:
    from .clustering import build_clusters

    spaces = {"map2d": ctx.get("map2d.npy"), "embedding": ctx.get("embedding.npy")}
    if ctx.cfg.projection.cluster_dim:
        spaces["umap_nd"] = ctx.get("cluster_space.npy")
    res = build_clusters(spaces, ctx.cfg.clusters, ctx.seed("clusters"))
    table = pd.DataFrame({"track_id": ctx.get("tracks.parquet")["track_id"],
                          "cluster": res.labels, "probability": res.probability,
                          "nearest_cluster": res.nearest})
    return {"clusters.parquet": table, "membership.npy": res.membership,
            "cluster_report.json": res.report}


def _run_genre(ctx: Context) -> dict[str, Any]:
    from .rec_stages import run_genre

    return run_genre(ctx)


def _run_ranker(ctx: Context) -> dict[str, Any]:
    from .rec_stages import run_ranker

    return run_ranker(ctx)


STAGES: tuple[Stage, ...] = (
    Stage("ingest", 1, (), None,
          ("tracks.parquet", "memberships.parquet", "rejects.csv", "ingest_report.json"),
          _run_ingest),
    Stage("features", 1, ("ingest",), "features", ("features.npy", "feature_scaler.json"),
          _run_features),
    Stage("embedding", 1, ("ingest", "features"), "embedding",
          ("embedding.npy", "encoder.safetensors", "embedding_report.json"), _run_embedding),
    Stage("neighbors", 1, ("embedding",), "neighbors",
          ("neighbors_idx.npy", "neighbors_sim.npy"), _run_neighbors),
    Stage("projection", 1, ("embedding", "neighbors"), "projection",
          ("map2d.npy", "cluster_space.npy"), _run_projection, _warm_projection),
    Stage("clusters", 3, ("ingest", "embedding", "projection"), "clusters",
          ("clusters.parquet", "membership.npy", "cluster_report.json"), _run_clusters),
    Stage("genre", 2, ("ingest",), None,
          ("genre_model.txt", "genre_pred.parquet", "genre_report.json"),
          _run_genre),
    Stage("ranker", 2, ("ingest", "features", "embedding"), "ranker",
          ("ranker.txt", "ranker_content.txt", "rank_clusters.npy", "ranker_report.json"),
          _run_ranker),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}


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
    from .runner import execute

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
        **{k: io.read_json(cache / f"{k}_report.json") for k in ("genre", "ranker")
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
