"""A finished build in an object store: published from a local cache, mirrored to another.

Builds write and serve a cache on a local or shared filesystem (generations, an atomic link
switch, ``flock``: none of which an object store has). To share a build through ``s3://``,
``gs://`` or any fsspec URL:

- :func:`publish_to` copies the served generation of a local cache to
  ``URL/<generation>/`` (checked against its manifest first), then writes ``URL/CURRENT``
  naming it, last: an object appears whole once written, so a reader that follows
  ``CURRENT`` never sees a half-copied build.
- :func:`mirror_from` downloads the generation ``URL/CURRENT`` names into a new generation
  of a local cache, verifies every artifact against the manifest's checksums, and serves
  it by the local link switch (:func:`pipeline.generations.publish`); the dashboard and
  ``pipeline.load`` then read that local cache.

The remote scheme's fsspec package (``s3fs``, ``gcsfs``) and credentials (the environment,
an instance role) are the deployer's; the project pins neither.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from pipeline import generations as gens
from pipeline.errors import CacheError
from pipeline.store import cache_location, read_json, write_json

log = logging.getLogger(__name__)
CURRENT = "CURRENT"
_NAME = re.compile(r"^g-[A-Za-z0-9._-]+$")  # a generation's folder name


def _fs(url: str):
    """(filesystem, root path) of an fsspec URL; a clear error when its package is missing."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise CacheError(f"{url}: cannot open this store ({exc}). Install the fsspec "
                         "package for its scheme (e.g. s3fs for s3://) or check the URL.") from None
    return fs, root.rstrip("/")


def _store_error(url: str, doing: str, exc: OSError) -> CacheError:
    return CacheError(f"{url}: cannot {doing} this store ({type(exc).__name__}: {exc}). "
                      "Check the URL and that this machine may use it (credentials, "
                      "permissions, network); the local cache is unchanged.")


def publish_to(cache: str | os.PathLike, url: str) -> str:
    """Copy the build ``cache`` serves to ``url``; returns the generation's name.

    Raises:
        CacheError: the local build is missing or damaged (by file), or the store cannot
            be opened or written.
    """
    gen = gens.resolve(cache_location(cache))
    if not (gen / "manifest.json").exists():
        raise CacheError(f"{cache}: no finished build to publish (no manifest.json); build "
                         f"it first with `python -m pipeline build --cache {cache}`.")
    gens.verify(gen, read_json(gen / "manifest.json"))
    name = gen.name if _NAME.match(gen.name) else f"g-{gen.name}"
    fs, root = _fs(url)
    # sorted by name, the manifest last
    files = sorted((f for f in gen.iterdir() if f.is_file() and f.name != gens.PROGRESS),
                   key=lambda f: (f.name == "manifest.json", f.name))
    try:
        fs.makedirs(f"{root}/{name}", exist_ok=True)  # a folder on file://; nothing on s3://
        for f in files:
            fs.put_file(str(f), f"{root}/{name}/{f.name}")
        fs.pipe_file(f"{root}/{CURRENT}", name.encode())
    except OSError as exc:  # no such place, no permission, the network: not a traceback
        raise _store_error(url, "write the build to", exc) from None
    log.info("published %s (%d files) to %s/%s", gen, len(files), url.rstrip("/"), name)
    return name


def mirror_from(url: str, cache: str | os.PathLike) -> Path:
    """Serve in the local ``cache`` the build ``url/CURRENT`` names; returns its generation.

    Nothing changes when ``cache`` already serves it (same name). The download goes to a new
    generation, verified, then published by the local link switch, under the cache's build
    lock: readers see the old build or the new one, never a mixture.

    Raises:
        CacheError: no ``CURRENT`` at ``url``, or a downloaded artifact that differs from
            the manifest's checksum (named); the served build is then unchanged.
    """
    fs, root = _fs(url)
    try:
        name = fs.cat_file(f"{root}/{CURRENT}").decode().strip()
    except FileNotFoundError:
        raise CacheError(f"{url}: no {CURRENT} (no published build); publish one with "
                         f"`python -m pipeline publish --cache DIR --to {url}`.") from None
    except OSError as exc:
        raise _store_error(url, "read", exc) from None
    if not _NAME.match(name):
        raise CacheError(f"{url}/{CURRENT} names {name!r}, not a build generation.")
    local, source = cache_location(cache), f"{url.rstrip('/')}/{name}"
    with gens.build_lock(local):
        gens.adopt_plain_cache(local)
        served = gens.resolve(local) if local.is_symlink() else None
        if (served is not None
                and read_json(served / "manifest.json").get("mirrored_from") == source):
            return served
        work = gens.new_generation(local)
        try:
            for remote in sorted(fs.ls(f"{root}/{name}", detail=False)):
                fs.get_file(remote, str(work / Path(remote).name))
            manifest = read_json(work / "manifest.json")
            gens.verify(work, manifest)  # a damaged download is refused by name, not served
        except BaseException as exc:
            shutil.rmtree(work, ignore_errors=True)
            if isinstance(exc, OSError):
                raise _store_error(url, f"download {name} from", exc) from None
            raise
        manifest["mirrored_from"] = source
        write_json(work / "manifest.json", manifest)
        gens.publish(local, work)
    log.info("mirrored %s into %s", source, work)
    return work
