"""`calarb options venue`: the options simulator as live venues for `calarb run`.

Runs `OptionsLiveVenue` (an options exchange publishing ITTO 4.0 and its underlying's stock
exchange publishing ITCH 5.0, both on MoldUDP64 multicast on 127.0.0.1, FIX 4.4 order entry
for both on one port) until SIGINT/SIGTERM or `--duration`, and writes the `calarb run` file
that trades it (`--run-file`): its option listings depend on the day, so the file is written
for today's. Prints one JSON line with the addresses, then {"ready": true}.
"""

from __future__ import annotations

import argparse
import json

from calarb.command_modules import command_group, positive_number


def _multicast(text: str) -> tuple[str, int]:
    group, _, port = text.rpartition(":")
    if not group or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not GROUP:PORT")
    return group, int(port)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import logging
    import signal

    from calarb.backtest.options_market import OptionsMarketConfig
    from calarb.backtest.options_venue import OptionsLiveVenue, OptionsVenueConfig, todays_market
    from calarb.core.clock import LiveClock

    market = todays_market(
        OptionsMarketConfig(
            seed=args.seed, mispricings_per_minute=args.mispricings_per_minute,
            step_ns=int(args.step_ms * 1_000_000),
        ),
        LiveClock(),
    )  # fmt: skip
    config = OptionsVenueConfig(
        market, step_s=args.step_ms / 1000 / args.speed, port=args.port,
        options_feed=args.options_feed, equity_feed=args.equity_feed,
    )  # fmt: skip
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    async def serve() -> int:
        venue = OptionsLiveVenue(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        await venue.start()
        try:
            if args.run_file is not None:
                args.run_file.parent.mkdir(parents=True, exist_ok=True)
                args.run_file.write_text(venue.run_file())
            print(json.dumps({
                "fix_port": venue.fix_port, "trade_date": market.trade_date.isoformat(),
                "options": len(venue.market.symbols), "underlying": market.underlying,
                "options_feed": list(venue.options_md.group_address),
                "equity_feed": list(venue.equity_md.group_address),
                "run_file": str(args.run_file) if args.run_file else None,
            }), flush=True)  # fmt: skip
            print(json.dumps({"ready": True}), flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        finally:
            await venue.stop()
        plants = venue.market.plants
        print(json.dumps({"steps": venue.steps, "plants": len(plants),
                          "gateway": venue.gateway.stats.as_dict()}), flush=True)  # fmt: skip
        return 0

    return asyncio.run(serve())


def register(subparsers: argparse._SubParsersAction) -> None:
    from pathlib import Path

    parser = command_group(subparsers, "options").add_parser(
        "venue",
        help="the options simulator as live venues (ITTO + ITCH feeds, FIX) for `calarb run`",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=9301, help="FIX port (0: any free one)")
    parser.add_argument(
        "--options-feed",
        type=_multicast,
        default=("239.255.30.1", 31301),
        metavar="GROUP:PORT",
        help="ITTO multicast (default 239.255.30.1:31301)",
    )
    parser.add_argument(
        "--equity-feed",
        type=_multicast,
        default=("239.255.30.2", 31302),
        metavar="GROUP:PORT",
        help="ITCH multicast (default 239.255.30.2:31302)",
    )
    parser.add_argument(
        "--step-ms",
        type=positive_number,
        default=100.0,
        help="simulated milliseconds per market step",
    )
    parser.add_argument(
        "--speed", type=positive_number, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument("--mispricings-per-minute", type=float, default=3.0)
    parser.add_argument(
        "--run-file",
        type=Path,
        default=None,
        help="write the `calarb run` file that trades these venues here",
    )
    parser.add_argument("--duration", type=positive_number, default=None, help="stop after S s")
    parser.set_defaults(handler=_run)
