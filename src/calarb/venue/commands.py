"""`calarb venue --config FILE [--duration S] [--output DIR]`: run the venues of a TOML file."""

from __future__ import annotations

import argparse
import logging
from functools import partial

from calarb.command_modules import lazy_handler, positive_number


def _run(args: argparse.Namespace) -> int:
    import asyncio

    import msgspec

    from calarb.core.config_schema import ConfigError, load_toml
    from calarb.ops.settings import parse_metrics
    from calarb.ops.venue_metrics import venue_metrics
    from calarb.venue.config import VenuesConfig
    from calarb.venue.server import serve  # asyncio, sockets: only when the command runs

    config = VenuesConfig.load(args.config)  # errors: one line from `calarb.cli.main`
    metrics = parse_metrics(load_toml(args.config), str(args.config))
    if args.metrics_port is not None:
        if not 0 <= args.metrics_port <= 65535:
            raise ConfigError(f"--metrics-port {args.metrics_port} is not a port")
        metrics = msgspec.structs.replace(metrics, port=args.metrics_port)
    if args.speed is not None:
        config = VenuesConfig(config.synthetic, config.venues, args.speed, config.linger_s)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    attach = partial(venue_metrics, settings=metrics) if metrics.port else None
    return asyncio.run(serve(config, args.duration, args.output, attach=attach))  # a port in
    # use (FIX, feed, metrics) is one line from `calarb.cli.main`


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
    parser.add_argument(
        "--metrics-port", type=int, default=None,
        help="serve Prometheus metrics on 127.0.0.1:PORT ([metrics] port; 0: off)",
    )  # fmt: skip
    parser.set_defaults(handler=_run)


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    """Its `calarb bench` subcommand (the benchmark module loads only when it runs)."""
    parser = subparsers.add_parser(
        "matching", help="matching engine throughput on a realistic order mix"
    )
    parser.add_argument("--orders", type=int, default=300_000, help="requests in the stream")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="replays; the fastest counts")
    parser.add_argument(
        "--gateway-orders", type=int, default=20_000,
        help="orders timed through the FIX gateway for gateway_us (0: skip)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=lazy_handler("calarb.venue.benchmark", "run_command"))
