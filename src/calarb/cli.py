"""The `calarb` command.

A thin dispatcher: each package that offers commands has a `commands` module with a
`register(subparsers)` function that adds its subcommands, each setting `handler` to a
function taking the parsed arguments and returning an exit code. Modules are imported only
when present, so the command grows with the package. A group may take subcommands from
several rooms (`calarb.command_modules.command_group`).
"""

from __future__ import annotations

import argparse
import sys

from calarb.command_modules import present_modules

COMMAND_MODULES = (
    "calarb.itch.commands",  # calarb itch generate|stats
    "calarb.data.commands",  # calarb itch convert, calarb book lobster
    "calarb.book.commands",  # calarb book bbo
    "calarb.fix.commands",
    "calarb.venue.commands",
    "calarb.model.commands",  # calarb scan
    "calarb.options.commands",  # calarb options iv|fit|arbitrage|bench
    "calarb.trading.commands",
    "calarb.backtest.commands",
    "calarb.ops.commands",
    "calarb.bench_commands",  # calarb bench ...
    "calarb.demo",  # calarb demo
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calarb", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in present_modules(COMMAND_MODULES):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
