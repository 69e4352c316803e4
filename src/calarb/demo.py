"""`calarb demo`: the whole loop on loopback, from the exchange simulator to fills and P&L.

1. Write the venues' configuration (configs/demo_venues.toml with fresh addresses: free FIX
   and retransmission ports, a fresh multicast group and port per venue) into the report
   folder and start `calarb venue` in a child process; it prints the synthetic market's true
   pair parameters and each venue's addresses, then `{"ready": true}`. The two venues live
   in one child so they share one synthetic market and one simulated clock.
2. Write the engine's configuration (configs/demo_engine.toml plus one [[venues]] table per
   venue and each pair's true hedge ratio) and run `LiveEngine` against the venues over
   real loopback multicast (ITCH 5.0 / MoldUDP64) and TCP (FIX 4.4), for `--duration`
   seconds after the warm-up, with a status line on stderr about once a second, and the live
   dashboard on (its URL and control token printed at start; `calarb.ops`).
3. Stop: the engine cancels its open orders and logs out, then the child gets SIGTERM and is
   waited for. Print the figures and write the report folder (`summary.json`,
   `report.html` with plots, the effective configs, the venues' books and trades).

`calarb demo --market-data` runs only the market-data half (`calarb.market_data_demo`);
`calarb demo --options` the options calibration-arbitrage loop (`calarb.backtest.options_demo`).
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from calarb.command_modules import positive_number
from calarb.ops.tables import positions_table

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # package data (configs/ in a clone)
DEFAULT_VENUES_CONFIG = CONFIG_DIR / "demo_venues.toml"
DEFAULT_ENGINE_CONFIG = CONFIG_DIR / "demo_engine.toml"
SAMPLE_INTERVAL_S = 0.1
STATUS_INTERVAL_NS = 1_000_000_000
VENUE_START_TIMEOUT_S = 30.0
ENGINE_READY_TIMEOUT_S = 20.0
VENUE_LIFETIME_MARGIN_S = 60.0
"""How long the venue child outlives the planned run before it stops by itself."""


class DemoError(RuntimeError):
    """The demo could not run (a child that did not start, an engine that never got ready)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the calarb demo: exchange simulator, engine, fills, P&L and latency",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--duration", type=positive_number, default=30.0, help="seconds of trading"
    )
    parser.add_argument("--report", type=Path, default=Path("demo-report"), help="report folder")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--venues-config", type=Path, default=DEFAULT_VENUES_CONFIG)
    parser.add_argument("--engine-config", type=Path, default=DEFAULT_ENGINE_CONFIG)
    parser.add_argument(
        "--speed", type=positive_number, default=None, help="simulated seconds per real second (venues)"
    )
    parser.add_argument(
        "--market-data", action="store_true", help="only the ITCH/MoldUDP64 market-data path"
    )
    parser.add_argument(
        "--options", action="store_true", help="the options calibration-arbitrage loop"
    )
    market_data = parser.add_argument_group("with --market-data")
    market_data.add_argument("--messages", type=int, default=300_000)
    market_data.add_argument("--symbols", type=int, default=8)
    market_data.add_argument("--seed", type=int, default=7)
    market_data.add_argument("--loss", type=float, default=0.01, help="packet drop probability")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.market_data:
        from calarb import market_data_demo

        return market_data_demo.run_command(args)
    if args.options:
        from calarb.backtest import options_demo

        return options_demo.run_command(args)
    if args.duration <= 0 or (args.speed is not None and args.speed <= 0):
        print("calarb demo: --duration and --speed must be positive", file=sys.stderr)
        return 2
    try:
        summary = run_demo(
            args.duration,
            args.report,
            args.venues_config,
            args.engine_config,
            speed=args.speed,
            progress=sys.stderr,
        )
    except (DemoError, OSError, ValueError) as exc:
        print(f"calarb demo: {exc}", file=sys.stderr)
        from calarb.core.config_schema import ConfigError

        return 2 if isinstance(exc, ConfigError) else 1
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0 if summary["clean"] else 1


# --- the venues' child process -----------------------------------------------------------------


class VenueProcess:
    """`calarb venue` in a child process: its true parameters, its venues' addresses, and a
    clean stop (SIGTERM, then wait)."""

    def __init__(
        self, config_path: Path, output_dir: Path, log_path: Path, lifetime_s: float
    ) -> None:
        # The demo stops the child itself; `--duration` is the safety net that ends it even if
        # the demo is killed before it can.
        self.command = [
            sys.executable, "-m", "calarb.cli", "venue", "--config", str(config_path),
            "--output", str(output_dir), "--duration", f"{lifetime_s:.1f}",
        ]  # fmt: skip
        self.log_path = log_path
        self.process: subprocess.Popen[str] | None = None
        self.description: list[str] = []
        self.true_parameters: list[dict[str, Any]] = []
        self.addresses: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self.exit_code: int | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def start(self, timeout_s: float = VENUE_START_TIMEOUT_S) -> None:
        """Start the child and read its output until `{"ready": true}`."""
        with self.log_path.open("w") as log:
            # Its own session: a ^C reaches the engine first, which cancels its orders while
            # the venues still answer; the demo then stops the child itself.
            self.process = subprocess.Popen(
                self.command, stdout=subprocess.PIPE, stderr=log, text=True,
                start_new_session=True,
            )  # fmt: skip
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise DemoError(f"the venues did not get ready in {timeout_s} s") from None
            if line is None:
                raise DemoError(
                    f"the venue process ended before it was ready; its log "
                    f"({self.log_path}):\n{self._log_tail()}"
                )
            record = _json_line(line)
            if record is None:
                self.description.append(line)
            elif "true_parameters" in record:
                self.true_parameters = record["true_parameters"]
            elif "venue" in record:
                self.addresses.append(record)
            elif record.get("ready"):
                return

    def _read(self, stream: TextIO) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, wait (SIGKILL after `timeout_s`); the exit code. Idempotent."""
        process = self.process
        if process is None or self.exit_code is not None:
            return self.exit_code if self.exit_code is not None else 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.exit_code = process.returncode
        while True:  # the rest of its output: the final summary line
            try:
                line = self._lines.get(timeout=2.0)
            except queue.Empty:
                break
            if line is None:
                break
            record = _json_line(line)
            if record is not None and record.get("stopped"):
                self.final = record
        return self.exit_code

    def _log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])


def _json_line(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


# --- configurations ---------------------------------------------------------------------------


def fresh_venues_document(
    template: dict[str, Any], speed: float | None, state_dir: Path | None = None
) -> dict[str, Any]:
    """The venues file with fresh addresses: FIX and retransmission ports chosen by the
    child (0), a fresh multicast group and port per venue; with `state_dir`, each venue
    without a `fix_store_dir` journals its FIX sessions there (one file per session), so a
    venue started again continues its sessions instead of starting them over at 1."""
    from calarb.itch.transport import fresh_multicast_address

    document = json.loads(json.dumps(template))  # a deep copy of plain TOML data
    if speed is not None:
        document["speed"] = speed
    for venue in document.get("venues", []):
        venue["fix_port"] = 0
        market_data = venue.setdefault("market_data", {})
        market_data["group"], market_data["port"] = fresh_multicast_address()
        market_data["retransmission_port"] = 0
        if state_dir is not None and not venue.get("fix_store_dir"):
            venue["fix_store_dir"] = str(state_dir)
    return document


def true_ratio(truths: list[dict[str, Any]], leg_a: str, leg_b: str) -> float | None:
    """The simulator's hedge ratio of leg_a on leg_b (inverted when the pair is reversed)."""
    for truth in truths:
        if (truth["dependent"], truth["driver"]) == (leg_a, leg_b):
            return float(truth["hedge_ratio"])
        if (truth["dependent"], truth["driver"]) == (leg_b, leg_a):
            return 1.0 / float(truth["hedge_ratio"])
    return None


def engine_document(
    template: dict[str, Any],
    venues_document: dict[str, Any],
    venue_process: VenueProcess,
) -> dict[str, Any]:
    """The engine's file: the template's engine, risk and pairs (with true hedge ratios),
    and one [[venues]] table per started venue (its addresses, our credentials, fees)."""
    document = json.loads(json.dumps(template))
    for pair in document.get("pairs", []):
        truth = true_ratio(venue_process.true_parameters, pair["leg_a"], pair["leg_b"])
        if truth is not None:
            pair["true_ratio"] = truth
    tables = {venue["name"]: venue for venue in venues_document["venues"]}
    venues = []
    for address in venue_process.addresses:
        table = tables[address["venue"]]
        if not table.get("participants"):
            raise DemoError(f"venue {address['venue']}: the venues file lists no participant")
        participant = table["participants"][0]
        fix_host, fix_port = address["fix"].rsplit(":", 1)
        group, port = address["market_data"].rsplit(":", 1)
        retransmission_host, retransmission_port = address["retransmission"].rsplit(":", 1)
        venues.append(
            {
                "name": address["venue"],
                "fees": {
                    "taker": int(table.get("fee_per_share", 0)),
                    "maker": -int(table.get("rebate_per_share", 0)),
                },
                "fix": {
                    "BeginString": "FIX.4.4",
                    "SenderCompID": participant["comp_id"],
                    "TargetCompID": address["comp_id"],
                    "SocketConnectHost": fix_host,
                    "SocketConnectPort": int(fix_port),
                    "HeartBtInt": 5,
                    "Username": participant.get("username", ""),
                    "Password": participant.get("password", ""),
                    "ReconnectInterval": 1.0,
                },
                "feed": {
                    "group": group,
                    "port": int(port),
                    "retransmission_host": retransmission_host,
                    "retransmission_port": int(retransmission_port),
                    "session": address["session"],
                    "sources": [address.get("source", "127.0.0.1")],
                },
            }
        )
    document["venues"] = venues
    return document


# --- the run -------------------------------------------------------------------------------------


class StatusLine:
    """One line on a stream, rewritten in place on a terminal (else one line per update)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self._shown = False

    def show(self, text: str) -> None:
        if self.in_place:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self.in_place and self._shown:
            self.stream.write("\n")
            self.stream.flush()


def _status_text(live, sampler, elapsed_s: float, duration_s: float) -> str:
    engine = live.engine
    pnl = sampler.pnl
    z = " ".join(
        f"{name} {value:+.2f}" for name, value in sampler.latest_z().items() if value == value
    )
    return (
        f"[{elapsed_s:5.1f}/{duration_s:g} s] orders {engine.orders_sent} "
        f"fills {len(engine.fills)} P&L net {pnl['net'][-1]:+.2f} "
        f"(realised {pnl['realized'][-1]:+.2f}, fees {pnl['fees'][-1]:.2f}) z {z or '-'}"
    )


async def _trade(config, duration_s: float, progress: TextIO | None):
    import asyncio

    from calarb.trading.live import LiveEngine
    from calarb.trading.report import LiveSampler

    live = LiveEngine(config)
    status = StatusLine(progress) if progress is not None else None
    await live.start()
    if live.ops is not None:
        live.ops.announce(progress or sys.stderr)  # the dashboard's URL and token
    try:
        try:
            await live.wait_ready(ENGINE_READY_TIMEOUT_S)
        except TimeoutError as exc:
            raise DemoError(f"the engine did not get ready: {exc}") from None
        clock = live.clock
        start_ns = clock.monotonic_ns()
        sampler = LiveSampler(live.engine, start_ns)
        runner = asyncio.ensure_future(live.run(duration_s))
        next_status_ns = start_ns
        while not runner.done():
            await asyncio.wait({runner}, timeout=SAMPLE_INTERVAL_S)
            now = clock.monotonic_ns()
            sampler.sample(now)
            if status is not None and now >= next_status_ns:
                status.show(_status_text(live, sampler, (now - start_ns) / 1e9, duration_s))
                next_status_ns += STATUS_INTERVAL_NS
    finally:
        await live.stop()
        if status is not None:
            status.close()
    sampler.sample(clock.monotonic_ns())  # after the cancels: the closing P&L
    return live, sampler


def run_demo(
    duration_s: float,
    report_dir: Path,
    venues_config: Path = DEFAULT_VENUES_CONFIG,
    engine_config: Path = DEFAULT_ENGINE_CONFIG,
    *,
    speed: float | None = None,
    progress: TextIO | None = None,
) -> dict[str, Any]:
    """Run the demo; the summary (also written to `report_dir`)."""
    import asyncio

    import tomli_w

    from calarb.core.config_schema import load_toml
    from calarb.fix.transport import install_uvloop
    from calarb.trading.config import check_run_document, load_config
    from calarb.trading.report import write_live_report
    from calarb.venue.config import VenuesConfig

    # both files checked (calarb.core.config_schema) before anything starts
    user_venues = load_toml(venues_config)
    VenuesConfig.from_mapping(user_venues, venues_config)
    user_engine = load_toml(engine_config)
    check_run_document(user_engine, engine_config)
    report_dir = Path(report_dir).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    venues_document = fresh_venues_document(user_venues, speed, report_dir / "venues" / "fix-store")
    venues_path = report_dir / "venues.toml"
    venues_path.write_text(tomli_w.dumps(venues_document))
    venue_process = VenueProcess(
        venues_path,
        report_dir / "venues",
        report_dir / "venues.log",
        lifetime_s=duration_s + ENGINE_READY_TIMEOUT_S + VENUE_LIFETIME_MARGIN_S,
    )
    try:
        venue_process.start()
        if progress is not None:
            print("\n".join(venue_process.description), file=progress)
            print(clock_text(venue_speed(venues_document), duration_s), file=progress)
        document = engine_document(user_engine, venues_document, venue_process)
        engine_path = report_dir / "engine.toml"
        engine_path.write_text(tomli_w.dumps(document))
        config = load_config(engine_path).with_dashboard()
        install_uvloop()
        live, sampler = asyncio.run(_trade(config, duration_s, progress))
    finally:
        venue_exit = venue_process.stop()
    summary = _summary(live, config, venue_process, venue_exit, duration_s, report_dir)
    summary["clock"] = {
        "simulated_s_per_real_s": venue_speed(venues_document),
        "engine": "real time (its latencies and timeouts are real)",
    }
    write_live_report(summary, sampler, live.recorder.histogram(), report_dir)
    return summary


def venue_speed(venues_document: dict[str, Any]) -> float:
    """Simulated seconds per real second of the venues' market (`speed`, default 1)."""
    return float(venues_document.get("speed", 1.0))


def clock_text(speed: float, duration_s: float) -> str:
    return (
        f"clock: the venues' market runs {speed:g} simulated seconds per real second "
        f"({duration_s:g} s of trading = {duration_s * speed:g} simulated seconds); the engine "
        "runs on real time, so its latencies and timeouts are real"
    )


DETERMINISM_NOTE = (
    "A run over sockets differs from the next: the market runs on the wall clock, so when each "
    "packet and report arrives, and so what the strategy sees and does, changes with the "
    "machine's scheduling. A backtest (calarb backtest) or a lock-step paper run over the same "
    "data gives the same orders every time."
)


def _finite(value: Any) -> Any:
    """NaN and infinities (a model not ready) as null, so summary.json is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _summary(live, config, venue_process, venue_exit, duration_s, report_dir) -> dict[str, Any]:
    summary = live.summary()
    summary["tick_to_trade_stages_us"] = live.recorder.order_stage_summary_us()
    stamps = sorted({feed.get("arrival_stamp", "read time") for feed in summary["feeds"].values()})
    summary["tick_to_trade_from"] = " / ".join(stamps)  # where `decoded` starts counting
    summary["pair_rules"] = {
        pair.strategy.name: {
            "entry": pair.strategy.rules.entry,
            "exit": pair.strategy.rules.exit,
            "stop": pair.strategy.rules.stop,
        }
        for pair in config.pairs
    }
    summary["true_parameters"] = venue_process.true_parameters
    summary["duration_s"] = duration_s
    summary["venue_process"] = {
        "exit_code": venue_exit,
        "venues": [address["venue"] for address in venue_process.addresses],
        "summary": venue_process.final,
    }
    callback_errors = sum(feed["callback_errors"] for feed in summary["feeds"].values())
    summary["clean"] = (
        venue_exit == 0
        and summary["open_orders"] == 0
        and callback_errors == 0
        and not summary["kill_switch"]["engaged"]
    )
    summary["report_dir"] = str(report_dir)
    summary["determinism_note"] = DETERMINISM_NOTE
    return _finite(summary)


# --- printing -----------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  " + "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )

    return [line(header), *(line(row) for row in rows)]


def _holding_text(summary: dict[str, Any]) -> str:
    """Ends flat, or what it holds, marked at the last mid (unrealised P&L is on those)."""
    held = {s: q for s, q in summary["positions"].items() if q}
    if not held:
        return "positions: flat at the end (open orders cancelled, nothing held)"
    return (
        "positions held at the end (the stop cancels orders but does not close positions), "
        "marked at the last mid:\n" + positions_table(held, summary.get("marks", {}))
    )


def format_summary(summary: dict[str, Any]) -> str:
    pnl = summary["pnl"]
    rejects = ", ".join(f"{reason} {count}" for reason, count in summary["rejects"].items())
    venues = ", ".join(summary["venue_process"]["venues"])
    lines = [
        f"calarb demo: {summary['duration_s']:g} s of trading against {venues} "
        f"({summary['market_data_messages']:,} market-data messages)",
        f"orders sent {summary['orders_sent']}, fills {summary['fills']} "
        f"({summary['filled_shares']:,} shares), cancels {summary['cancels']}, "
        f"legging events {summary['legging_events']}, open at the end {summary['open_orders']}",
        f"rejects: {rejects or 'none'}",
        clock_text(summary["clock"]["simulated_s_per_real_s"], summary["duration_s"])
        if "clock" in summary else "",
        _holding_text(summary),
        f"P&L: realised {pnl['realized']:.2f}, unrealised {pnl['unrealized']:.2f}, "
        f"fees {pnl['fees']:.2f}, net {pnl['net']:.2f}",
        "",
        "hedge ratios (model vs simulator):",
    ]
    rows = []
    for name, ratio in summary["hedge_ratios"].items():
        estimated, truth = ratio["estimated"], ratio["true"]
        error = f"{(estimated - truth) / truth:+.1%}" if estimated is not None and truth else "-"
        rows.append([
            name,
            "-" if estimated is None else f"{estimated:.4f}",
            "-" if truth is None else f"{truth:.4f}",
            error,
        ])  # fmt: skip
    lines += _table(["pair", "estimated", "true", "error"], rows)
    lines += [
        "",
        "tick to trade (us), ticks that sent an order, by stage, from the datagram's "
        f"{summary.get('tick_to_trade_from', 'read time')} stamp to the send's return:",
    ]
    rows = [
        [stage, f"{s['p50']:.1f}", f"{s['p99']:.1f}", f"{s['p999']:.1f}", f"{s['count']:,}"]
        for stage, s in summary["tick_to_trade_stages_us"].items()
    ]
    ttt = summary["tick_to_trade_us"]
    rows.append(["tick to trade", f"{ttt['p50']:.1f}", f"{ttt['p99']:.1f}",
                 f"{ttt['p999']:.1f}", f"{ttt['count']:,}"])  # fmt: skip
    lines += _table(["stage", "p50", "p99", "p99.9", "count"], rows)
    lines += ["", DETERMINISM_NOTE]
    lines += ["", f"report: {summary['report_dir']}/report.html (summary.json beside it)"]
    if not summary["clean"]:
        lines.append("NOT CLEAN: see summary.json (open orders, venue exit code, feed errors)")
    return "\n".join(lines)
