"""Crash-safe caches: every build writes a new generation, one symlink switch publishes it.

A cache path the user names (``cache/``) is a symbolic link to the generation being
served, ``.cache.builds/g-<time>-<pid>/``, beside it. A build hard-links the artifacts of
unchanged stages from the served generation into a new one, writes the rest there, and
only when every stage, the metrics and the manifest are on disk replaces the link (an
atomic ``rename``). A build killed at any moment (kill -9, power loss, out of memory)
leaves the served generation untouched, and the next build resumes in the unfinished one:
its finished stages are listed in ``progress.json`` with their keys.

Readers resolve the link once (:func:`resolve`) and read every artifact from that
generation, so a load never mixes two builds. State that outlives builds (feedback votes,
the build lock) lives in the builds folder (:func:`state_dir`), not in a generation.
Each generation's manifest records a CRC-32 and the size of every artifact; :func:`verify`
refuses a truncated or damaged file by name.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from pathlib import Path

from pipeline.errors import CacheError
from pipeline.locks import CacheBusy, Holder, build_lock, builds_dir, lock_holder, lock_path
from pipeline.store import read_json, save_artifact, write_json

__all__ = ["CacheBusy", "Holder", "build_lock", "builds_dir", "lock_holder", "lock_path", "checksum", "publish", "publish_update", "record_checksums",
           "resolve", "state_dir", "verify", "working_generation"]
PROGRESS = "progress.json"
_KEEP_PUBLISHED = 2  # the served generation and the one before (a session may still read it)


def state_dir(cache: Path) -> Path:
    """Where state that outlives a build goes (feedback votes): the builds folder of a
    generational cache, the cache itself for a plain directory (older builds, tests)."""
    cache = Path(cache).absolute()
    if cache.is_symlink() or builds_dir(cache).is_dir():
        return builds_dir(cache)
    if cache.parent.name.endswith(".builds") and cache.name.startswith("g-"):
        return cache.parent  # given a generation itself (a resolved path)
    return cache


def resolve(cache: Path) -> Path:
    """The generation a reader should read everything from (pinned for one load)."""
    cache = Path(cache)
    return cache.resolve() if cache.is_symlink() else cache


def adopt_plain_cache(cache: Path) -> None:
    """Turn a plain cache directory (built before generations) into the first generation:
    it is moved into the builds folder and the cache path becomes a link to it."""
    cache = Path(cache).absolute()
    if cache.is_symlink() or not cache.is_dir():
        return
    if not any(cache.iterdir()):
        cache.rmdir()
        return
    if not (cache / "manifest.json").exists():
        raise CacheError(f"{cache} is a folder that holds no catalog build (no manifest.json); "
                         "choose an empty or new --cache path, or remove that folder.")
    root = builds_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    gen = root / f"g-{time.strftime('%Y%m%dT%H%M%S')}-adopted"
    for state in ("feedback.sqlite", "feedback.sqlite-wal", "feedback.sqlite-shm"):
        if (cache / state).exists():
            os.replace(cache / state, root / state)
    os.replace(cache, gen)
    _point(cache, gen)


def working_generation(cache: Path) -> tuple[Path, dict[str, str]]:
    """The generation to build into and the stages already finished there ({stage: key}):
    the newest unfinished one after the served generation (a build that was killed),
    else a new empty one."""
    root = builds_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    served = resolve(cache) if Path(cache).is_symlink() else None
    for gen in sorted(root.glob("g-*"), reverse=True):
        if served is not None and gen.name <= served.name:
            break
        if gen.is_dir() and not (gen / "manifest.json").exists():
            try:
                return gen, json.loads((gen / PROGRESS).read_text())
            except (OSError, json.JSONDecodeError):
                return gen, {}
    return new_generation(cache), {}


def new_generation(cache: Path) -> Path:
    """A new empty generation folder (names sort by time: the newest is the last)."""
    root = builds_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for i in range(1000):
        gen = root / f"g-{stamp}-{os.getpid()}-{i:03d}"
        if not gen.exists():
            gen.mkdir()
            return gen
    raise CacheError(f"{root}: cannot create a new build folder")


def record_stage(gen: Path, stage: str, key: str) -> None:
    """Mark ``stage`` finished in ``gen`` (after all its outputs are on disk)."""
    path = gen / PROGRESS
    done = json.loads(path.read_text()) if path.exists() else {}
    done[stage] = key
    tmp = gen / f".{PROGRESS}.{os.getpid()}"
    tmp.write_text(json.dumps(done, indent=1, sort_keys=True))
    _fsync_file(tmp)
    os.replace(tmp, path)


def link_outputs(src: Path, dst: Path, names: list[str]) -> None:
    """Hard-link unchanged artifacts into the new generation (a copy across devices).
    Artifacts are never modified in place (writes replace them), so sharing is safe."""
    for name in names:
        target = dst / name
        target.unlink(missing_ok=True)
        try:
            os.link(src / name, target)
        except OSError:
            shutil.copy2(src / name, target)


def publish(cache: Path, gen: Path) -> None:
    """Serve ``gen``: fsync it, then atomically repoint the cache link; drop generations
    older than the previous one."""
    for f in gen.iterdir():
        if f.is_file():
            _fsync_file(f)
    _fsync_dir(gen)
    _point(Path(cache).absolute(), gen)
    _prune(builds_dir(cache), gen)


def publish_update(cache: Path, artifacts: dict[str, object], note: str) -> Path:
    """Serve a copy of the current build with some artifacts replaced (e.g. a ranker
    retrained from feedback), crash-safe like a build; returns the new generation."""
    with build_lock(cache):
        adopt_plain_cache(cache)
        served = resolve(Path(cache))
        manifest = read_json(served / "manifest.json")
        work = new_generation(cache)  # not an interrupted build's folder
        link_outputs(served, work, [f.name for f in served.iterdir() if f.is_file()
                                    and f.name not in ("manifest.json", PROGRESS)])
        for name, value in artifacts.items():
            save_artifact(work / name, value)
            manifest.setdefault("artifacts", {})[name] = checksum(work / name)
        manifest.setdefault("updates", []).append(
            {"note": note, "artifacts": sorted(artifacts),
             "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        write_json(work / "manifest.json", manifest)
        publish(Path(cache), work)
        return work


def _point(link: Path, gen: Path) -> None:
    tmp = link.parent / f".{link.name}.link-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(gen, link.parent), tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def _prune(root: Path, served: Path) -> None:
    published = sorted(g for g in root.glob("g-*") if (g / "manifest.json").exists()
                       and g.name <= served.name)
    for old in published[:-_KEEP_PUBLISHED]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob("g-*"):  # unfinished builds older than the served one
        if stale.name < served.name and not (stale / "manifest.json").exists():
            shutil.rmtree(stale, ignore_errors=True)


def checksum(path: Path) -> dict:
    """{"bytes", "crc32"} of a file (CRC-32: catches truncation and damage at ~1 GB/s;
    the manifest is not signed, so a cryptographic hash would not stop tampering)."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return {"bytes": path.stat().st_size, "crc32": f"{crc:08x}"}


def record_checksums(gen: Path, names: list[str]) -> None:
    """Record the current size and CRC-32 of ``names`` in ``gen``'s manifest, after a
    deliberate change of those artifacts (a migration, a test that plants data)."""
    manifest = read_json(gen / "manifest.json")
    manifest.setdefault("artifacts", {}).update({n: checksum(gen / n) for n in names})
    write_json(gen / "manifest.json", manifest)


def verify(gen: Path, manifest: dict, names: list[str] | None = None) -> None:
    """Check artifacts against the manifest's checksums.

    Raises:
        CacheError: naming the first file that is missing, truncated or damaged.
    """
    recorded = manifest.get("artifacts", {})
    for name in names or sorted(recorded):
        path, want = gen / name, recorded.get(name)
        if want is None:
            continue  # built before checksums were recorded
        fix = (f"Rebuild with `python -m pipeline build --force --cache {_link_of(gen)}` "
               "or restore the file.")
        if not path.exists():
            raise CacheError(f"{path}: artifact is missing. {fix}")
        size = path.stat().st_size
        if size != want["bytes"]:
            raise CacheError(f"{path}: artifact is {size} bytes, the build wrote "
                             f"{want['bytes']} (truncated or replaced). {fix}")
        if checksum(path)["crc32"] != want["crc32"]:
            raise CacheError(f"{path}: artifact is damaged (checksum differs from the "
                             f"build's). {fix}")


def _link_of(gen: Path) -> Path:
    """The cache path that serves generation ``gen`` (``gen`` itself for a plain cache)."""
    root = gen.parent
    if root.name.startswith(".") and root.name.endswith(".builds"):
        return root.parent / root.name[1:-len(".builds")]
    return gen


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
