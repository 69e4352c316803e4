"""The live runner: the trading engine against external venues, on one asyncio loop.

One process, one thread, one loop (uvloop when installed). Per venue: a `MoldSubscriber`
(MoldUDP64 multicast on 127.0.0.1 with gap re-requests) whose messages go straight into
`TradingEngine.on_market_data` with the datagram's arrival stamp (the kernel's receive
time, SO_TIMESTAMPNS, carried over to the monotonic clock the latency recorder reads: see
`calarb.itch.transport`; so tick to trade counts from the kernel's stamp), and a `FixInitiator` whose
session carries a `FixOrderGateway`. A timer task runs `engine.on_timer` (legging timeouts,
post-trade checks), the gateways' reconciliation deadlines and the kill-file check.

A new trading day (`new_day=True`, what `calarb run` does without `--resume`): a journal
that ended flat with no open orders is archived (`archive_journal`) and the run starts with
no positions and zero P&L; one that ended holding positions or open orders stops the start
with a `CarryOverError` saying what it holds (carrying them over must be asked for).

Start-up: the journal (if configured) is replayed (`restore_from_journal`: positions, P&L
and open orders come back, the risk gate is rebuilt, the strategy takes back its legs; the
replayed fills are kept apart, so the fill counters count this run's), the strategy's
ClOrdIDs get a new run number so they never collide with the journal's, and the risk gate's
trading state stays WARMING_UP (the strategy is not asked) until every feed has caught up
with its session and every FIX session has logged on. After each Logon the gateway
reconciles the venue's open orders.

Kill switch: SIGUSR1, the kill file appearing, or `kill()`: HALTED for good, every open order
cancelled (and positions flattened if configured). SIGINT/SIGTERM or the duration ending stop
the run: REDUCING, open orders cancelled (unless told otherwise), FIX sessions log out,
sockets close, the journal is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calarb.core.clock import Clock, LiveClock
from calarb.core.config_schema import ConfigError
from calarb.core.types import PRICE_SCALE
from calarb.fix.transport import FixInitiator, install_uvloop
from calarb.ops.latency import LatencyRecorder
from calarb.ops.service import OpsService
from calarb.trading.config import RunConfig
from calarb.trading.engine import Fill, TradingEngine
from calarb.trading.fix_gateway import FixOrderGateway
from calarb.trading.incidents import IncidentLog
from calarb.trading.journal import (
    Journal,
    JournalContents,
    JournalEntry,
    archive_journal,
    read_journal,
)
from calarb.trading.oms import OrderManager
from calarb.trading.portfolio import Portfolio
from calarb.trading.risk import TradingState
from calarb.trading.strategy import PairsStrategy
from calarb.trading.strategy_api import StrategyHost
from calarb.trading.venue_feed import VenueFeed, session_name

log = logging.getLogger("calarb.trading.live")
_WARMING_UP = TradingState.WARMING_UP
_HALTED = TradingState.HALTED
_WAIT_LOG_INTERVAL_NS = 5_000_000_000
CANCEL_WAIT_ROUND_TRIPS = 3
"""A stop waits for its cancels' answers this many of the slowest venue's recent round trips
(at least `timeout_s`): a venue slowed by a loaded machine answers in seconds, not ms."""
CANCEL_WAIT_MAX_S = 30.0

__all__ = [
    "LiveClock",
    "LiveEngine",
    "VenueFeed",
    "restore_from_journal",
    "run_live",
]


def restore_from_journal(
    engine: TradingEngine, entries: list[JournalEntry], now_ns: int
) -> list[Fill]:
    """Bring a freshly built engine back to where the journal's run left it: the OMS
    replays the orders and reports (the portfolio gets the positions and P&L back), the risk
    gate is rebuilt (positions, open orders, used ClOrdIDs) and the strategy takes back its
    legs (`PairsStrategy.restore`: positions, working orders, transitions).

    Returns the replayed fills. They are not this run's: the engine's fill counters
    (`fills`, `filled_shares`) start from zero after the restore."""
    engine.oms.replay(entries)
    engine.risk.rebuild(
        engine.oms.open_orders(),
        {s: engine.portfolio.quantity(s) for s in engine.portfolio.positions},
        engine.oms.parent_ids(),
    )
    engine.strategy.restore(engine.oms.orders(), now_ns)
    replayed = list(engine.fills)
    engine.fills.clear()
    engine.filled_shares = 0
    return replayed


_NUMBERS = re.compile(r"[\d.,]+")  # sequence numbers, gap bounds, seconds: not a new kind


_RUN_ID = re.compile(r"^(?P<prefix>.*?)(?P<run>\d+)-\d+$")


def next_run_prefix(prefix: str, parent_ids: list[str]) -> str:
    """`prefix<n>-` with n one past the highest run number in the journal's parent ids."""
    highest = 0
    for parent in parent_ids:
        match = _RUN_ID.match(parent)
        if match and match["prefix"] == prefix:
            highest = max(highest, int(match["run"]))
    return f"{prefix}{highest + 1}-"


class CarryOverError(ConfigError):
    """A new trading day was asked for, but the journal's last run did not end flat."""


class LiveEngine:
    """The engine, its venues' feeds and FIX sessions, timers and kill switch."""

    def __init__(
        self,
        config: RunConfig,
        *,
        clock: Clock | None = None,
        recorder: LatencyRecorder | None = None,
        new_day: bool = False,
    ) -> None:
        self.config = config
        self.new_day = new_day
        self.archived_journal: Path | None = None
        self.clock = clock or LiveClock()
        self.recorder = recorder if recorder is not None else LatencyRecorder(self.clock)
        self.journal: Journal | None = None
        self.replayed: JournalContents | None = None
        self.replayed_fills: list[Fill] = []  # the journal's fills, from earlier runs
        self.gateways: dict[str, FixOrderGateway] = {}
        self.initiators: dict[str, FixInitiator] = {}
        self.feeds: dict[str, VenueFeed] = {}
        self.started_ns = 0
        self.engine = self._build_engine()
        self.incidents = IncidentLog(self.engine, self.gateways)
        self._stop = asyncio.Event()
        self._timer_task: asyncio.Task[None] | None = None
        self._kill_deadline_ns: int | None = None  # after the kill switch: stop by then
        self._signals: list[int] = []
        self.wait_reason: str | None = "starting"
        """Why the strategy is not trading yet (None once it is)."""
        self._wait_kinds: list[str] = []
        self._wait_logged_ns = 0

        self.ops: OpsService | None = None  # metrics, alerts, dashboard, control (see start)

    # -- construction ----------------------------------------------------------------------

    def _build_engine(self) -> TradingEngine:
        config = self.config
        entries = []
        if config.journal is not None:
            try:
                config.journal.parent.mkdir(parents=True, exist_ok=True)
                if self.new_day:
                    self.archived_journal = self._start_new_day(config.journal)
                self.journal, self.replayed = Journal.open(config.journal)
            except OSError as exc:  # a start-up error: one line naming the journal
                reason = f"cannot open the journal: {exc.strerror or exc}"
                raise OSError(exc.errno, reason, str(config.journal)) from None
            entries = self.replayed.entries
        prefix = next_run_prefix(
            config.id_prefix, [e.payload.parent_id for e in entries if e.kind == "order"]
        )
        if config.strategy is not None:  # a `calarb.Strategy`, in its engine host
            strategy = StrategyHost(config.strategy.build(), id_prefix=prefix)
        else:
            strategy = PairsStrategy(
                [(pair.strategy, pair.build_model()) for pair in config.pairs], id_prefix=prefix
            )
        for venue in config.venues:
            initiator = FixInitiator(venue.fix, clock=self.clock, on_event=self._session_event)
            self.initiators[venue.name] = initiator
            self.gateways[venue.name] = FixOrderGateway(
                venue.name,
                initiator.session,
                initiator.flush,
                self.clock,
                recorder=self.recorder,
                reconcile_timeout_ns=config.reconcile_timeout_ns,
            )
        engine = TradingEngine(
            self.clock,
            strategy,
            self.gateways,
            fees={venue.name: venue.fees for venue in config.venues},
            risk_limits=config.limits,
            recorder=self.recorder,
            journal=self.journal,
            true_hedge_ratios={
                p.strategy.name: p.true_ratio for p in config.pairs if p.true_ratio is not None
            },
            trading_state=TradingState.WARMING_UP,  # until feeds and sessions are ready
        )
        if isinstance(strategy, StrategyHost):
            strategy.attach(engine)
        if entries:
            self.replayed_fills = restore_from_journal(engine, entries, self.clock.monotonic_ns())
        for gateway in self.gateways.values():
            gateway.attach(engine, engine.oms, engine.router)
        for venue in config.venues:
            self.feeds[venue.name] = VenueFeed(venue.name, engine, self.clock, venue.feed.session)
        return engine

    def _start_new_day(self, path: Path) -> Path | None:
        """Archive the journal if its run ended flat with no open orders (else raise
        CarryOverError); None when there was nothing to archive."""
        entries = read_journal(path).entries
        if not entries:
            return None
        portfolio = Portfolio({venue.name: venue.fees for venue in self.config.venues})
        oms = OrderManager([portfolio])  # the journal's orders and fills, nothing else
        oms.replay(entries)
        held = {s: p.quantity for s, p in sorted(portfolio.positions.items()) if p.quantity}
        open_orders = oms.open_count
        if held or open_orders:
            holding = ", ".join(f"{s} {q:+d}" for s, q in held.items()) or "no positions"
            raise CarryOverError(
                f"{path}: the last run ended holding {holding} and {open_orders} open "
                "order(s); `calarb run --resume` carries them over (a new day needs it flat)"
            )
        return archive_journal(path)

    def _session_event(self, session, event) -> None:
        for name, gateway in self.gateways.items():
            if gateway.session is session:
                gateway.on_session_event(event)
                self.incidents.on_session_event(name, event, self.clock.monotonic_ns())
                return

    # -- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the feeds, start the FIX sessions, the timer and the signal handlers."""
        self.started_ns = self.clock.monotonic_ns()
        for venue in self.config.venues:
            await self.feeds[venue.name].open(venue)
            self.initiators[venue.name].start()
        loop = asyncio.get_running_loop()
        self._timer_task = loop.create_task(self._timer())
        for signum, handler in (
            (signal.SIGUSR1, lambda: self.kill("signal SIGUSR1")),
            (signal.SIGINT, self.request_stop),
            (signal.SIGTERM, self.request_stop),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, handler)
                self._signals.append(signum)
        if self.config.pid_file is not None:
            self.config.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.config.pid_file.write_text(f"{os.getpid()}\n")
        self.ops = OpsService(self, self.config.operations)
        await self.ops.start()
        # Everything built so far lives for the run: out of the collector's sight, so a
        # collection walks only what the run allocates (what the tick2trade benchmark does).
        gc.collect()
        gc.freeze()

    async def _timer(self) -> None:
        interval = self.config.timer_interval_ns / 1e9
        kill_file = self.config.kill_file
        while True:
            await asyncio.sleep(interval)
            now = self.clock.monotonic_ns()
            try:
                risk = self.engine.risk
                if kill_file is not None and risk.state is not _HALTED and kill_file.exists():
                    self.kill(f"kill file {kill_file}")
                if self._kill_deadline_ns is not None and (
                    now >= self._kill_deadline_ns or self._kill_done()
                ):
                    self._kill_deadline_ns = None
                    self.request_stop()  # the kill switch ends the run
                if risk.state is _WARMING_UP:
                    self._check_warm_up()
                for gateway in self.gateways.values():
                    gateway.on_timer(now)
                self.engine.on_timer(now)
                self.incidents.on_timer(now)
                self.recorder.flush()  # histograms folded between ticks, not on one
            except Exception:  # the timer must keep running whatever one tick did
                log.exception("timer tick failed")

    def waiting_for(self) -> list[str]:
        """What the strategy waits for (empty: nothing), one reason per feed or session."""
        reasons = []
        for name, feed in self.feeds.items():
            reason = feed.waiting_for()
            if reason is not None:
                reasons.append(f"feed {name}: {reason}")
        for name, gateway in self.gateways.items():
            if not gateway.connected:
                reasons.append(f"FIX {name}: not logged on")
            elif gateway.reconciliation is not None:
                reasons.append(f"FIX {name}: reconciling open orders")
        return reasons

    def _check_warm_up(self) -> None:
        reasons = self.waiting_for()
        if not reasons:
            self.wait_reason = None
            self.engine.risk.start_trading("feeds caught up and sessions logged on")
            log.info("feeds caught up and sessions logged on: strategy running")
            return
        reason = "; ".join(reasons)
        now = self.clock.monotonic_ns()
        kinds = [_NUMBERS.sub("#", r) for r in reasons]  # a new kind of wait is told at once
        if kinds != self._wait_kinds or now - self._wait_logged_ns >= _WAIT_LOG_INTERVAL_NS:
            log.info("strategy waiting: %s", reason)
            self._wait_kinds = kinds
            self._wait_logged_ns = now
        self.wait_reason = reason

    async def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Wait until the warm-up is over (TimeoutError naming what is missing)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.engine.risk.state is _WARMING_UP:
            if loop.time() > deadline:
                waiting = "; ".join(self.waiting_for()) or "the timer"
                raise TimeoutError(f"not ready after {timeout_s} s: waiting for {waiting}")
            await asyncio.sleep(0.01)

    def kill(self, reason: str = "manual") -> None:
        """Engage the kill switch (idempotent)."""
        if self.engine.risk.state is _HALTED:
            return
        log.warning("kill switch: %s", reason)
        self.engine.kill(reason, flatten=self.config.flatten_on_kill)
        if self.config.stop_on_kill:  # else HALTED until stopped, for the operator to inspect
            self._kill_deadline_ns = self.clock.monotonic_ns() + KILL_GRACE_NS

    def _kill_done(self) -> bool:
        """Cancels answered and, when flattening, positions closed."""
        if self.engine.oms.open_count:
            return False
        return not self.config.flatten_on_kill or not self.holdings()

    def holdings(self) -> dict[str, int]:
        """Symbols held (non-zero quantity)."""
        positions = self.engine.portfolio.positions
        return {s: p.quantity for s, p in sorted(positions.items()) if p.quantity}

    def status_line(self) -> str:
        """One line for the operator: state, each venue's feed and session, orders, P&L."""
        engine = self.engine
        seconds = (self.clock.monotonic_ns() - self.started_ns) // 1_000_000_000
        venues = " ".join(
            f"{name}[feed {'ok' if self.feeds[name].caught_up else 'catching up'}, "
            f"FIX {'on' if gateway.connected else 'DOWN'}]"
            for name, gateway in self.gateways.items()
        )
        held = " ".join(f"{s} {q:+d}" for s, q in self.holdings().items()) or "flat"
        return (
            f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d} "
            f"{engine.risk.state.name} {venues} orders {engine.orders_sent} "
            f"fills {len(engine.fills)} open {engine.oms.open_count} | {held} | "
            f"net P&L {engine.portfolio.net_pnl / PRICE_SCALE:.2f}"
        )

    def request_stop(self) -> None:
        self._stop.set()

    async def run(
        self, duration_s: float | None = None, status: Callable[[str], None] | None = None,
        status_interval_s: float = 5.0,
    ) -> None:
        """Run until `duration_s` passes or a stop is requested; `status` (if given) gets
        `status_line()` every `status_interval_s`."""
        reporter = None
        if status is not None and status_interval_s > 0:
            reporter = asyncio.get_running_loop().create_task(
                self._report_status(status, status_interval_s)
            )
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), duration_s)
        finally:
            if reporter is not None:
                reporter.cancel()

    async def _report_status(self, status: Callable[[str], None], interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            status(self.status_line())

    async def stop(self, cancel_open_orders: bool = True, timeout_s: float = 2.0) -> None:
        """Stop trading first (REDUCING: the strategy is not asked again, so nothing new is
        sent while the rest of the stop runs, even when nothing was open), cancel open orders
        (waiting until `timeout_s`, or 3 recent round trips of a slow venue, pass without an
        answer), then stop ops, log out, close."""
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        self._signals.clear()
        engine = self.engine
        if cancel_open_orders:
            engine.start_reducing("stopping")  # cancels the strategy's working orders
            now = self.clock.monotonic_ns()
            for request in engine.oms.cancel_all(now):
                engine.gateways[request.venue].send_cancel(request, now)
                engine.cancels_sent += 1
            patience_s = self._cancel_patience_s(timeout_s)
            deadline, still_open = loop.time() + patience_s, engine.oms.open_count
            while still_open and loop.time() < deadline:
                await asyncio.sleep(0.01)
                if engine.oms.open_count < still_open:  # answers coming: wait on
                    deadline, still_open = loop.time() + patience_s, engine.oms.open_count
        else:
            engine.risk.start_reducing("stopping")  # no new orders; the open ones stay
        if self.ops is not None:
            await self.ops.stop()
        if self._timer_task is not None:
            self._timer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer_task
            self._timer_task = None
        await asyncio.gather(*(i.stop(timeout_s) for i in self.initiators.values()))
        for feed in self.feeds.values():
            feed.close()
        if self.journal is not None:
            self.journal.close()
        if self.config.pid_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.config.pid_file.unlink()
        gc.unfreeze()

    def _cancel_patience_s(self, timeout_s: float) -> float:
        """How long the stop waits without an answer: `timeout_s`, or longer when a venue's
        recent round trips were slow (`CANCEL_WAIT_ROUND_TRIPS`), up to `CANCEL_WAIT_MAX_S`."""
        recent = [trip for g in self.gateways.values() for trip in list(g.round_trips_ns)[-50:]]
        slowest_s = max(recent, default=0) / 1e9
        return min(max(timeout_s, CANCEL_WAIT_ROUND_TRIPS * slowest_s), CANCEL_WAIT_MAX_S)

    # -- reports ---------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        summary = self.engine.summary()
        summary["run_seconds"] = round((self.clock.monotonic_ns() - self.started_ns) / 1e9, 3)
        summary["open_orders"] = self.engine.oms.open_count
        summary["feeds"] = {
            name: feed.receiver.stats.as_dict()
            | self._stamp_stats(feed)
            | {"book_resets": feed.book_resets, "recovery": self._recovery(feed)}
            for name, feed in self.feeds.items()
        }
        summary["waiting_for"] = self.wait_reason
        summary["venues"] = {name: gateway.stats() for name, gateway in self.gateways.items()}
        summary["marks"] = {  # the last mid each position is valued at (currency units)
            symbol: position.mark / PRICE_SCALE if position.mark else None
            for symbol, position in self.engine.portfolio.positions.items()
        }

        summary["incidents"] = self.incidents.summary()
        held = self.holdings()
        kill = self.engine.risk.state is _HALTED
        summary["ended"] = {
            "by": "kill switch" if kill else "stop",
            "flat": not held and not self.engine.oms.open_count,
            "holding": held,
            "flatten_on_kill": self.config.flatten_on_kill,
        }
        summary["journal"] = {
            "path": str(self.config.journal) if self.config.journal else None,
            "new_day": self.new_day,
            "archived": str(self.archived_journal) if self.archived_journal else None,
            "replayed_entries": len(self.replayed.entries) if self.replayed else 0,
            "replayed_fills": len(self.replayed_fills),
        }
        return summary

    @staticmethod
    def _recovery(feed: VenueFeed) -> dict[str, Any]:
        subscriber = feed.subscriber or feed.closed_subscriber
        if subscriber is None:
            return {}
        return subscriber.state() | {
            "session": session_name(feed.receiver.session),
            "request_errors": subscriber.request_errors,
            "warnings": subscriber.health.warnings_logged,
        }

    @staticmethod
    def _stamp_stats(feed: VenueFeed) -> dict[str, Any]:
        subscriber = feed.subscriber or feed.closed_subscriber
        if subscriber is None:
            return {"callback_errors": 0}
        return {
            "callback_errors": subscriber.callback_errors,
            "arrival_stamp": subscriber.stamp_source,
            "kernel_stamped": subscriber.kernel_stamped,
            "read_stamped": subscriber.read_stamped,
            "kernel_to_read_us": subscriber.read_age_us(),
        }


KILL_GRACE_NS = 5_000_000_000
"""After the kill switch, the run ends when its cancels (and flattening) are done, or this."""


def summary_path(config: RunConfig) -> Path | None:
    """Where a run writes its final summary (beside its pid file): `calarb kill` reads it."""
    pid_file = config.pid_file
    return None if pid_file is None else pid_file.with_name(pid_file.stem + ".summary.json")


async def run_live(
    config: RunConfig, duration_s: float | None = None, *, new_day: bool = False,
    status: Callable[[str], None] | None = None, status_interval_s: float = 5.0,
) -> dict[str, Any]:
    """Start, run for `duration_s` (None: until SIGINT/SIGTERM or the kill switch), stop; the
    summary (also written to `summary_path`)."""
    live = LiveEngine(config, new_day=new_day)
    if status is not None and live.archived_journal is not None:
        status(f"new trading day: the last run's journal is now {live.archived_journal}")
    await live.start()
    if live.ops is not None:
        live.ops.announce(sys.stderr)
    try:
        await live.run(duration_s, status, status_interval_s)
    finally:
        await live.stop()
    summary = live.summary()
    path = summary_path(config)
    if path is not None:
        path.write_text(json.dumps(summary, default=str))
    return summary


def run_blocking(
    config: RunConfig, duration_s: float | None = None, **options: Any
) -> dict[str, Any]:
    """`run_live` on a fresh loop (uvloop when installed)."""
    install_uvloop()
    started = time.monotonic()
    summary = asyncio.run(run_live(config, duration_s, **options))
    summary["wall_seconds"] = round(time.monotonic() - started, 3)
    return summary
