"""`calarb book ...`: LOBSTER replay check and the bulk top-of-book series."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("book", help="order books: LOBSTER check, BBO series")
    commands = group.add_subparsers(dest="book_command", metavar="COMMAND", required=True)

    lobster = commands.add_parser(
        "lobster",
        help="replay a LOBSTER message file and check the book against every orderbook row",
    )
    lobster.add_argument("message_csv", metavar="MESSAGE_CSV")
    lobster.add_argument("orderbook_csv", metavar="ORDERBOOK_CSV")
    lobster.add_argument(
        "--levels", type=int, default=None, help="levels to compare per side (default: all)"
    )
    lobster.add_argument("--json", action="store_true", help="print one JSON object")
    lobster.set_defaults(handler=_lobster)

    bbo = commands.add_parser(
        "bbo", help="replay an ITCH file and write one symbol's N-level book series as Parquet"
    )
    bbo.add_argument("file", metavar="FILE")
    bbo.add_argument("--symbol", required=True)
    bbo.add_argument("--levels", type=int, default=1)
    bbo.add_argument("--out", required=True, metavar="FILE.parquet")
    bbo.set_defaults(handler=_bbo)


def _lobster(args: argparse.Namespace) -> int:
    from calarb.data.lobster import LobsterFormatError, replay_files

    try:
        result = replay_files(args.message_csv, args.orderbook_csv, args.levels)
    except (LobsterFormatError, ValueError, OSError) as exc:
        print(f"calarb book lobster: {exc}", file=sys.stderr)
        return 2
    summary = result.to_dict()
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>16}: {value}")
    return 0 if result.mismatches == 0 else 1


def _bbo(args: argparse.Namespace) -> int:
    from calarb.book.bulk import write_bbo_parquet

    try:
        summary = write_bbo_parquet(args.file, args.symbol, args.levels, args.out)
    except (KeyError, ValueError, OSError) as exc:
        print(f"calarb book bbo: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
