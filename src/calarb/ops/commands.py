"""`calarb build-info`: which hot-path modules run compiled, and whether CALARB_PURE is set."""

from __future__ import annotations

import argparse
import json

import calarb
from calarb.command_modules import lazy_handler


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-info", help="which hot-path modules run compiled (C extension) or pure"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run_build_info)


def run_build_info(args: argparse.Namespace) -> int:
    info = calarb.build_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"calarb {info['version']}: {info['mode']}")
    for name, state in info["modules"].items():
        print(f"  {state:8}  {name}")
    return 0


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    """Its `calarb bench` subcommand (the benchmark module loads only when it runs)."""
    parser = subparsers.add_parser(
        "scrape", help="tick to trade with and without a /metrics scrape every 100 ms"
    )
    parser.add_argument("--ticks", type=int, default=100_000, help="timed ticks per run")
    parser.add_argument("--warmup", type=int, default=5_000, help="untimed ticks first")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--scrape-ms", type=float, default=100.0, help="scrape interval")
    parser.add_argument("--rounds", type=int, default=3, help="pipelines run (both phases each)")
    parser.add_argument(
        "--window-ms", type=float, default=500.0, help="scraping / not scraping alternation"
    )
    parser.add_argument("--batch", type=int, default=100, help="ticks between loop turns")
    parser.set_defaults(handler=lazy_handler("calarb.ops.benchmark", "run_command"))
