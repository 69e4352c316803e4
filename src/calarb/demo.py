"""`calarb demo`: the main job. Until the full trading loop demo lands, this runs the
market-data demo (`calarb demo --market-data`)."""

from __future__ import annotations

import argparse

from calarb import market_data_demo


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="the calarb demo")
    parser.add_argument(
        "--market-data", action="store_true", help="only the ITCH/MoldUDP64 market-data path"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    market_data_demo.add_arguments(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return market_data_demo.run_command(args)
