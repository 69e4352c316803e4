"""`calarb bench ...`: benchmarks that print JSON and compare against peers in the same run.

Each room's `commands` module offers `register_bench(subparsers)` adding its benchmarks'
subcommands (`calarb bench itch`, `calarb bench fix`, ...) with handlers that import the
benchmark module (its kernels and peers) only when the benchmark runs, so `calarb bench X
--help` stays light. Only the room of the benchmark asked for registers; the others are listed
by name and help from `BENCHMARKS`.
"""

from __future__ import annotations

import argparse

from calarb import command_modules
from calarb.command_modules import present_modules

BENCHMARKS = {
    # name: (module whose register_bench adds it, help)
    "itch": ("calarb.book.commands",
             "ITCH to full order books: calarb stream and bulk vs itch-book and MeatPy"),
    "fix": ("calarb.fix.commands", "FIX codec and order round trip vs QuickFIX, simplefix"),
    "scan": ("calarb.model.commands", "pair scanner throughput vs statsmodels coint"),
    "model": ("calarb.model.commands", "online model update cost per tick"),
    "backtest": ("calarb.backtest.commands", "backtest events/s over a generated ITCH file"),
    "matching": ("calarb.venue.commands",
                 "matching engine throughput on a realistic order mix"),
    "tick2trade": ("calarb.trading.commands",
                   "ITCH packet bytes -> FIX NewOrderSingle bytes through the engine"),
    "wire2wire": ("calarb.trading.commands",
                  "ITCH packet on loopback multicast -> NewOrderSingle at a FIX acceptor"),
    "scrape": ("calarb.ops.commands",
               "tick to trade with /metrics scraped every 100 ms vs not scraped"),
}  # fmt: skip
BENCH_MODULES = tuple(dict.fromkeys(module for module, _ in BENCHMARKS.values()))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks against peers, printed as JSON")
    bench_subparsers = parser.add_subparsers(dest="bench", metavar="BENCHMARK")
    requested = _requested_benchmark(command_modules.requested_arguments)
    if requested is None:
        modules: tuple[str, ...] = ()
    elif requested in BENCHMARKS:
        modules = (BENCHMARKS[requested][0],)
    else:
        modules = BENCH_MODULES if requested == "*" else ()
    for module in present_modules(modules):
        module.register_bench(bench_subparsers)
    for name, (_, help_text) in BENCHMARKS.items():
        if name not in bench_subparsers.choices:
            bench_subparsers.add_parser(name, help=help_text)


def _requested_benchmark(arguments: list[str] | None) -> str | None:
    """The benchmark named after `bench` in the command line; "*" when unknown (tests that
    build the whole parser)."""
    if arguments is None:
        return "*"
    words = [a for a in arguments if not a.startswith("-")]
    return words[1] if len(words) > 1 and words[0] == "bench" else None
