"""`calarb backtest` and `calarb sweep`."""

from __future__ import annotations

import argparse
import json
import sys

from calarb.command_modules import (
    check_reachable,
    command_group,
    lazy_handler,
    positive_integer,
    positive_number,
)


def _backtest(args: argparse.Namespace) -> int:
    from calarb.backtest.config import BacktestConfig
    from calarb.backtest.replay import run_backtest
    from calarb.backtest.report import write_report
    from calarb.ops.compile_watch import COMPILE_NOTICE

    def notice() -> None:
        print(COMPILE_NOTICE, file=sys.stderr, flush=True)

    try:
        config = BacktestConfig.load(args.config)
        result = run_backtest(config, args.data, itch_dir=args.itch_dir, compile_notice=notice)
    except (OSError, ValueError) as exc:
        print(f"calarb backtest: {exc}", file=sys.stderr)
        return 2
    report = write_report(result, args.report) if args.report else None
    if args.json:
        print(json.dumps(result.json_summary(), sort_keys=True))
    else:
        print(_text_summary(result))
        if report:
            print(f"report: {report}")
    return 0


def _text_summary(result) -> str:
    """The run in a few lines: P&L and return, ratios or why there are none, positions as a
    table, the event rate (compile time left out) and which replay path ran."""
    from calarb.ops.tables import positions_table

    s = result.json_summary()
    if s["capital"]:
        capital = f"return {s['return_pct']:+.3f}% on capital {s['capital']:,.0f}"
    else:
        capital = s["return_note"]
    if s["sharpe"] is not None:
        ratios = f"Sharpe {s['sharpe']:.2f}, Sortino {(s['sortino'] or 0):.2f} ({s['annualisation']})"
    else:
        ratios = s["ratio_note"]
    marks = {row.symbol: row.mark for row in result.positions.itertuples()}
    replay = result.replay
    path = {"fast": "fast replay (compiled books)", "slow": "slow replay (Python books)"}.get(
        replay["path"], f"{replay['path']} simulation"
    )
    if replay.get("reason"):
        path += f": {replay['reason']}"
    compiled = f"; compiling took {s['compile_s']:.1f} s, not counted" if s["compile_s"] else ""
    lines = [
        f"{s['orders']} orders, {s['fills']} fills, net P&L {s['pnl_net']:,.2f} "
        f"(gross {s['pnl_gross']:,.2f}, fees {s['fees']:,.2f}), max drawdown "
        f"{s['max_drawdown']:,.2f}",
        capital,
        ratios,
        "positions:",
        positions_table(result.summary["positions"], marks),
        f"{s['events']:,} events at {s['events_per_s']:,.0f}/s, {path}{compiled}",
    ]
    return "\n".join(lines)


def _sweep(args: argparse.Namespace) -> int:
    from calarb.backtest.config import BacktestConfig
    from calarb.backtest.sweep import parse_grid, run_sweep, write_sweep

    config = BacktestConfig.load(args.config)
    try:
        grid = parse_grid(args.grid)
    except ValueError as exc:
        print(f"calarb sweep: --grid: {exc}", file=sys.stderr)
        return 2
    for point in grid:  # every point checked here, before a Dask worker would meet it
        config.with_overrides(point)
    if args.scheduler:
        check_reachable(args.scheduler, "--scheduler")
    table = run_sweep(config, grid, args.data, scheduler=args.scheduler, workers=args.workers)
    paths = write_sweep(table, list(grid[0]), args.out)
    if args.json:
        print(table.to_json(orient="records"))
    else:
        print(table.to_string(index=False))
        print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backtest", help="run the trading engine over recorded or synthetic market data"
    )
    parser.add_argument(
        "--data", required=True, action="append",
        help="market data, repeatable: 'synthetic'; ITCH files, comma separated (one venue "
        "each); 'lobster:FILES' (one venue of LOBSTER message/orderbook pairs: files, "
        "directories or globs, comma separated); 'parquet:FILES' (one venue of top-of-book/L2 "
        "series from 'calarb book bbo': FILE, SYMBOL=FILE, directories or globs)",
    )  # fmt: skip
    parser.add_argument("--itch-dir", help="keep the ITCH files converted from LOBSTER or "
                        "Parquet input here (default: a temporary directory)")  # fmt: skip
    parser.add_argument("--config", required=True, help="backtest TOML (configs/backtest.toml)")
    parser.add_argument("--report", help="directory for Parquet tables and report.html")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=_backtest)

    sweep = subparsers.add_parser("sweep", help="backtest a parameter grid in parallel on Dask")
    sweep.add_argument("--config", required=True)
    sweep.add_argument("--grid", required=True, help="e.g. 'entry=1.5,2,2.5;window=100,300'")
    sweep.add_argument("--data", default="synthetic", help="as for backtest (default synthetic)")
    sweep.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    sweep.add_argument("--workers", type=positive_integer, default=2, help="LocalCluster workers")
    sweep.add_argument("--out", default="sweep-out", help="directory for table and heatmaps")
    sweep.add_argument("--json", action="store_true")
    sweep.set_defaults(handler=_sweep)
    _register_options_venue(subparsers)


def _multicast(text: str) -> tuple[str, int]:
    group, _, port = text.rpartition(":")
    if not group or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not GROUP:PORT")
    return group, int(port)


def _options_venue(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from calarb.backtest.options_market import OptionsMarketConfig
    from calarb.backtest.options_venue import OptionsVenueConfig, serve, todays_market
    from calarb.core.clock import LiveClock

    market = OptionsMarketConfig(
        seed=args.seed, mispricings_per_minute=args.mispricings_per_minute,
        step_ns=int(args.step_ms * 1_000_000),
    )  # fmt: skip
    config = OptionsVenueConfig(
        todays_market(market, LiveClock()), step_s=args.step_ms / 1000 / args.speed,
        port=args.port, options_feed=args.options_feed, equity_feed=args.equity_feed,
    )  # fmt: skip
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    def announce(line: dict) -> None:
        print(json.dumps(line), flush=True)

    asyncio.run(serve(config, args.run_file, args.duration, announce))
    return 0


def _register_options_venue(subparsers: argparse._SubParsersAction) -> None:
    """`calarb options venue` (the options simulator lives in this room: it prices with
    `calarb.options`, which the venue room may not import)."""
    from pathlib import Path

    parser = command_group(subparsers, "options").add_parser(
        "venue",
        help="the options simulator as live venues (ITTO + ITCH feeds, FIX) for `calarb run`",
        description=(
            "Runs the options simulator as two venues: options on ITTO 4.0 and their "
            "underlying on ITCH 5.0 (MoldUDP64 multicast on 127.0.0.1), FIX 4.4 for both on one "
            "port; writes the `calarb run` file that trades them (--run-file: the listings are "
            'today\'s). Prints one JSON line with the addresses, then {"ready": true}; stops on '
            "SIGINT/SIGTERM or after --duration seconds."
        ),
    )
    add = parser.add_argument
    add("--seed", type=int, default=1)
    add("--port", type=int, default=9301, help="FIX port (0: any free one)")
    add("--options-feed", type=_multicast, default=("239.255.30.1", 31301), metavar="GROUP:PORT",
        help="ITTO multicast (default 239.255.30.1:31301)")  # fmt: skip
    add("--equity-feed", type=_multicast, default=("239.255.30.2", 31302), metavar="GROUP:PORT",
        help="ITCH multicast (default 239.255.30.2:31302)")  # fmt: skip
    add("--step-ms", type=positive_number, default=100.0, help="simulated ms per market step")
    add("--speed", type=positive_number, default=1.0, help="simulated seconds per real second")
    add("--mispricings-per-minute", type=float, default=3.0)
    add("--run-file", type=Path, default=None, help="write the `calarb run` file here")
    add("--duration", type=positive_number, default=None, help="stop after S seconds")
    parser.set_defaults(handler=_options_venue)


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    """Its `calarb bench` subcommand (the benchmark module loads only when it runs)."""
    parser = subparsers.add_parser("backtest", help="backtest events/s over a generated ITCH file")
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--file", help="use (or create) this ITCH file instead of a temporary one")
    parser.add_argument(
        "--slow-messages", type=int, default=300_000,
        help="prefix replayed on both paths for slow_events_per_s and the speed-up",
    )  # fmt: skip
    parser.add_argument("--no-peers", action="store_true", help="calarb only")
    parser.add_argument("--json", action="store_true", help="one-line JSON")
    parser.set_defaults(handler=lazy_handler("calarb.backtest.benchmark", "run_command"))
