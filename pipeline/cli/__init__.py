"""Command line: ``python -m pipeline <command>``, one argparse tree.

Each command's options live in its own module (``add_parser`` + ``run``): ``build``,
``evaluate``, ``recommend`` / ``feedback`` / ``retrain-ranker``, ``playlist``, ``publish`` /
``mirror``. Logging is
configured only here; errors a user can fix print one line, never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys

from pipeline.errors import CacheError, CatalogError
from pipeline.store import cache_location

from . import build, evaluate, playlist, publish, recommend

COMMANDS = (build, evaluate, recommend, playlist, publish)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline",
                                     description="Catalog Explorer offline pipeline")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # CPU-variant probing
    try:
        if getattr(args, "cache", None) is not None:  # a path or a file:// URL
            args.cache = str(cache_location(args.cache))
        return args.func(args)
    except (CatalogError, CacheError, KeyError, ValueError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2


__all__ = ["COMMANDS", "main", "make_parser"]
