"""Time and peak memory of the recommender's build stages on a built cache (a benchmark,
not a test).

    .venv/bin/python bench/recommend_stage_bench.py --cache /tmp/c200k --stage ranker

Reads the stage's inputs from the cache (tracks, memberships, features, embedding,
neighbour graph), then runs the stage's function in this process, as the build would, and
prints JSON: wall and CPU seconds, the process's peak RSS, and the RSS after reading the
inputs (so "peak - inputs" is what the stage itself adds beyond the catalog's tables).
Nothing is written to the cache.
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import store as io  # noqa: E402
from pipeline.config import PipelineConfig, stage_seed  # noqa: E402

STAGES = ("ranker", "rank_signals", "genre")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run(stage: str, cache: Path, cfg: PipelineConfig) -> tuple[dict, float]:
    """Run one stage function; (its report, RSS in MB once the inputs were read)."""
    from pipeline.recommend import build_genre, rank_signals, train_rankers

    tracks = io.read_parquet(cache / "tracks.parquet")
    mem = io.read_parquet(cache / "memberships.parquet")
    if stage == "genre":
        rss = _rss_mb()
        return build_genre(tracks, mem, stage_seed(cfg.seed, "genre"), evaluate=False).report, rss
    if stage == "ranker":
        x = io.read_npy(cache / "features.npy")
        names = io.read_json(cache / "feature_scaler.json")["names"]
        rss = _rss_mb()
        res = train_rankers(tracks, x, names, mem, cfg.embedding, cfg.ranker,
                            stage_seed(cfg.seed, "ranker"))
        return res.report, rss
    emb = io.read_npy(cache / "embedding.npy")
    exact = io.read_npy(cache / "neighbors_index.npy").size == 0
    graph = None if exact else io.read_npy(cache / "neighbors_idx.npy")
    rss = _rss_mb()
    _, _, layout = rank_signals(tracks, mem, emb, graph, cfg.ranker,
                                stage_seed(cfg.seed, "ranker"))
    return layout, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--stage", choices=STAGES, default="ranker")
    ap.add_argument("--config", help="JSON PipelineConfig overrides (default: the defaults)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cache = Path(args.cache)
    cfg = PipelineConfig.from_file(args.config) if args.config else PipelineConfig()
    t0, c0 = time.perf_counter(), time.process_time()
    report, inputs_rss = _run(args.stage, cache, cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"cache": str(cache), "stage": args.stage,
           "tracks": int(len(io.read_parquet(cache / "tracks.parquet", columns=["track_id"]))),
           "wall_seconds": round(time.perf_counter() - t0, 1),
           "cpu_seconds": round(time.process_time() - c0, 1),
           "peak_rss_mb": round(peak), "rss_after_inputs_mb": round(inputs_rss),
           "report": {k: v for k, v in report.items() if not isinstance(v, (dict, list))}}
    if "universe" in report:
        out["report"]["universe"] = report["universe"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
