"""`calarb venue --config FILE [--duration S] [--output DIR]`: run the venues of a TOML file."""

from __future__ import annotations

import argparse
import asyncio
import logging

from calarb.command_modules import positive_number


def _run(args: argparse.Namespace) -> int:
    from calarb.venue.config import VenuesConfig
    from calarb.venue.server import serve  # asyncio, sockets: only when the command runs

    config = VenuesConfig.load(args.config)  # errors: one line from `calarb.cli.main`
    if args.speed is not None:
        config = VenuesConfig(config.synthetic, config.venues, args.speed, config.linger_s)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(serve(config, args.duration, args.output))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "venue",
        help="run exchange simulators (matching, FIX gateway, ITCH market data) from TOML",
        description=(
            "Runs every venue in the file in one process, sharing one synthetic market. "
            "Prints the true pair parameters, then one JSON line per venue with its FIX and "
            'market-data addresses, then {"ready": true}. Stops on SIGINT/SIGTERM or after '
            "--duration seconds."
        ),
    )
    parser.add_argument("--config", required=True, help="venues TOML file")
    parser.add_argument("--duration", type=positive_number, default=None, help="stop after S seconds")
    parser.add_argument(
        "--output", default=None,
        help="directory for <venue>.books.json and <venue>.trades.json written at shutdown",
    )  # fmt: skip
    parser.add_argument(
        "--speed", type=positive_number, default=None, help="simulated seconds per real second"
    )
    parser.set_defaults(handler=_run)
