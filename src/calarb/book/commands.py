"""`calarb book bbo`: the bulk top-of-book series (`lobster`, the LOBSTER replay check, is the
data room's: `calarb.data.commands`)."""

from __future__ import annotations

import argparse
import json
import sys

from calarb.command_modules import command_group


def register(subparsers: argparse._SubParsersAction) -> None:
    commands = command_group(subparsers, "book")
    bbo = commands.add_parser(
        "bbo", help="replay an ITCH file and write one symbol's N-level book series as Parquet"
    )
    bbo.add_argument("file", metavar="FILE")
    bbo.add_argument("--symbol", required=True)
    bbo.add_argument("--levels", type=int, default=1)
    bbo.add_argument("--out", required=True, metavar="FILE.parquet")
    bbo.set_defaults(handler=_bbo)


def _bbo(args: argparse.Namespace) -> int:
    from calarb.book.bulk import write_bbo_parquet

    try:
        summary = write_bbo_parquet(args.file, args.symbol, args.levels, args.out)
    except (KeyError, ValueError, OSError) as exc:
        print(f"calarb book bbo: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
