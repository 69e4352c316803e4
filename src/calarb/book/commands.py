"""`calarb book bbo`: the bulk top-of-book series (`lobster`, the LOBSTER replay check, is the
data room's: `calarb.data.commands`)."""

from __future__ import annotations

import argparse
import json
import sys

from calarb.command_modules import command_group, lazy_handler


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


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    """Its `calarb bench` subcommand (the benchmark module loads only when it runs)."""
    parser = subparsers.add_parser(
        "itch", help="ITCH to full order books: calarb stream and bulk vs itch-book and MeatPy"
    )
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--levels", type=int, default=5, help="levels compared per side")
    parser.add_argument(
        "--meatpy-messages", type=int, default=200_000, help="prefix MeatPy is timed on"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    parser.add_argument("--file", help="benchmark this ITCH file instead of a generated one")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=lazy_handler("calarb.book.benchmark", "run_command"))
