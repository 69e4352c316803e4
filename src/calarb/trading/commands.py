"""`calarb run --config FILE` (the engine against external venues) and `calarb kill`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from calarb.command_modules import lazy_handler, positive_number


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="run the trading engine against FIX 4.4 venues and ITCH/MoldUDP64 feeds"
    )
    run.add_argument("--config", required=True, type=Path, help="TOML file (docs/trading.md)")
    run.add_argument("--duration", type=positive_number, default=None, help="seconds (default: until ^C)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument(
        "--resume", action="store_true",
        help="carry the journal's positions, open orders and P&L over (default: a new trading "
        "day; the last run's journal is archived, which needs it to have ended flat)",
    )  # fmt: skip
    run.add_argument(
        "--status-interval", type=float, default=5.0, metavar="S",
        help="print a status line to stderr every S seconds (0: never)",
    )  # fmt: skip
    run.add_argument("--log-level", default="WARNING")
    run.add_argument(
        "--dashboard", action="store_true", help="serve the live dashboard ([dashboard] table)"
    )
    run.set_defaults(handler=_run)

    kill = subparsers.add_parser("kill", help="engage the kill switch of a running engine")
    target = kill.add_mutually_exclusive_group(required=True)
    target.add_argument("--pid", type=int, help="process id of the engine (sent SIGUSR1)")
    target.add_argument("--config", type=Path, help="the engine's config (pid_file, kill_file)")
    kill.add_argument(
        "--wait", type=float, default=15.0, metavar="S",
        help="wait up to S seconds for the engine to end and say how it ended",
    )  # fmt: skip
    kill.set_defaults(handler=_kill)


def _run(args: argparse.Namespace) -> int:
    from calarb.trading.config import load_config
    from calarb.trading.live import run_blocking

    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    if logging.getLogger().level > logging.INFO:  # connection failures show at the default
        logging.getLogger("calarb.fix").setLevel(logging.INFO)
    config = load_config(args.config)  # errors: one line from `calarb.cli.main`
    if args.dashboard:
        config = config.with_dashboard()

    def status(line: str) -> None:
        print(f"calarb run: {line}", file=sys.stderr, flush=True)

    summary = run_blocking(
        config, args.duration, new_day=not args.resume, status=status,
        status_interval_s=args.status_interval,
    )  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_summary(summary))
    return 0


def format_summary(summary: dict) -> str:
    from calarb.ops.tables import positions_table

    pnl = summary["pnl"]
    lines = [
        f"orders sent {summary['orders_sent']}, fills {summary['fills']}, "
        f"cancels {summary['cancels']}, open {summary['open_orders']}",
        f"rejects {summary['rejects']}",
        "positions:\n" + positions_table(summary["positions"], summary.get("marks")),
        f"P&L realised {pnl['realized']:.2f} unrealised {pnl['unrealized']:.2f} "
        f"fees {pnl['fees']:.2f} net {pnl['net']:.2f}",
        f"kill switch {summary['kill_switch']}",
        _ending(summary),
    ]
    ttt = summary.get("tick_to_trade_us")
    if ttt:
        lines.append(
            f"tick to trade p50 {ttt['p50']} us, p99 {ttt['p99']} us, p99.9 {ttt['p999']} us "
            f"({ttt['count']} orders)"
        )
    return "\n".join(lines)


def _ending(summary: dict) -> str:
    ended = summary.get("ended") or {}
    held = ", ".join(f"{s} {q:+d}" for s, q in ended.get("holding", {}).items())
    state = "flat" if ended.get("flat") else f"NOT flat: holding {held or 'open orders'}"
    if ended.get("by") == "kill switch":
        how = "flattened" if ended.get("flatten_on_kill") else "stopped (flatten_on_kill = false)"
        return f"ended by the kill switch: {how}, {state}"
    return f"ended: {state}"


def _kill(args: argparse.Namespace) -> int:
    from calarb.trading.config import load_config
    from calarb.trading.live import summary_path

    pid = args.pid
    summary_file = None
    if args.config is not None:
        config = load_config(args.config)
        summary_file = summary_path(config)
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
    if args.config is not None and not config.stop_on_kill:
        print(f"engine {pid} stays up HALTED (stop_on_kill = false): stop it with SIGINT")
        return 0
    return _await_end(pid, summary_file, args.wait)


def _await_end(pid: int, summary_file: Path | None, wait_s: float) -> int:
    """Wait for the engine to end, then say how: flat, or stopped holding what."""
    import time

    started = time.monotonic()
    before = summary_file.stat().st_mtime if summary_file and summary_file.exists() else None
    while time.monotonic() - started < wait_s:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        print(f"calarb kill: engine {pid} still running after {wait_s:g} s", file=sys.stderr)
        return 1
    if summary_file is None or not summary_file.exists() or (
        before is not None and summary_file.stat().st_mtime == before
    ):
        print(f"engine {pid} ended (no summary file to say how: give --config)")
        return 0
    summary = json.loads(summary_file.read_text())
    print(f"engine {pid} {_ending(summary)}")
    return 0 if (summary.get("ended") or {}).get("flat") else 3


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    """Its `calarb bench` subcommand (the benchmark module loads only when it runs)."""
    parser = subparsers.add_parser(
        "tick2trade", help="ITCH packet bytes -> FIX NewOrderSingle bytes through the engine"
    )
    parser.add_argument("--ticks", type=int, default=50_000, help="timed ticks")
    parser.add_argument("--warmup", type=int, default=5_000, help="untimed ticks first")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON (the default output)")
    parser.add_argument(
        "--no-pure",
        action="store_true",
        help="skip the same run in a CALARB_PURE=1 child (the pure_* figures)",
    )
    parser.set_defaults(handler=lazy_handler("calarb.trading.benchmark", "run_command"))
    wire2wire = subparsers.add_parser(
        "wire2wire",
        help="ITCH packet on loopback multicast -> NewOrderSingle at a FIX acceptor, "
        "a real `calarb run` process against a plain-Python floor",
    )
    wire2wire.add_argument("--triggers", type=int, default=100, help="trigger packets to send")
    wire2wire.add_argument("--pace", type=int, default=4, help="ordinary packets per ms")
    wire2wire.add_argument("--gap-ms", type=float, default=5.0, help="quiet before a trigger")
    wire2wire.add_argument("--wait-ms", type=float, default=50.0, help="wait for a trigger's order")
    wire2wire.add_argument("--seed", type=int, default=3)
    wire2wire.add_argument("--json", action="store_true", help="print JSON (the default output)")
    wire2wire.set_defaults(handler=lazy_handler("calarb.trading.wire2wire", "run_command"))
