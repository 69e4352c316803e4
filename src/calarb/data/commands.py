"""The data room's subcommands, in the groups of the files they read: `calarb itch convert`
(ITCH to Parquet) and `calarb book lobster` (LOBSTER replay check)."""

from __future__ import annotations

import argparse
import json
import sys

from calarb.command_modules import command_group
from calarb.itch.errors import ItchDecodeError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `convert` to `calarb itch` and `lobster` to `calarb book` (listed between the
    two groups' own modules, so each group keeps its order: generate, stats, convert;
    lobster, bbo)."""
    convert = command_group(subparsers, "itch").add_parser(
        "convert", help="write one Parquet file per message type"
    )
    convert.add_argument("file", metavar="FILE")
    convert.add_argument("--out", required=True, metavar="DIR", help="output directory")
    convert.set_defaults(handler=_convert)

    lobster = command_group(subparsers, "book").add_parser(
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


def _convert(args: argparse.Namespace) -> int:
    try:
        from calarb.data.itch_parquet import convert_itch_to_parquet
    except ModuleNotFoundError as exc:
        if exc.name != "calarb.data.itch_parquet":
            raise
        print("calarb itch convert: the Parquet writer is not installed", file=sys.stderr)
        return 1
    try:
        rows = convert_itch_to_parquet(args.file, args.out)
    except (ItchDecodeError, OSError) as exc:
        print(f"calarb itch convert: {args.file}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(rows))
    return 0


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
