"""``python -m pipeline playlist``: generate a playlist from a built cache and export it.

Registered in :mod:`pipeline.cli`'s command tree through :func:`add_parser`.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _pair(kind: type) -> dict:
    return {"nargs": 2, "type": kind, "metavar": ("LOW", "HIGH")}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``playlist`` sub-command."""
    p = sub.add_parser("playlist", help="generate a playlist and export it")
    p.add_argument("--cache", default="cache", help="built cache directory (default: cache)")
    src = p.add_argument_group("sources (combined as a union)")
    src.add_argument("--cluster", type=int, action="append", default=[], metavar="N")
    src.add_argument("--track", action="append", default=[], metavar="ID")
    src.add_argument("--seed-track", metavar="ID", help="a track and its neighbourhood")
    src.add_argument("--path", nargs=2, metavar=("ID_A", "ID_B"), help="walk from A to B")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--length", type=int, help="number of tracks (default 25)")
    size.add_argument("--minutes", type=float, help="target duration in minutes")
    p.add_argument("--year-range", **_pair(float))
    p.add_argument("--popularity-range", **_pair(float))
    p.add_argument("--tempo-range", **_pair(float))
    p.add_argument("--energy-range", **_pair(float))
    p.add_argument("--no-explicit", action="store_true", help="drop tracks known explicit")
    p.add_argument("--max-per-artist", type=int, default=2)
    p.add_argument("--min-artist-gap", type=int, default=3,
                   help="minimum number of other tracks between two by one artist")
    p.add_argument("--order", default="smooth", choices=["smooth", "energy_arc", "tempo", "curve"])
    p.add_argument("--curve", help="comma-separated target values, e.g. 0.2,0.5,0.9,0.4")
    p.add_argument("--curve-feature", default="energy", choices=["energy", "tempo"])
    p.add_argument("--recipe", help="regenerate from a saved JSON recipe (other options ignored)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--title", help="playlist title in M3U8/XSPF/JSON")
    p.add_argument("--format", required=True, choices=["csv", "m3u8", "xspf", "uris", "json"])
    p.add_argument("--out", required=True, help="output file")
    p.set_defaults(func=run)


def _curve(text: str | None) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--curve: expected comma-separated numbers such as 0.2,0.5,0.9. "
                         f"Got {text!r}.") from None


def request_from_args(args: argparse.Namespace) -> tuple[Any, dict | None]:
    """The :class:`~pipeline.playlist.PlaylistRequest` the options (or ``--recipe``) ask
    for, and the recipe dict when one was given. Invalid options raise ``ValueError``."""
    from pydantic import ValidationError

    from pipeline.playlist import request_from_recipe

    try:
        if not args.recipe:
            return _request_from_options(args), None
        path = Path(args.recipe)
        if args.cluster or args.track or args.seed_track or args.path:
            log.warning("--recipe given: ignoring --cluster/--track/--seed-track/--path and "
                        "the other playlist options; the recipe defines the playlist")
        if not path.exists():
            raise ValueError(f"--recipe: file {path} does not exist.")
        try:
            recipe = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"--recipe: {path} is not valid JSON ({exc}).") from None
        return request_from_recipe(recipe), recipe
    except ValidationError as exc:
        where = f"recipe {args.recipe}" if args.recipe else "playlist options"
        raise ValueError(f"{where}: " + "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors())) from None


def _request_from_options(args: argparse.Namespace) -> Any:
    from pipeline.playlist import PlaylistRequest

    def pair(v: list | None) -> tuple | None:
        return tuple(v) if v else None
    return PlaylistRequest(
        clusters=tuple(args.cluster), track_ids=tuple(args.track), seed_track=args.seed_track,
        path=pair(args.path), length=args.length or 25, target_minutes=args.minutes,
        year_range=pair(args.year_range), popularity_range=pair(args.popularity_range),
        tempo_range=pair(args.tempo_range), energy_range=pair(args.energy_range),
        exclude_explicit=args.no_explicit, max_per_artist=args.max_per_artist,
        min_artist_gap=args.min_artist_gap, ordering=args.order,
        curve_feature=args.curve_feature, curve=_curve(args.curve), seed=args.seed)


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    """Generate, export, print a summary. Returns the process exit code."""
    from pipeline import load
    from pipeline.playlist import EXPORTERS, generate_playlist, recipe_mismatch

    req, recipe = request_from_args(args)
    index = load(args.cache)
    if recipe is not None:
        for diff in recipe_mismatch(recipe, index):
            log.warning("recipe was made from another cache; the playlist may differ: %s", diff)
    res = generate_playlist(index, req)
    fn, _, _ = EXPORTERS[args.format]
    _write_text(Path(args.out), fn(res, title=args.title))
    rep = res.report
    removed = ", ".join(f"{k}={v}" for k, v in rep["removed_by"].items() if v) or "none"
    smooth = "n/a" if rep["smoothness"] is None else f"{rep['smoothness']:.3f}"
    print(f"playlist: {rep['delivered']} tracks ({rep['delivered_minutes']:.1f} min) of "
          f"{rep['requested']} requested, from {rep['candidates']} candidates "
          f"in {rep['seconds']:.2f}s")
    print(f"smoothness: {smooth} (mean cosine between consecutive tracks)")
    print(f"removed: {removed}")
    for note in rep["notes"]:
        print(f"note: {note}")
    print(f"wrote {args.format} -> {args.out}")
    return 0
