"""`calarb run`'s engine (`LiveEngine`) on an options venue: the run file names the options
strategy and the venue's ITTO feed; the venue is the options simulator in this process behind
a real FIX acceptor (127.0.0.1) and its ITTO feed on MoldUDP64 multicast. The engine warms up
on the ITTO feed and the FIX session, its books equal the venue's, and an option order sent
through its risk gate, router, OMS and FIX gateway is filled by the venue and booked at 100
shares per contract."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from calarb.backtest.options_market import OptionsMarket, OptionsMarketConfig
from calarb.core.clock import LiveClock
from calarb.core.types import Side
from calarb.fix.transport import FixAcceptor
from calarb.itch.transport import fresh_multicast_address
from calarb.trading.config import load_config
from calarb.trading.live import LiveEngine
from calarb.trading.orders import OrderIntent, OrdType, TimeInForce
from calarb.venue.config import ParticipantConfig
from calarb.venue.gateway import VenueGateway, acceptor_settings
from calarb.venue.market_data import MarketDataConfig, VenueMarketData
from calarb.venue.options_publisher import OptionsItchPublisher, split_events

pytestmark = pytest.mark.network

STEP_S = 0.005  # real seconds per market step


class OptionsVenue:
    """The options simulator as a venue: FIX order entry and the ITTO feed."""

    def __init__(self, seed: int) -> None:
        self.market = OptionsMarket(OptionsMarketConfig(seed=seed))
        participants = [ParticipantConfig("CALARB", "calarb", "secret", heartbeat_interval_s=5)]
        self.gateway = VenueGateway(
            self.market.engine, participants, lambda: self.market.now_ns, LiveClock(),
            exec_id_prefix="OPTV-",
        )  # fmt: skip
        self.acceptor = FixAcceptor(
            acceptor_settings("OPTV", participants, 0),
            lambda settings: self,
            authenticate=self.gateway.authenticate,
            on_event=self.gateway.on_session_event,
        )
        self.publisher = OptionsItchPublisher(
            self.market.symbols, underlying=self.market.underlying.symbol
        )
        self.md: VenueMarketData | None = None
        self.fix_port = 0
        self.paused = False
        self._task: asyncio.Task | None = None

    def on_message(self, session, message) -> None:  # the acceptor sessions' application
        self.gateway.on_message(session, message)
        self._publish()

    def _publish(self) -> None:
        options, _underlying = split_events(self.market.engine.take_book_events(), self.publisher)
        self.md.publish_events(options)

    async def start(self) -> None:
        self.fix_port = await self.acceptor.start(port=0)
        group, port = fresh_multicast_address()
        self.md = await VenueMarketData.open(
            MarketDataConfig("OPTV", group, port), (), publisher=self.publisher
        )
        self.md.start_of_day(self.market.now_ns)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(STEP_S)
            if self.paused:
                continue
            self.market.step()
            self.gateway.dispatch_reports()
            for session in self.gateway.take_touched_sessions():
                connection = self.acceptor.connection_for(session)
                if connection is not None:
                    connection.flush()
            self._publish()

    async def stop(self) -> None:
        self._task.cancel()
        await self.acceptor.stop()
        await self.md.close()

    def run_file(self, folder: Path, options: list[str]) -> Path:
        host, retransmission_port = self.md.retransmission_address
        listed = ", ".join(f'"{symbol}"' for symbol in options)
        path = folder / "options-run.toml"
        path.write_text(f"""
[engine]
journal = "run/journal.jsonl"
kill_file = "run/KILL"
pid_file = "run/calarb.pid"
timer_interval_ms = 10

[strategy]
class = "calarb.trading.options_strategy:OptionsCalibrationStrategy"
underlying = "{self.market.underlying.symbol}"
trade_date = "{self.market.config.trade_date.isoformat()}"
options = [{listed}]

[[venues]]
name = "OPTV"
[venues.fix]
BeginString = "FIX.4.4"
SenderCompID = "CALARB"
TargetCompID = "OPTV"
SocketConnectHost = "127.0.0.1"
SocketConnectPort = {self.fix_port}
HeartBtInt = 5
Username = "calarb"
Password = "secret"
FileStorePath = "{folder / "fixstore"}"
[venues.feed]
group = "{self.md.config.group}"
port = {self.md.config.port}
retransmission_host = "{host}"
retransmission_port = {retransmission_port}
protocol = "itto"
""")
        return path


async def until(condition, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def scenario(folder: Path) -> None:
    venue = OptionsVenue(seed=4)
    await venue.start()
    traded = venue.market.symbols[::4]
    config = load_config(venue.run_file(folder, traded))
    live = LiveEngine(config)
    try:
        await live.start()
        await live.wait_ready(15.0)
        engine = live.engine
        await until(lambda: all(s in engine.consolidated for s in traded), 15.0, "option tops")
        assert type(live.feeds["OPTV"].options_feed).__name__ == "OptionsBookFeed"
        venue.paused = True
        receiver = live.feeds["OPTV"].receiver
        published = venue.md.next_sequence
        await until(lambda: receiver.next_sequence >= published, 15.0, "the ITTO feed")
        for symbol in traded:
            at_venue = venue.market.engine.top_of_book(symbol)
            top = engine.consolidated[symbol]
            assert (top.bid_price, top.bid_shares, top.ask_price, top.ask_shares) == (
                at_venue.bid_price, at_venue.bid_shares, at_venue.ask_price,
                at_venue.ask_shares,
            ), symbol  # fmt: skip
        # one contract bought at the ask through risk gate, router, OMS and FIX
        symbol = next(s for s in traded if engine.consolidated[s].ask_shares > 0)
        ask = engine.consolidated[symbol].ask_price
        intent = OrderIntent("OPT1", symbol, Side.BUY, 1, ask, OrdType.LIMIT, TimeInForce.IOC)
        assert engine._send_intent(intent, live.clock.monotonic_ns())
        await until(lambda: engine.oms.open_count == 0 and engine.fills, 10.0, "the fill")
        (fill,) = engine.fills
        assert (fill.symbol, fill.quantity, fill.price) == (symbol, 1, ask)
        position = engine.portfolio.positions[symbol]
        assert (position.quantity, position.multiplier, position.cost) == (1, 100, 100 * ask)
        mid = position.mark
        assert engine.portfolio.unrealized == 100 * (mid - ask)
        assert engine.risk.gross_exposure == 100 * mid
        assert live.gateways["OPTV"].counts["bad_message"] == 0
    finally:
        await live.stop()
        await venue.stop()


def test_calarb_run_engine_on_an_options_venue_over_loopback(tmp_path):
    asyncio.run(scenario(tmp_path))
