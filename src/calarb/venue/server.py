"""Running venues: one asyncio process, one shared fair-value process, N independent venues.

Each venue has its own matching engine, background traders (own seed), FIX acceptor (its
`VenueGateway` as the application of every participant's session) and ITCH/MoldUDP64 market
data. Simulated time runs at `speed` simulated seconds per real second: the event loop steps
the shared `FairValueProcess` whenever a step is due, then every venue's traders act, its
scheduled faults fire, its book changes are published and its order outcomes routed to FIX.
A FIX request is handled at the venue's current simulated time (after the venue's one-way
order latency, when configured); engine timestamps never go backwards.

On stop (SIGINT/SIGTERM, or after `--duration`) the venues log their FIX participants out,
publish the last changes, write `<venue>.books.json` (the displayed books, in the shape
`feed_book_snapshot` gives for a feed client's books) and `<venue>.trades.json` (every
execution) to the output directory, end the ITCH day, keep answering gap requests for
`linger_s`, and close.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from calarb.book.order_book import OrderBook
from calarb.core.clock import Clock, LiveClock
from calarb.core.types import Side
from calarb.fix.codec import FixMessage
from calarb.fix.config import SessionSettings
from calarb.fix.messages import decode_order_request
from calarb.fix.session import FixSession
from calarb.fix.transport import FixAcceptor
from calarb.venue.config import NS_PER_S, Fault, VenueConfig, VenuesConfig
from calarb.venue.gateway import Request, VenueGateway, acceptor_settings
from calarb.venue.itch_publisher import HALTED, TRADING
from calarb.venue.market_data import VenueMarketData, instance_session
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import Execution
from calarb.venue.synthetic import BackgroundTraders, FairValueProcess

log = logging.getLogger(__name__)

BACKGROUND_PREFIX = "SYN-"
"""Background traders are named SYN-MM1, SYN-NT1, ... (never a FIX participant's CompID)."""
MAX_STEPS_PER_TURN = 20  # market steps between two turns of the event loop when behind
PAUSE_NOTICE_S = 1.0  # told once when the market falls this far behind real time


# --- book and trade records (JSON) ---------------------------------------------------------


def engine_book_snapshot(engine: MatchingEngine) -> dict[str, dict[str, Any]]:
    """The engine's displayed books: per symbol, levels per side (price, shares, orders),
    every displayed resting order (reference, side, price, shares) and the trading state."""
    snapshot = {}
    for symbol in engine.instruments:
        orders = [
            [state.order_id, state.side.code, state.price, state.leaves]
            for side in (Side.BUY, Side.SELL)
            for state in engine.resting_orders(symbol, side)
            if state.displayed
        ]
        snapshot[symbol] = {
            "bids": [list(level) for level in engine.depth(symbol, Side.BUY)],
            "asks": [list(level) for level in engine.depth(symbol, Side.SELL)],
            "orders": sorted(orders),
            "state": HALTED if engine.is_halted(symbol) else TRADING,
        }
    return snapshot


def feed_book_snapshot(books: Mapping[str, OrderBook]) -> dict[str, dict[str, Any]]:
    """The same record for books rebuilt from the feed (`ItchBookFeed.books`)."""
    return {
        symbol: {
            "bids": [list(level) for level in book.levels(Side.BUY)],
            "asks": [list(level) for level in book.levels(Side.SELL)],
            "orders": sorted([o.ref, o.side.code, o.price, o.shares] for o in book.orders()),
            "state": book.trading_state,
        }
        for symbol, book in books.items()
    }


def trade_record(execution: Execution) -> dict[str, Any]:
    """One execution as JSON: the venue's trade log line."""
    record = execution._asdict()
    record["aggressor_side"] = execution.aggressor_side.code
    return record


# --- one venue -------------------------------------------------------------------------------


class VenueClock:
    """The venue's simulated time: `start_ns` plus real elapsed time times `speed`, never
    going backwards (steps and FIX requests may be served a little late)."""

    def __init__(self, start_ns: int, speed: float, loop_time: Callable[[], float]) -> None:
        self.start_ns = start_ns
        self.speed = speed
        self._loop_time = loop_time
        self._origin = loop_time()
        self.last_ns = start_ns

    def target_ns(self) -> int:
        """Where simulated time should be now."""
        return self.start_ns + int((self._loop_time() - self._origin) * self.speed * NS_PER_S)

    def stamp(self, timestamp_ns: int | None = None) -> int:
        """A timestamp for the engine: `timestamp_ns` (default: now), never before the last."""
        if timestamp_ns is None:
            timestamp_ns = self.target_ns()
        if timestamp_ns > self.last_ns:
            self.last_ns = timestamp_ns
        return self.last_ns

    def real_seconds_until(self, timestamp_ns: int) -> float:
        return max(0.0, (timestamp_ns - self.target_ns()) / NS_PER_S / self.speed)


class _DelayedOrders:
    """The FIX application of a venue with added order latency: requests are parsed at once
    (so the session answers malformed ones), carried out `latency_s` later."""

    def __init__(self, venue: Venue, latency_s: float) -> None:
        self.venue = venue
        self.latency_s = latency_s

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        request = decode_order_request(message)
        asyncio.get_running_loop().call_later(self.latency_s, self.venue.execute, session, request)


class Venue:
    """One venue's engine, traders, gateway, FIX acceptor and market data."""

    def __init__(
        self,
        config: VenueConfig,
        all_config: VenuesConfig,
        fair_values: FairValueProcess,
        clock: VenueClock,
        fix_clock: Clock,
        seed: int,
    ) -> None:
        self.config = config
        self.fair_values = fair_values
        self.clock = clock
        symbols = set(config.symbol_list(all_config.synthetic))
        synthetic = dataclasses.replace(
            all_config.synthetic,
            symbols=tuple(s for s in all_config.synthetic.symbols if s.symbol in symbols),
            pairs=(),  # pairs shape the shared fair values only
        )
        self.engine = MatchingEngine(synthetic.instruments())
        self.traders = BackgroundTraders(self.engine, synthetic, seed, BACKGROUND_PREFIX)
        self.faults = config.faults.schedule()
        self._deferred_disconnects: list[str] = []  # participants to drop once connected
        # the trade log, one JSON line per execution, on disk: memory stays flat all day
        self.trade_log = tempfile.TemporaryFile("w+", encoding="ascii")  # noqa: SIM115
        self.trade_count = 0
        latency_s = config.order_latency_ms / 1000.0
        self._latency_s = latency_s
        # names this start: its market-data session and its ExecIDs (a restarted venue's
        # executions must not repeat the ids the last instance gave, or they are duplicates)
        self.instance_ns = fix_clock.wall_ns()
        instance = instance_session("", self.instance_ns)
        self.gateway = VenueGateway(
            self.engine,
            config.participants,
            clock.stamp,
            fix_clock,
            exec_id_prefix=f"{config.name}-{instance}-",
            fee_per_share=config.fee_per_share,
            rebate_per_share=config.rebate_per_share,
            defer=self._defer if latency_s > 0 else None,
        )
        application = self if latency_s <= 0 else _DelayedOrders(self, latency_s)

        def application_for(settings: SessionSettings) -> Venue | _DelayedOrders:
            self.gateway.application_for(settings)  # checks that it is a participant
            return application

        self.acceptor: FixAcceptor | None = None
        if config.participants:
            self.acceptor = FixAcceptor(
                acceptor_settings(
                    config.comp_id, config.participants, config.fix_port, config.fix_store_dir
                ),
                application_for,
                clock=fix_clock,
                authenticate=self.gateway.authenticate,
                on_event=self.gateway.on_session_event,
            )
        self.market_data: VenueMarketData | None = None
        self.fix_port = 0

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> dict[str, Any]:
        """Bind the sockets, start the day, publish the opening quotes; returns addresses."""
        self.market_data = await VenueMarketData.open(
            self.config.market_data, self.engine.instruments, self.instance_ns
        )
        if self.acceptor is not None:
            self.fix_port = await self.acceptor.start("127.0.0.1", self.config.fix_port)
        now = self.clock.stamp(self.fair_values.now_ns)
        self.market_data.start_of_day(now)
        self.traders.act(now, self.fair_values)
        self.publish()
        group, port = self.market_data.group_address
        host, retransmission_port = self.market_data.retransmission_address
        source_host, source_port = self.market_data.source_address
        return {
            "venue": self.name,
            "fix": f"127.0.0.1:{self.fix_port}" if self.acceptor is not None else None,
            "comp_id": self.config.comp_id,
            "market_data": f"{group}:{port}",
            "session": self.market_data.session,
            "source": f"{source_host}:{source_port}",
            "retransmission": f"{host}:{retransmission_port}",
            "symbols": list(self.engine.instruments),
        }

    # --- driving ---------------------------------------------------------------------------

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        """The FIX application (no added latency): carry the request out now."""
        self.execute(session, decode_order_request(message))

    def execute(self, session: FixSession, request: Request) -> None:
        try:
            self.gateway.execute(session, request)
        finally:
            self.publish()

    def step(self, timestamp_ns: int) -> None:
        """A fair-value step happened: faults due, traders act, changes go out."""
        now = self.clock.stamp(timestamp_ns)
        if self._deferred_disconnects:
            self._deferred_disconnects = [
                target for target in self._deferred_disconnects if not self._disconnect(target)
            ]
        for fault in self.faults.due(timestamp_ns - self.clock.start_ns):
            self.apply_fault(fault, now)
        self.traders.act(now, self.fair_values)
        self.publish()

    def apply_fault(self, fault: Fault, now: int) -> None:
        log.warning("venue %s: fault %s %s", self.name, fault.kind, fault.target)
        if fault.kind == "halt":
            self.engine.halt(now, fault.target, fault.reason)
        elif fault.kind == "resume":
            self.engine.resume(now, fault.target, fault.reason)
        elif fault.kind == "disconnect" and not self._disconnect(fault.target):
            # Nobody to drop yet (a participant logging on late): the fault waits for it, so
            # a scheduled disconnect is never lost to start-up timing.
            log.warning("venue %s: %s not connected, disconnect deferred", self.name,
                        fault.target)  # fmt: skip
            self._deferred_disconnects.append(fault.target)

    def _disconnect(self, target: str) -> bool:
        """Close the connections of `target`'s sessions; False when it has none ("*" always
        counts as done)."""
        dropped = target == "*"
        for session in self.gateway.sessions_to_drop(target):
            transport = getattr(self.acceptor.connection_for(session), "transport", None)
            if transport is not None:
                transport.close()  # abrupt: no Logout, as a network failure would be
                dropped = True
        return dropped

    def publish(self) -> None:
        """Book changes to market data (and the trade log), order outcomes to FIX."""
        events = self.engine.take_book_events()
        if events:
            self._log_trades(events)
            assert self.market_data is not None
            self.market_data.publish_events(events)
        self.gateway.dispatch_reports()
        self.flush()

    def _log_trades(self, events: list) -> None:
        lines = [json.dumps(trade_record(e)) for e in events if type(e) is Execution]
        if lines:
            self.trade_log.write("\n".join(lines) + "\n")
            self.trade_count += len(lines)

    def trades(self) -> list[dict[str, Any]]:
        """Every execution so far (`trade_record`s), read back from the trade log."""
        self.trade_log.flush()
        self.trade_log.seek(0)
        records = [json.loads(line) for line in self.trade_log]
        self.trade_log.seek(0, 2)
        return records

    def flush(self) -> None:
        for session in self.gateway.take_touched_sessions():
            connection = self.acceptor.connection_for(session)
            if connection is not None:
                connection.flush()

    def _defer(self, action: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(self._latency_s, self._run_deferred, action)

    def _run_deferred(self, action: Callable[[], None]) -> None:
        action()
        self.flush()

    # --- stopping --------------------------------------------------------------------------

    async def log_out(self, timeout_s: float = 1.0) -> None:
        """Logout every logged-on participant and wait (briefly) for the answers."""
        if self.acceptor is None:
            return
        waits = []
        for session in self.acceptor.sessions.values():
            connection = self.acceptor.connection_for(session)
            if connection is not None and session.logged_on:
                fix_clock = self.acceptor.clock
                session.logout(fix_clock.monotonic_ns(), fix_clock.wall_ns(), "venue closing")
                connection.flush()
                waits.append(asyncio.shield(connection.closed))
        if waits:
            await asyncio.wait(waits, timeout=timeout_s)
        await self.acceptor.stop()

    def write_records(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        books = directory / f"{self.name}.books.json"
        books.write_text(json.dumps(engine_book_snapshot(self.engine)))
        trades = directory / f"{self.name}.trades.json"
        self.trade_log.flush()
        self.trade_log.seek(0)
        with trades.open("w", encoding="ascii") as out:  # the log's lines as one JSON array
            out.write("[")
            for index, line in enumerate(self.trade_log):
                out.write(("," if index else "") + line.rstrip("\n"))
            out.write("]")
        self.trade_log.seek(0, 2)

    async def end_day(self) -> None:
        assert self.market_data is not None
        await self.market_data.end_of_day(self.clock.stamp())

    async def close(self) -> None:
        if self.market_data is not None:
            await self.market_data.close()
        self.trade_log.close()


# --- the process -----------------------------------------------------------------------------


class VenueServer:
    """Runs every venue of a `VenuesConfig` on the running event loop."""

    def __init__(
        self,
        config: VenuesConfig,
        output_dir: str | Path | None = None,
        fix_clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.fix_clock = fix_clock or LiveClock()
        self.fair_values = FairValueProcess(config.synthetic)
        self.venues: list[Venue] = []
        self.clock: VenueClock | None = None
        self._stop = asyncio.Event()

    async def start(self) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        synthetic = self.config.synthetic
        self.clock = VenueClock(synthetic.start_ns, self.config.speed, loop.time)
        addresses = []
        try:
            for index, venue_config in enumerate(self.config.venues):
                seed = venue_config.seed
                if seed is None:
                    seed = synthetic.seed * 1_000 + index + 1
                venue = Venue(
                    venue_config, self.config, self.fair_values, self.clock, self.fix_clock, seed
                )
                self.venues.append(venue)
                addresses.append(await venue.start())
        except BaseException:
            for venue in self.venues:
                if venue.acceptor is not None:
                    await venue.acceptor.stop()
                await venue.close()
            raise
        return addresses

    def stop(self) -> None:
        """Ask `run` to finish (safe from a signal handler)."""
        self._stop.set()

    async def run(self, duration_s: float | None = None) -> None:
        """Step simulated time until `stop()` or `duration_s` real seconds, then shut down."""
        assert self.clock is not None, "call start() first"
        loop = asyncio.get_running_loop()
        deadline = None if duration_s is None else loop.time() + duration_s
        step_ns = self.config.synthetic.step_ns
        clock = self.clock
        try:
            behind_told = False
            while not self._stop.is_set():
                target = clock.target_ns()
                # At most MAX_STEPS_PER_TURN steps before the loop runs again: after a pause
                # (SIGSTOP, an overloaded machine) the market catches up in bursts with FIX
                # sessions and gap requests served between them, not in one long turn that
                # leaves Logons unanswered until the peers time out.
                steps = 0
                while self.fair_values.now_ns + step_ns <= target and steps < MAX_STEPS_PER_TURN:
                    now = self.fair_values.step()
                    for venue in self.venues:
                        venue.step(now)
                    steps += 1
                wait = clock.real_seconds_until(self.fair_values.now_ns + step_ns)
                behind_s = (target - self.fair_values.now_ns) / 1e9 / clock.speed
                if behind_s > PAUSE_NOTICE_S and not behind_told:
                    behind_told = True
                    log.warning(
                        "market time %.1f real s behind (process paused or overloaded): "
                        "catching up, FIX and gap requests served between steps", behind_s
                    )
                elif wait > 0:
                    behind_told = False
                if deadline is not None:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    wait = min(wait, left)  # stepping may lag (wait <= 0): that is no deadline
                if wait <= 0:
                    await asyncio.sleep(0)  # behind: let the connections run, then go on
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), max(wait, 0.0005))
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        for venue in self.venues:
            with contextlib.suppress(Exception):
                await venue.log_out()
        for venue in self.venues:
            venue.publish()
            if self.output_dir is not None:
                venue.write_records(self.output_dir)
            await venue.end_day()
        if self.config.linger_s:
            await asyncio.sleep(self.config.linger_s)
        for venue in self.venues:
            await venue.close()


async def serve(
    config: VenuesConfig,
    duration_s: float | None = None,
    output_dir: str | Path | None = None,
    out: TextIO = sys.stdout,
    attach: Callable[[VenueServer], contextlib.AbstractAsyncContextManager[dict]] | None = None,
) -> int:
    """`calarb venue`: print the true pair parameters and the venues' addresses (one JSON
    object per line), then run until SIGINT/SIGTERM or `duration_s`. `attach`: what runs
    beside the venues while they trade (the command's metrics endpoint); the dict it gives
    is printed as one more JSON line before `{"ready": true}`."""
    server = VenueServer(config, output_dir)
    print(config.synthetic.describe(), file=out)
    print(json.dumps({"true_parameters": config.synthetic.true_parameters()}), file=out)
    addresses = await server.start()
    for address in addresses:
        print(json.dumps(address), file=out)
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal_number, server.stop)
    async with contextlib.AsyncExitStack() as stack:
        if attach is not None:
            attached = await stack.enter_async_context(attach(server))
            if attached:
                print(json.dumps(attached), file=out)
        print(json.dumps({"ready": True, "speed": config.speed}), file=out, flush=True)
        await server.run(duration_s)
    summary = {
        "stopped": True,
        "venues": {
            venue.name: {
                "trades": venue.trade_count,
                "gateway": venue.gateway.stats.as_dict(),
                "market_data": dataclasses.asdict(venue.market_data.stats)
                if venue.market_data
                else {},
            }
            for venue in server.venues
        },
    }
    print(json.dumps(summary), file=out, flush=True)
    return 0
