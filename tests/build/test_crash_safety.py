"""Crash safety: a build killed with SIGKILL at any stage leaves the last complete build
serving (pipeline.load and the recommender see one whole build), and the next build
resumes the stages the killed one finished."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from catalog_fixtures import make_catalog, small_config
from pipeline import generations as gens
from pipeline import load
from pipeline.build import build
from pipeline.errors import CacheError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A built cache (catalog A) and a changed catalog B (a tenth of the tracks new)."""
    work = tmp_path_factory.mktemp("crash")
    a = make_catalog(400, seed=0)
    b = make_catalog(440, seed=0).iloc[40:]  # 40 tracks gone, 40 new ones
    a.to_csv(work / "a.csv", index=False)
    b.to_csv(work / "b.csv", index=False)
    (work / "cfg.json").write_text(small_config().model_dump_json())
    build([work / "a.csv"], work / "cache", small_config())
    return work


def _build_and_kill(work: Path, when: str) -> list[str]:
    """Rebuild on catalog B; SIGKILL the build (and so its workers) once its log shows
    ``when``. Returns the log lines seen."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "build", "--catalog", str(work / "b.csv"),
         "--cache", str(work / "cache"), "--config", str(work / "cfg.json"), "--workers", "2",
         "--refit"],  # B changes a fifth of A: without --refit it would update (test_update)
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if when in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the build ended before {when!r}:\n{''.join(lines)}"
    return lines


def _serves_catalog_a(work: Path) -> None:
    from pipeline.recommend import Recommender

    index = load(work / "cache")
    assert len(index.tracks) == len(index.coords) == len(index.labels) == len(index.embedding)
    md5 = index.manifest["catalog"][0]["md5"]
    assert md5 == json.loads((gens.resolve(work / "cache") / "manifest.json").read_text()
                             )["catalog"][0]["md5"]
    assert Path(index.manifest["catalog"][0]["path"]).name == "a.csv"
    rec = Recommender.load(work / "cache")
    out = rec.recommend(index.tracks["track_id"].iloc[0], k=5)
    assert len(out) == 5


@pytest.mark.parametrize("when", ["stage embedding  running", "stage projection running",
                                  "stage ranker     running", "stage clusters   done"])
def test_a_killed_build_leaves_the_last_build_serving(served, when):
    _build_and_kill(served, when)
    _serves_catalog_a(served)


def test_the_next_build_resumes_and_publishes(served):
    # the clusters stage starts only after the build recorded the projection as finished
    _build_and_kill(served, "stage clusters   running")
    unfinished = [g for g in gens.builds_dir(served / "cache").glob("g-*")
                  if not (g / "manifest.json").exists()]
    assert unfinished and json.loads((unfinished[-1] / "progress.json").read_text())
    metrics = build([served / "b.csv"], served / "cache", small_config(), refit=True)
    index = load(served / "cache")
    assert Path(index.manifest["catalog"][0]["path"]).name == "b.csv"
    assert metrics["catalog"]["tracks"] == len(index.tracks)
    recomputed = index.manifest["last_run"]["recomputed"]
    assert "projection" not in recomputed and "embedding" not in recomputed  # resumed
    assert "clusters" in recomputed
    assert index.manifest["stages"]["projection"]["built_at"].startswith("by an interrupted")


def test_a_damaged_artifact_is_refused_by_name(served, tmp_path):
    import shutil

    copy = tmp_path / "cache"
    shutil.copytree(gens.resolve(served / "cache"), copy)
    data = (copy / "map2d.npy").read_bytes()
    (copy / "map2d.npy").write_bytes(data[:-8] + bytes(8 * [0xFF]))
    with pytest.raises(CacheError, match=r"map2d\.npy.*damaged"):
        load(copy)
    (copy / "map2d.npy").write_bytes(data[:100])
    with pytest.raises(CacheError, match=r"map2d\.npy.*truncated"):
        load(copy)


def test_one_build_at_a_time(served):
    import threading

    held, release = threading.Event(), threading.Event()

    def other_build() -> None:   # the lock is re-entrant within a thread: hold it elsewhere
        with gens.build_lock(served / "cache"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=other_build)
    holder.start()
    try:
        assert held.wait(30)
        with pytest.raises(CacheError, match="another build of this cache is running"):
            with gens.build_lock(served / "cache", wait=False):
                pass
    finally:
        release.set()
        holder.join()


def test_a_plain_cache_becomes_the_first_generation(served, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(gens.resolve(served / "cache"), plain)
    (plain / "feedback.sqlite").write_bytes(b"votes")
    before = np.load(plain / "map2d.npy")
    catalog = Path(json.loads((plain / "manifest.json").read_text())["catalog"][0]["path"])
    build([catalog], plain, small_config())  # the same catalog: nothing to recompute
    assert plain.is_symlink() and np.array_equal(load(plain).coords, before)
    assert (gens.builds_dir(plain) / "feedback.sqlite").read_bytes() == b"votes"
