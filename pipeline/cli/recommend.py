"""``python -m pipeline recommend | feedback | retrain-ranker`` (recommender commands)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.recommend import COLUMNS, MODES

SHOW = ["rank", "track_name", "artist", "year", "genre", "score", "why"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="recommendations for one track (fuzzy lookup)")
    p.add_argument("--cache", default="cache", help="built cache directory (default: cache)")
    p.add_argument("--track", required=True, help='"name", "name, artist" or a track id')
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--steer", action="append", default=[], metavar="KEY=VALUE",
                   help="target, e.g. energy=0.8, tempo=120, year_range=2010-2019 (repeatable)")
    p.add_argument("--user", default=None, metavar="NAME",
                   help='whose votes apply (default: the shared profile "everyone")')
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_recommend)
    f = sub.add_parser("feedback", help="record +1/-1 for a recommended track (0 undoes a vote)")
    f.add_argument("--cache", default="cache")
    f.add_argument("--seed-id", required=True)
    f.add_argument("--track-id", required=True)
    f.add_argument("--value", type=int, choices=(1, -1, 0), required=True)
    f.add_argument("--user", default=None, metavar="NAME",
                   help='the profile the vote belongs to (default: "everyone")')
    f.set_defaults(func=run_feedback)
    r = sub.add_parser("retrain-ranker", help="refit the rankers with the stored feedback")
    r.add_argument("--cache", default="cache")
    r.set_defaults(func=run_retrain)


def parse_steer(items: list[str]) -> dict:
    """["energy=0.8", "year_range=2010-2019"] -> {"energy": 0.8, "year_range": (2010, 2019)}."""
    out: dict = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"--steer {item!r}: expected KEY=VALUE, e.g. energy=0.8")
        try:
            out[key] = (tuple(float(v) for v in val.split("-", 1)) if key == "year_range"
                        else float(val))
        except ValueError:
            raise ValueError(f"--steer {item!r}: {val!r} is not a number"
                             f"{' range like 2010-2019' if key == 'year_range' else ''}") from None
    return out


def run_recommend(args: argparse.Namespace) -> int:
    from pipeline.recommend import Recommender

    rec = Recommender.load(args.cache)
    steer = parse_steer(args.steer)
    found = rec.search(args.track, limit=8)
    if found.empty:
        raise KeyError(f"no track matches {args.track!r} in {args.cache}")
    exact = found[found["score"] >= 100]
    seed = (exact if len(exact) else found).iloc[0]
    ambiguous = len(exact) != 1
    recs = rec.recommend(seed["track_id"], k=args.k, mode=args.mode, steer=steer, user=args.user)
    if args.json:
        print(json.dumps({"seed": seed.to_dict(), "ambiguous": ambiguous,
                          "candidates": found.to_dict("records") if ambiguous else [],
                          "recommendations": recs.to_dict("records")}, default=str, indent=1))
        return 0
    if ambiguous:
        print(f"{len(found)} tracks match {args.track!r}; using the first "
              "(pass --track <track_id> to pick another):")
        print(found.to_string(index=False))
        print()
    print(f"seed: {seed['track_name']} - {seed['artist']} ({seed['track_id']}), mode {args.mode}")
    steered = [c for c in recs.columns if c not in COLUMNS]   # the steered features' values
    print(recs[[*SHOW[:-1], *steered, "why"]].to_string(index=False, max_colwidth=90))
    return 0


def run_feedback(args: argparse.Namespace) -> int:
    from pipeline.recommend import Recommender

    Recommender.load(args.cache).feedback(args.seed_id, args.track_id, args.value, args.user)
    what = "vote undone" if args.value == 0 else f"feedback {args.value:+d} recorded"
    print(f"{what} for {args.track_id} (seed {args.seed_id}, profile "
          f"{args.user or 'everyone'!r})")
    return 0


def run_retrain(args: argparse.Namespace) -> int:
    from pipeline.recommend import retrain_from_feedback

    report = retrain_from_feedback(Path(args.cache))
    print(f"ranker retrained: {report.get('feedback')} -> {args.cache}/ranker.txt")
    return 0
