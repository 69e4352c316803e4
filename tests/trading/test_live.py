"""The live engine over real loopback: two in-process venues (MatchingEngine with seeded
background traders, the venue's FIX gateway on a FixAcceptor, ITCH 5.0 over MoldUDP64
multicast with a retransmission server), and `LiveEngine` built from a TOML config.

One scenario, in order: warm-up and trading; a lossy feed whose gaps are recovered (books
equal the venue's); a FIX disconnect of one venue, routed around, then a reconnect; a stop
without cancelling and a restart from the journal that loses no order (the new OMS equals
the old one, the open order is reconciled with the venue); the kill switch from the kill
file cancelling it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from calarb.core.clock import LiveClock
from calarb.core.order_events import VenueOrder
from calarb.core.types import Side
from calarb.fix.transport import FixAcceptor
from calarb.itch.transport import fresh_multicast_address
from calarb.trading.config import load_config
from calarb.trading.live import LiveEngine, next_run_prefix
from calarb.trading.orders import OrderIntent, OrdStatus, OrdType, TimeInForce
from calarb.trading.reconcile import DiffKind
from calarb.trading.risk import TradingState
from calarb.trading.router import SkipReason
from calarb.venue.config import ParticipantConfig
from calarb.venue.gateway import VenueGateway, acceptor_settings
from calarb.venue.itch_publisher import book_differences
from calarb.venue.market_data import FeedFaults, MarketDataConfig, VenueMarketData
from calarb.venue.matching import MatchingEngine
from calarb.venue.synthetic import BackgroundTraders, FairValueProcess, two_symbol_market

pytestmark = [pytest.mark.network, pytest.mark.slow]

STEP_S = 0.004  # real seconds per simulated 100 ms step: the market runs 25x faster


class InProcessVenue:
    """A venue as the exchange simulator runs it, in this process."""

    def __init__(self, name: str, seed: int, faults: FeedFaults) -> None:
        self.name = name
        market = two_symbol_market(5)  # the same fair values on both venues; traders differ
        self.fair_values = FairValueProcess(market)
        self.engine = MatchingEngine(market.instruments())
        self.traders = BackgroundTraders(self.engine, market, seed, name)
        participants = [ParticipantConfig("CALARB", "calarb", "secret", heartbeat_interval_s=5)]
        self.gateway = VenueGateway(
            self.engine, participants, lambda: self.fair_values.now_ns, LiveClock(),
            exec_id_prefix=f"{name}-",
        )  # fmt: skip
        self.acceptor = FixAcceptor(
            acceptor_settings(name, participants, 0),
            lambda settings: self,
            authenticate=self.gateway.authenticate,
            on_event=self.gateway.on_session_event,
        )
        group, port = fresh_multicast_address()
        self.market_data_config = MarketDataConfig(name, group, port, faults=faults)
        self.market_data: VenueMarketData | None = None
        self.fix_port = 0
        self.paused = False
        self._task: asyncio.Task | None = None

    def on_message(self, session, message) -> None:  # the acceptor sessions' application
        self.gateway.on_message(session, message)
        self.market_data.publish_engine(self.engine)

    async def start(self) -> None:
        self.fix_port = await self.acceptor.start(port=0)
        self.market_data = await VenueMarketData.open(
            self.market_data_config, self.engine.instruments
        )
        self.market_data.start_of_day(0)
        self._step()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _step(self) -> None:
        self.fair_values.step()
        self.traders.act(self.fair_values.now_ns, self.fair_values)
        self.gateway.dispatch_reports()
        for session in self.gateway.take_touched_sessions():
            connection = self.acceptor.connection_for(session)
            if connection is not None:
                connection.flush()
        self.market_data.publish_engine(self.engine)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(STEP_S)
            if not self.paused:
                self._step()

    def drop_fix(self) -> None:
        for session in self.gateway.sessions_to_drop("CALARB"):
            self.acceptor.connection_for(session)._close()

    async def stop(self) -> None:
        self._task.cancel()
        await self.acceptor.stop()
        await self.market_data.close()

    def toml(self, store: Path) -> str:
        md = self.market_data_config
        host, retransmission_port = self.market_data.retransmission_address
        return f"""
[[venues]]
name = "{self.name}"
fees = {{ taker = 30, maker = -20 }}
[venues.fix]
BeginString = "FIX.4.4"
SenderCompID = "CALARB"
TargetCompID = "{self.name}"
SocketConnectHost = "127.0.0.1"
SocketConnectPort = {self.fix_port}
HeartBtInt = 5
Username = "calarb"
Password = "secret"
ReconnectInterval = 1.0
ReconnectMaxInterval = 1.0
FileStorePath = "{store}"
[venues.feed]
group = "{md.group}"
port = {md.port}
retransmission_host = "{host}"
retransmission_port = {retransmission_port}
session = "{self.name}"
"""


def write_config(folder: Path, venues: list[InProcessVenue]) -> Path:
    text = """
[engine]
journal = "run/journal.jsonl"
kill_file = "run/KILL"
pid_file = "run/calarb.pid"
timer_interval_ms = 10
reconcile_timeout_ms = 1000

[risk]
max_position = 2000
max_order_quantity = 1000
max_orders_per_window = 1000

[[pairs]]
leg_a = "AAA"
leg_b = "BBB"
hedge = "ols"
zscore_halflife = 1500
entry = 1.0
exit = 0.2
stop = 5.0
size = 100
order_style = "limit"
price_reference = "far"
cooldown_ms = 100
leg_timeout_ms = 200
min_observations = 150
true_ratio = 0.8
""" + "".join(venue.toml(folder / "fixstore") for venue in venues)
    path = folder / "run.toml"
    path.write_text(text)
    return path


async def until(condition, timeout: float, what: str) -> None:
    """Wait for `condition`; `timeout` is a generous bound for a loaded 2-core machine (a
    simulated venue answers in milliseconds idle, in seconds when the CPU is saturated)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def scenario(folder: Path) -> None:
    venues = [
        InProcessVenue("V1", 11, FeedFaults(drop=0.03, seed=4)),  # a lossy feed: gaps
        InProcessVenue("V2", 12, FeedFaults()),
    ]
    for venue in venues:
        await venue.start()
    config = load_config(write_config(folder, venues))
    live = LiveEngine(config)
    second = None
    try:
        await live.start()
        await live.wait_ready(10.0)
        assert config.pid_file.exists()
        await asyncio.sleep(3.0)
        engine = live.engine
        assert engine.market_data_messages > 1000
        assert engine.ticks_to_model > 100

        # Feed gaps on V1 were detected, re-requested and recovered: books equal the venue's.
        stats = live.feeds["V1"].receiver.stats
        assert stats.gaps_detected > 0 and stats.requests_sent > 0
        for venue in venues:
            venue.paused = True
        await until(lambda: all(f.caught_up for f in live.feeds.values()), 20.0, "feeds")
        await asyncio.sleep(0.1)
        assert stats.gaps_recovered == stats.gaps_detected
        for venue in venues:
            assert book_differences(venue.engine, engine.feeds[venue.name].books) == []
            venue.paused = False

        # V2's FIX session drops: the router routes around it until the reconnect.
        orders_before = len(engine.oms.orders())
        venues[1].drop_fix()
        await until(lambda: not live.gateways["V2"].connected, 10.0, "V2 down")
        assert not engine.router.venues["V2"].connected
        top = engine.consolidated["AAA"]
        probe = OrderIntent("PROBE", "AAA", Side.BUY, 50, top.ask_price + 10_000)
        decision = engine.router.route(probe)
        assert ("V2", SkipReason.DISCONNECTED) in decision.skipped
        assert decision.orders and {o.venue for o in decision.orders} == {"V1"}
        await until(lambda: live.gateways["V2"].connected, 20.0, "V2 reconnect")
        (down_ns, down), (up_ns, up) = live.gateways["V2"].connection_changes[-2:]
        assert (down, up) == (False, True)
        during = [o for o in engine.oms.orders()[orders_before:] if down_ns < o.created_ns < up_ns]
        assert all(o.venue == "V1" for o in during)
        assert engine.router.venues["V2"].connected
        assert live.gateways["V2"].counts["connected"] == 2
        await asyncio.sleep(0.5)
        summary = live.summary()
        assert summary["orders_sent"] > 0 and summary["fills"] > 0, summary

        # A resting order far from the market, then a stop without cancelling (a crash, for
        # the orders) and a restart from the journal.
        far = VenueOrder("MANUAL1.1", "MANUAL1", "V1", "AAA", Side.BUY, 10,
                         (top.bid_price // 2) // 100 * 100, OrdType.LIMIT, TimeInForce.DAY)  # fmt: skip
        engine.oms.submit(far, LiveClock().monotonic_ns())
        engine.gateways["V1"].send_new_order(far, 0)
        await until(lambda: engine.oms.order("MANUAL1.1").status is OrdStatus.NEW, 10.0, "ack")
        # REDUCING: the strategy is not asked any more and its working orders are cancelled;
        # the manual order stays.
        engine.start_reducing("test: the strategy's orders end")
        await until(lambda: engine.oms.open_count == 1, 15.0, "strategy orders to end")
        await live.stop(cancel_open_orders=False)
        state_before = engine.oms.state()
        positions_before = {s: p.quantity for s, p in engine.portfolio.positions.items()}
        legs_before = [leg.position for leg in engine.strategy.pairs["AAA/BBB"].legs]
        fills_before = [fill.as_tuple() for fill in engine.fills]
        assert not config.pid_file.exists()

        second = LiveEngine(config)
        assert second.engine.oms.state() == state_before  # nothing lost in the journal
        assert {
            s: p.quantity for s, p in second.engine.portfolio.positions.items()
        } == positions_before
        # The strategy holds what the portfolio holds (it does not believe it is flat), and
        # the journal's fills are not counted as this run's.
        legs_after = [leg.position for leg in second.engine.strategy.pairs["AAA/BBB"].legs]
        assert legs_after == legs_before == [positions_before.get(s, 0) for s in ("AAA", "BBB")]
        assert [fill.as_tuple() for fill in second.replayed_fills] == fills_before
        assert second.engine.fills == [] and second.summary()["fills"] == 0
        assert second.summary()["journal"]["replayed_fills"] == len(fills_before)
        assert second.engine.strategy.id_prefix == "S2-"
        await second.start()
        await second.wait_ready(10.0)
        gateway = second.gateways["V1"]
        assert gateway.reconciliations == 1
        assert [d for d in gateway.differences if d.kind is DiffKind.NO_ANSWER] == []
        assert second.engine.oms.order("MANUAL1.1").status is OrdStatus.NEW
        assert venues[0].engine.order(int(second.engine.oms.order("MANUAL1.1").order_id))

        # The kill switch, from the kill file: every open order is cancelled, nothing new goes.
        config.kill_file.touch()
        await until(lambda: second.engine.risk.state is TradingState.HALTED, 10.0, "kill switch")
        await until(lambda: second.engine.oms.open_count == 0, 15.0, "cancels")
        assert second.engine.oms.order("MANUAL1.1").status is OrdStatus.CANCELED
        sent = second.engine.orders_sent
        await asyncio.sleep(0.5)
        assert second.engine.orders_sent == sent
        assert second.engine.risk.state is TradingState.HALTED
        assert all(fill.time_ns >= second.started_ns for fill in second.engine.fills)
        assert second.summary()["kill_switch"]["reason"].startswith("kill file")
        # stop_on_kill (the default): the run ends once the cancels are answered.
        assert second.config.stop_on_kill
        await until(second._stop.is_set, 10.0, "the run's end after the kill switch")
    finally:
        if second is not None:
            await second.stop()
        elif live._timer_task is not None:
            await live.stop()
        for venue in venues:
            await venue.stop()


def test_live_engine_over_loopback(tmp_path):
    asyncio.run(asyncio.wait_for(scenario(tmp_path), 60))


def test_run_prefix_follows_the_journal():
    assert next_run_prefix("S", []) == "S1-"
    assert next_run_prefix("S", ["S1-4", "S3-1", "MANUAL1", "X7-2"]) == "S4-"


def test_config_errors_name_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[pairs]]\nleg_a = "A"\nleg_b = "B"\nsize = 0\n')
    with pytest.raises(ValueError, match=r"pairs\[0\]"):
        load_config(path)
    path.write_text("[engine]\nbogus = 1\n")
    with pytest.raises(ValueError, match="bogus"):
        load_config(path)


async def late_join_scenario(folder: Path) -> tuple[LiveEngine, dict, list[str], list[str]]:
    venue = InProcessVenue("V1", 21, FeedFaults())
    await venue.start()
    venue.paused = True
    for _ in range(400):  # the morning: thousands of messages before the engine starts
        venue._step()
    history = venue.market_data.next_sequence - 1
    config = load_config(write_config(folder, [venue]))
    live = LiveEngine(config)
    receiver = live.feeds["V1"].receiver
    # small bounds, so that this morning is a "long" one: 50-message chunks, 3 in flight
    receiver.max_sequence_jump, receiver.max_request_count = 400, 50
    receiver.max_requests_in_flight = 3
    most_in_flight = 0
    reasons: list[str] = []
    try:
        await live.start()
        venue.paused = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while live.engine.risk.state is TradingState.WARMING_UP:
            assert loop.time() < deadline, live.waiting_for()
            most_in_flight = max(most_in_flight, len(receiver._in_flight))
            if live.wait_reason and live.wait_reason not in reasons:
                reasons.append(live.wait_reason)
            await asyncio.sleep(0.001)
        venue.paused = True
        await until(lambda: not receiver.has_missing, 10, "the feed to catch up")
        await asyncio.sleep(0.2)
        differences = book_differences(venue.engine, live.engine.feeds["V1"].books)
        stats = receiver.stats.as_dict() | {"history": history, "in_flight": most_in_flight}
        summary = live.summary()
    finally:
        await live.stop()
        await venue.stop()
    return summary, stats, reasons, differences


def test_an_engine_joining_mid_day_catches_up_in_bounded_chunks_and_says_why_it_waits(
    tmp_path, caplog
):
    with caplog.at_level("INFO"):
        summary, stats, reasons, differences = asyncio.run(
            asyncio.wait_for(late_join_scenario(tmp_path), 60)
        )
    assert differences == []
    assert stats["history"] > 2000
    assert stats["in_flight"] <= 3
    assert stats["jumps_refused"] >= 1  # the first live packet was far beyond sequence 1
    # about one request per 50-message chunk of the morning: no snowball of requests
    assert stats["history"] / 50 <= stats["requests_sent"] <= 3 * stats["history"] / 50 + 20
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("strategy waiting: feed V1: catching up, sequence") for m in logged)
    assert any(m.startswith("feed V1: catching up, sequence") for m in logged)
    assert any(m.startswith("feeds caught up and sessions logged on") for m in logged)
    assert summary["waiting_for"] is None
    assert summary["feeds"]["V1"]["recovery"]["state"] == "live"


async def venue_restart_scenario(folder: Path) -> tuple[dict, list[str], str, str]:
    import dataclasses

    venue = InProcessVenue("V1", 31, FeedFaults())
    await venue.start()
    config = load_config(write_config(folder, [venue]))
    live = LiveEngine(config)
    feed = live.feeds["V1"]
    feed.receiver.session_silence_ns = 500_000_000
    try:
        await live.start()
        await live.wait_ready(20.0)
        await asyncio.sleep(0.5)
        old_session = feed.receiver.session.decode().strip()
        # the venue's market data dies and a new instance starts on the same addresses with
        # a fresh matching engine (its books lost), publishing under a new session name
        venue.paused = True
        _, retransmission_port = venue.market_data.retransmission_address
        await venue.market_data.close()
        await asyncio.sleep(0.05)  # the closed transports release their ports
        market = two_symbol_market(5)
        venue.engine = MatchingEngine(market.instruments())
        venue.traders = BackgroundTraders(venue.engine, market, 32, "V1")
        venue.market_data = await VenueMarketData.open(
            dataclasses.replace(venue.market_data_config, retransmission_port=retransmission_port),
            venue.engine.instruments,
            instance_ns=123_456_789_000,
        )
        venue.market_data.start_of_day(venue.fair_values.now_ns)
        venue.paused = False
        await until(lambda: feed.book_resets == 1, 20, "the engine to follow the new session")
        await asyncio.sleep(0.5)
        venue.paused = True
        await until(lambda: not feed.receiver.has_missing, 10, "the new session to be complete")
        await asyncio.sleep(0.2)
        differences = book_differences(venue.engine, live.engine.feeds["V1"].books)
        summary = live.summary()
    finally:
        await live.stop()
        await venue.stop()
    return summary, differences, old_session, venue.market_data.session


def test_a_restarted_venue_feed_resets_the_engine_books_from_its_new_session(tmp_path, caplog):
    with caplog.at_level("INFO"):
        summary, differences, old, new = asyncio.run(
            asyncio.wait_for(venue_restart_scenario(tmp_path), 60)
        )
    assert old == "V1" and new != old
    assert differences == []  # the books are the new instance's, nothing of the old one left
    feed = summary["feeds"]["V1"]
    assert feed["book_resets"] == 1 and feed["session_changes"] == 1
    assert feed["recovery"]["session"] == new
    resets = [r.getMessage() for r in caplog.records if "market data restarted" in r.getMessage()]
    assert resets == [f"V1: market data restarted (session {new} replaces V1): 2 books reset, "
                      "rebuilding from sequence 1 of the new session"]  # fmt: skip
