"""`calarb itch ...`: generate and inspect ITCH 5.0 files (`convert`, to Parquet, is the data
room's: `calarb.data.commands`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from calarb.command_modules import CommandError, command_group, positive_integer
from calarb.itch.errors import ItchDecodeError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `itch` command group to the `calarb` command."""
    commands = command_group(subparsers, "itch")

    generate = commands.add_parser(
        "generate", help="write a deterministic synthetic ITCH 5.0 file (.gz to compress)"
    )
    generate.add_argument("out", metavar="OUT", help="file to write")
    generate.add_argument("--messages", type=positive_integer, default=1_000_000)
    generate.add_argument("--symbols", type=positive_integer, default=10)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--json", action="store_true", help="print the summary as JSON")
    generate.set_defaults(handler=_generate)

    stats = commands.add_parser("stats", help="count the messages of an ITCH file")
    stats.add_argument("file", metavar="FILE")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument(
        "--lenient", action="store_true", help="stop at a truncated final message, with a warning"
    )
    stats.set_defaults(handler=_stats)




def _generate(args: argparse.Namespace) -> int:
    from calarb.itch.generate import generate_itch_file

    folder = Path(args.out).resolve().parent
    if not folder.is_dir():
        raise CommandError(f"{args.out}: the folder {folder} does not exist")
    started = time.perf_counter()  # for the report only; the file does not depend on it
    try:
        summary = generate_itch_file(args.out, args.messages, args.symbols, args.seed)
    except ValueError as exc:
        print(f"calarb itch generate: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({**summary, "seconds": round(seconds, 3)}))
    else:
        counts = " ".join(f"{code}={n}" for code, n in summary["by_type"].items())
        print(
            f"wrote {summary['path']}: {summary['messages']:,} messages, "
            f"{summary['bytes']:,} bytes, {summary['symbols']} symbols, seed {summary['seed']} "
            f"in {seconds:.2f} s\n{counts}"
        )
    return 0


def _stats(args: argparse.Namespace) -> int:
    from calarb.itch.files import file_stats

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stats = file_stats(args.file, lenient=args.lenient)
    except (ItchDecodeError, OSError) as exc:
        print(f"calarb itch stats: {args.file}: {exc}", file=sys.stderr)
        return 1
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(stats))
    else:
        for key, value in stats.items():
            print(f"{key:20} {value}")
    return 0
