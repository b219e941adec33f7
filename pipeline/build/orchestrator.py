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
from typing import Any, Callable

from pipeline import generations as gens
from pipeline import store as io
from pipeline.catalog import md5_of
from pipeline.config import PipelineConfig
from pipeline.store import LAYOUT, cache_location, load_artifact, save_artifact

from . import lineage
from .context import Context
from .engines import get_engine
from .stages import STAGE_BY_NAME, STAGES, Stage
from .update import decide, diff_tracks, update_artifacts

log = logging.getLogger(__name__)
PIPELINE_VERSION = "1.0"
CHANGES = LAYOUT["changes"]
OPTIONAL = ("cluster_names.json",)  # builds from before it existed can still be updated
# Stages an update recomputes whole (no fitted state to keep): a served build from before
# them, or with another config of theirs, is still updated, not refitted.
RECOMPUTED_ON_UPDATE = ("aggregates",)
LIBRARIES = ["numpy", "pandas", "pyarrow", "scikit-learn", "torch", "umap-learn", "hdbscan",
             "lightgbm", "streamlit", "dask", "distributed"]


def _key(stage: Stage, cfg: PipelineConfig, upstream: dict[str, str], catalog_md5: list[str],
         prior: dict[str, dict] | None = None) -> str:
    payload = {"stage": stage.name, "version": stage.version, "pipeline": PIPELINE_VERSION,
               "config": cfg.section(stage.config) if stage.config else {"seed": cfg.seed},
               "upstream": {d: upstream[d] for d in stage.depends},
               "catalog": catalog_md5 if stage.name == "ingest" else None}
    if prior and stage.name in prior:  # a warm refit also depends on the build it starts from
        payload["prior"] = prior[stage.name]
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
          workers: int = 1, engine: str = "local", scheduler: str | None = None,
          stage_done: Callable[[str], None] | None = None, refit: bool = False) -> dict:
    """Run every stage whose inputs or config changed; return the build's metrics.

    A changed catalog over a served build with the same config is an *update* when the
    change is small (:class:`pipeline.config.UpdateConfig`): the fitted models are applied
    to the new and edited tracks only and every kept track keeps its rows
    (:mod:`pipeline.build.update`). Otherwise, or with ``refit``, the stages are fitted
    again and the result is aligned to the previous build (:mod:`pipeline.build.lineage`).

    The build goes into a new generation and is published only when complete
    (:mod:`pipeline.generations`): a crash leaves the served build as it was, and the next
    build resumes the finished stages. One build per cache at a time (a second waits).

    Args:
        catalog: catalog files (one schema each; several files are concatenated).
        cache: the cache path (a link to the served generation), or a ``file://`` URL.
        progress: called as (stage, index, n_stages, cached) as each stage is reused or starts.
        workers: processes for independent stages (1: all in this process, in order).
            The artifacts are the same for any number of workers.
        engine: "local" (this machine) or "dask" (:mod:`pipeline.build.engines`); the
            artifacts are the same. scheduler: a running Dask cluster's address.
        stage_done: called with a stage's name once its outputs are on disk.
        refit: fit every stage after ingest again, even when an update would do.
    """
    cfg = cfg or PipelineConfig()
    execute = get_engine(engine, scheduler)  # a wrong engine or address fails before any work
    cache = cache_location(cache)  # a path or a file:// URL (a remote one: CacheError)
    with gens.build_lock(cache):
        gens.adopt_plain_cache(cache)
        return _build_locked(catalog, Path(cache), cfg, force, progress, workers,
                             (engine, execute), stage_done, refit)


def _build_locked(catalog: list[Path], cache: Path, cfg: PipelineConfig, force: bool,
                  progress: Callable[[str, int, int, bool], None] | None,
                  workers: int, engine: tuple[str, Callable[..., dict]],
                  stage_done: Callable[[str], None] | None, refit: bool = False) -> dict:
    t_start = time.perf_counter()
    files = [{"path": str(p), "md5": md5_of(p), "bytes": p.stat().st_size} for p in catalog]
    served = gens.resolve(cache) if cache.is_symlink() else None
    old_manifest = _read_manifest(served) if served else {}
    old = old_manifest.get("stages", {})
    keys = _stage_keys(cfg, [f["md5"] for f in files])
    plan = _plan(served, keys, old, force) if served else [s.name for s in STAGES]
    if refit and served:  # ingest only parses: it is refitted only if its input changed
        plan = [s.name for s in STAGES if s.name != "ingest" or "ingest" in plan]
    if not plan and all((served / f).exists() for f in ("metrics.json", *CHANGES)):
        _report_cached(progress)
        manifest = _read_manifest(served)
        manifest["last_run"] = {"recomputed": [], "workers": workers,
                                "seconds": round(time.perf_counter() - t_start, 2)}
        io.write_json(served / "manifest.json", manifest)  # one file, replaced atomically
        return io.read_json(served / "metrics.json")
    work, finished = gens.working_generation(cache)
    reason = None
    if served and not force and not refit and "ingest" in plan and cfg.update.enabled:
        outcome = _try_update(catalog, files, cache, served, work, finished, cfg, keys,
                              old_manifest, progress, stage_done, t_start, engine)
        if isinstance(outcome, dict):
            return outcome
        reason = outcome
        log.info("build: %s", reason)
    elif refit and served:
        reason = "a refit was asked for (--refit)"
    if reason and (work / gens.PROGRESS).exists():  # the update attempt ran ingest
        finished = json.loads((work / gens.PROGRESS).read_text())
    # A refit starts from the served build (force: a cold build); the keys it records for
    # its stages include that build's checksums, so a resumed refit reuses a finished
    # stage only if it started from the same build.
    prior = lineage.link_prior(served, work, cfg) if served and not force else None
    run_keys = _stage_keys(cfg, [f["md5"] for f in files], prior)
    for stage in STAGES:  # reuse: finished in an interrupted build, or unchanged since
        if stage.name not in plan:
            gens.link_outputs(served, work, list(stage.outputs))
            gens.record_stage(work, stage.name, keys[stage.name])
        elif (finished.get(stage.name) == run_keys[stage.name] and not force
              and not set(stage.depends) & set(plan)
              and all((work / o).exists() for o in stage.outputs)):
            plan.remove(stage.name)
            log.info("stage %-10s finished by an interrupted build: reused", stage.name)
    _report_cached(progress, skip=plan)
    position = {s.name: i for i, s in enumerate(STAGES)}

    def on_start(name: str) -> None:
        if progress:
            progress(name, position[name], len(STAGES), False)

    def on_done(name: str) -> None:
        gens.record_stage(work, name, run_keys[name])
        if stage_done:
            stage_done(name)

    ctx = Context(work, cfg, catalog)  # an engine sees the working generation only
    seconds = engine[1](plan, {s.name: s.depends for s in STAGES}, ctx, workers, on_start,
                      on_done=on_done)
    stages_meta = {s.name: ({"key": keys[s.name], "seconds": seconds[s.name],
                             "outputs": list(s.outputs),
                             "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                             **_warm_meta(s.name, prior, served)}
                            if s.name in seconds else _kept_meta(s, keys, old))
                   for s in STAGES}
    prev = lineage.read_previous(served)
    record = lineage.finalize(work, served, prev, "fit" if prev is None else "refit", cfg,
                              reason)
    lineage.drop_prior(work)
    return _publish(cache, work, cfg, files, stages_meta, record, {
        "recomputed": plan, "workers": workers, "engine": engine[0]}, t_start)


def _publish(cache: Path, work: Path, cfg: PipelineConfig, files: list[dict],
             stages_meta: dict, record: dict, last_run: dict, t_start: float) -> dict:
    """Write metrics, config and manifest (last: it marks the generation complete) and
    serve the generation; returns the metrics."""
    manifest = {"pipeline_version": PIPELINE_VERSION, "catalog": files,
                "config": cfg.model_dump(), "libraries": _library_versions(),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "stages": stages_meta,
                "lineage": record, "last_run": {
                    **last_run, "mode": record["mode"],
                    "seconds": round(time.perf_counter() - t_start, 2)}}
    metrics = assemble_metrics(work, manifest)
    metrics["changes"] = {k: v for k, v in io.read_json(work / "changes.json").items()
                          if k not in ("clusters",)}
    io.write_json(work / "metrics.json", metrics)
    io.write_json(work / "config.json", cfg.model_dump())
    # stage outputs only: config.json is the cache's editable configuration (a changed
    # config makes stages stale, it does not damage the build)
    manifest["artifacts"] = {name: gens.checksum(work / name) for name in
                             [o for s in STAGES for o in s.outputs] + list(CHANGES)}
    io.write_json(work / "manifest.json", manifest)  # last: marks the generation complete
    gens.publish(cache, work)
    return metrics


def _try_update(catalog: list[Path], files: list[dict], cache: Path, served: Path, work: Path,
                finished: dict[str, str], cfg: PipelineConfig, keys: dict[str, str],
                old_manifest: dict, progress: Callable[[str, int, int, bool], None] | None,
                stage_done: Callable[[str], None] | None, t_start: float,
                engine: tuple[str, Callable[..., dict]]) -> dict | str:
    """Update the served build if the catalog change allows it: the published metrics,
    else the reason to refit. Ingest runs on the build's engine; the update itself (a few
    seconds of row-wise work) runs here."""
    old = old_manifest.get("stages", {})
    same = _stage_keys(cfg, [f["md5"] for f in old_manifest.get("catalog", [])])
    changed = [s.name for s in STAGES if old.get(s.name, {}).get("key") != same[s.name]
               and s.name not in RECOMPUTED_ON_UPDATE]
    if changed:
        return (f"the config or code of {', '.join(changed)} changed since the served "
                "build: refitting")
    missing = [o for s in STAGES for o in s.outputs if o not in OPTIONAL
               and s.name not in RECOMPUTED_ON_UPDATE and not (served / o).exists()]
    if missing:
        return f"the served build lacks {', '.join(missing[:3])}: refitting"
    ctx = Context(work, cfg, catalog)
    t0 = time.perf_counter()
    if progress:
        progress("ingest", 0, len(STAGES), False)
    if not (finished.get("ingest") == keys["ingest"]
            and all((work / o).exists() for o in STAGE_BY_NAME["ingest"].outputs)):
        engine[1](["ingest"], {s.name: s.depends for s in STAGES}, ctx, 1, lambda name: None,
                  on_done=lambda name: gens.record_stage(work, name, keys[name]))
    seconds = {"ingest": round(time.perf_counter() - t0, 2)}
    if stage_done:
        stage_done("ingest")
    prev = lineage.read_previous(served)
    tracks = ctx.get("tracks.parquet")
    diff = diff_tracks(prev["tracks"], tracks)
    decision = decide(diff, lineage.transform_placed(prev), cfg)
    if not decision.update:
        return decision.reason
    log.info("build: %s (%s)", decision.reason, diff.counts())
    position = {s.name: i for i, s in enumerate(STAGES)}
    steps = update_artifacts(_reader(served), tracks, ctx.get("memberships.parquet"), diff, cfg)
    for stage in STAGES[1:]:  # update_artifacts yields the stages after ingest in order
        t0 = time.perf_counter()
        if progress:
            progress(stage.name, position[stage.name], len(STAGES), False)
        name, outputs = next(steps)
        for artifact in STAGE_BY_NAME[name].outputs:
            if artifact in outputs:
                save_artifact(work / artifact, outputs[artifact])
            else:
                gens.link_outputs(served, work, [artifact])
        # not a fitted stage's key: a full build never resumes from an update's outputs
        gens.record_stage(work, name, f"update:{keys[name]}")
        seconds[name] = round(time.perf_counter() - t0, 2)
        if stage_done:
            stage_done(name)
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    stages_meta = {s.name: {"key": keys[s.name], "seconds": seconds[s.name],
                            "outputs": list(s.outputs), "built_at": now,
                            **({"mode": "update"} if s.name != "ingest" else {})}
                   for s in STAGES}
    record = lineage.finalize(work, served, prev, "update", cfg, decision.reason)
    record["changed_share"] = round(decision.changed_share, 4)
    return _publish(cache, work, cfg, files, stages_meta, record,
                    {"recomputed": ["ingest"], "updated": list(seconds)[1:], "workers": 1,
                     "engine": "local"}, t_start)


def _warm_meta(name: str, prior: dict[str, dict] | None, served: Path | None) -> dict:
    """The manifest's record of a stage that started from the previous build (its key
    is the plain key: an unchanged rebuild after a refit recomputes nothing)."""
    if not prior or name not in prior or served is None:
        return {}
    return {"warm_start": {"generation": served.name, **prior[name]}}


def _reader(served: Path) -> Callable[[str], Any]:
    """Artifacts of the served build by name, read once; None for a missing file."""
    memo: dict[str, Any] = {}

    def read(name: str) -> Any:
        if name not in memo:
            path = served / name
            memo[name] = load_artifact(path) if path.exists() else None
        return memo[name]

    return read


def _kept_meta(stage: Stage, keys: dict[str, str], old: dict[str, dict]) -> dict:
    """Manifest entry of a stage not run now: the served build's, or (finished by an
    interrupted build) a new one."""
    if old.get(stage.name, {}).get("key") == keys[stage.name]:
        return old[stage.name]
    return {"key": keys[stage.name], "seconds": 0.0, "outputs": list(stage.outputs),
            "built_at": "by an interrupted build, resumed"}


def _report_cached(progress: Callable[[str, int, int, bool], None] | None,
                   skip: list[str] = ()) -> None:
    for i, stage in enumerate(STAGES):
        if stage.name not in skip:
            log.info("stage %-10s cached", stage.name)
            if progress:
                progress(stage.name, i, len(STAGES), True)


def _stage_keys(cfg: PipelineConfig, catalog_md5: list[str],
                prior: dict[str, dict] | None = None) -> dict[str, str]:
    """Each stage's key; with ``prior`` (:func:`lineage.prior_digest`), the keys of a warm
    refit: the warm-started stages and every stage downstream of them differ."""
    keys: dict[str, str] = {}
    for stage in STAGES:
        keys[stage.name] = _key(stage, cfg, keys, catalog_md5, prior)
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
    path = gens.resolve(cache) / "manifest.json"
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
