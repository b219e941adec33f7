"""Precomputed aggregates (docs/AGGREGATES.md): the aggregates stage's time on a built
cache, and the Trends / Cluster browser pages' server-side render times reading them vs
computing them live.

    .venv/bin/python bench/aggregates_bench.py --cache DIR [--repeat 3] [--out result.json]

- ``stage``: the aggregates stage run whole on ``DIR`` (its manifest's config), wall and
  CPU seconds, outputs written to a scratch copy (``DIR`` is not modified);
- ``render``: each page run by Streamlit's AppTest in a fresh Python process (nothing
  cached): the script's first run (which also loads the catalog, the same in both modes)
  and then each Trends view and the Cluster browser's comparison opened once, seconds per
  run (the Over time view split by cluster, its IQR band, then the other views), with the
  build's aggregates (``precomputed``) and on a copy of the cache without
  them (``live``: what a cache built before the stage does). Medians over ``--repeat``.

Server-side times only (no browser: bench/dashboard_bench.py measures what a user sees).
Measured on whatever load the machine carries: say so when quoting them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (widget kind, key, value) set one after another; each step's run is timed
TRENDS_STEPS = [("selectbox", "trend_by", "cluster"), ("radio", "trend_band", "iqr"),
                ("selectbox", "trend_by", "none"),
                *[("radio", "trends_view", v) for v in
                  ("Features together", "Cluster shares", "Distributions", "Correlations",
                   "Key & mode", "Popularity")]]

_RENDER = r"""
import json, sys, time
from streamlit.testing.v1 import AppTest
page, views = sys.argv[1], json.loads(sys.argv[2])
at = AppTest.from_file(f"dashboard/views/{page}.py", default_timeout=600)
out = {}
t = time.perf_counter(); at.run(); out["first run"] = time.perf_counter() - t
assert not at.exception, at.exception
for kind, key, value in views:
    t = time.perf_counter(); getattr(at, kind)(key=key).set_value(value).run()
    out[f"{key}={value}"] = time.perf_counter() - t
    assert not at.exception, at.exception
print(json.dumps(out))
"""


def stage_time(cache: Path) -> dict:
    """The aggregates stage, whole, on a linked copy of the cache's inputs."""
    from pipeline import generations as gens
    from pipeline.build import STAGE_BY_NAME, Context
    from pipeline.config import PipelineConfig
    from pipeline.store import read_json

    served = gens.resolve(cache)
    cfg = PipelineConfig.model_validate(read_json(served / "manifest.json")["config"])
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("tracks.parquet", "clusters.parquet"):
            os.link(served / name, Path(tmp) / name)
        c0, t0 = time.process_time(), time.perf_counter()
        out = STAGE_BY_NAME["aggregates"].run(Context(Path(tmp), cfg, []))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "rows": out["aggregates_report.json"]["rows"],
            "chunks": out["aggregates_report.json"]["chunks"]}


def without_aggregates(cache: Path, where: Path) -> Path:
    """A plain-folder copy of the served build (hard links) without the aggregates."""
    from pipeline import generations as gens
    from pipeline.store import LAYOUT

    dst = where / "live_cache"
    shutil.copytree(gens.resolve(cache), dst, copy_function=os.link)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["stages"].pop("aggregates", None)
    for name in LAYOUT["aggregates"]:
        (dst / name).unlink(missing_ok=True)
        manifest["artifacts"].pop(name, None)
    (dst / "manifest.json").unlink()  # a link to the build's own: replaced, not written
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def render(cache: Path, page: str, views: list[tuple[str, str, str]]) -> dict:
    proc = subprocess.run([sys.executable, "-c", _RENDER, page, json.dumps(views)], cwd=ROOT,
                          env={**os.environ, "CACHE_DIR": str(cache)}, capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    result: dict = {"cache": str(args.cache), "stage": stage_time(args.cache), "render": {}}
    pages = {"trends": TRENDS_STEPS, "clusters": [("radio", "cb_view", "Compare two")]}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {"precomputed": args.cache, "live": without_aggregates(args.cache, Path(tmp))}
        for page, views in pages.items():
            for mode, cache in caches.items():
                runs = [render(cache, page, views) for _ in range(args.repeat)]
                result["render"][f"{page} ({mode})"] = {
                    k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
