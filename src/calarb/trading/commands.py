"""`calarb run --config FILE` (the engine against external venues) and `calarb kill`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from calarb.trading.config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="run the trading engine against FIX 4.4 venues and ITCH/MoldUDP64 feeds"
    )
    run.add_argument("--config", required=True, type=Path, help="TOML file (docs/trading.md)")
    run.add_argument("--duration", type=float, default=None, help="seconds (default: until ^C)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--log-level", default="WARNING")
    run.add_argument(
        "--dashboard", action="store_true", help="serve the live dashboard ([dashboard] table)"
    )
    run.set_defaults(handler=_run)

    kill = subparsers.add_parser("kill", help="engage the kill switch of a running engine")
    target = kill.add_mutually_exclusive_group(required=True)
    target.add_argument("--pid", type=int, help="process id of the engine (sent SIGUSR1)")
    target.add_argument("--config", type=Path, help="the engine's config (pid_file, kill_file)")
    kill.set_defaults(handler=_kill)


def _run(args: argparse.Namespace) -> int:
    from calarb.trading.live import run_blocking

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    try:
        config = load_config(args.config)
    except (ConfigError, OSError) as exc:
        print(f"calarb run: {exc}", file=sys.stderr)
        return 2
    if args.dashboard:
        config = config.with_dashboard()
    try:
        summary = run_blocking(config, args.duration)
    except OSError as exc:  # a metrics or dashboard port in use
        print(f"calarb run: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(_format(summary))
    return 0


def _format(summary: dict) -> str:
    pnl = summary["pnl"]
    lines = [
        f"orders sent {summary['orders_sent']}, fills {summary['fills']}, "
        f"cancels {summary['cancels']}, open {summary['open_orders']}",
        f"rejects {summary['rejects']}",
        f"positions {summary['positions']}",
        f"P&L realised {pnl['realized']:.2f} unrealised {pnl['unrealized']:.2f} "
        f"fees {pnl['fees']:.2f} net {pnl['net']:.2f}",
        f"kill switch {summary['kill_switch']}",
    ]
    ttt = summary.get("tick_to_trade_us")
    if ttt:
        lines.append(
            f"tick to trade p50 {ttt['p50']} us, p99 {ttt['p99']} us, p99.9 {ttt['p999']} us "
            f"({ttt['count']} orders)"
        )
    return "\n".join(lines)


def _kill(args: argparse.Namespace) -> int:
    pid = args.pid
    if args.config is not None:
        try:
            config = load_config(args.config)
        except (ConfigError, OSError) as exc:
            print(f"calarb kill: {exc}", file=sys.stderr)
            return 2
        if config.pid_file is not None and config.pid_file.exists():
            pid = int(config.pid_file.read_text().split()[0])
        elif config.kill_file is not None:
            config.kill_file.parent.mkdir(parents=True, exist_ok=True)
            config.kill_file.touch()
            print(f"kill file {config.kill_file} created")
            return 0
        else:
            print(
                "calarb kill: the config names neither a pid_file nor a kill_file", file=sys.stderr
            )
            return 2
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        print(f"calarb kill: no process {pid}", file=sys.stderr)
        return 1
    print(f"SIGUSR1 sent to {pid}")
    return 0
