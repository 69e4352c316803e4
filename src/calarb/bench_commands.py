"""`calarb bench ...`: benchmarks that print JSON and compare against peers in the same run.

Each area's benchmark module offers `register_bench(subparsers)` adding its subcommand
(`calarb bench itch`, `calarb bench fix`, `calarb bench scan`, ...).
"""

from __future__ import annotations

import argparse

from calarb.command_modules import present_modules

BENCH_MODULES = (
    "calarb.book.benchmark",  # calarb bench itch
    "calarb.fix.benchmark",  # calarb bench fix
    "calarb.model.benchmark",  # calarb bench scan | model
    "calarb.backtest.benchmark",  # calarb bench backtest
    "calarb.venue.benchmark",  # calarb bench matching
    "calarb.trading.benchmark",  # calarb bench tick2trade
    "calarb.trading.wire2wire",  # calarb bench wire2wire
    "calarb.ops.benchmark",  # calarb bench scrape
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks against peers, printed as JSON")
    bench_subparsers = parser.add_subparsers(dest="bench", metavar="BENCHMARK")
    for module in present_modules(BENCH_MODULES):
        module.register_bench(bench_subparsers)
