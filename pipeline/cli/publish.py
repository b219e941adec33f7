"""``python -m pipeline publish | mirror``: a finished build to an object store and back
(:mod:`pipeline.build.remote`; docs/DISTRIBUTED.md, 'A cache in an object store')."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="copy the build a cache serves to an fsspec URL "
                       "(s3://..., gs://..., file://...)")
    p.add_argument("--cache", default="cache", help="built cache directory (default: cache)")
    p.add_argument("--to", required=True, metavar="URL", help="where to publish it")
    p.set_defaults(func=run_publish)
    m = sub.add_parser("mirror", help="serve the build published at an fsspec URL from a "
                       "local cache directory")
    m.add_argument("--from", dest="source", required=True, metavar="URL")
    m.add_argument("--cache", default="cache", help="local cache directory (default: cache)")
    m.set_defaults(func=run_mirror)


def run_publish(args: argparse.Namespace) -> int:
    from pipeline.build import publish_to

    name = publish_to(args.cache, args.to)
    print(f"published {args.cache} as {args.to.rstrip('/')}/{name}")
    return 0


def run_mirror(args: argparse.Namespace) -> int:
    from pipeline.build import mirror_from

    gen = mirror_from(args.source, args.cache)
    print(f"{args.cache} serves {gen.name} from {args.source}")
    return 0
