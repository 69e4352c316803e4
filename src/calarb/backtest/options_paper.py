"""The options paper run: the engine with the options strategy against the options simulator
over real loopback sockets, in lock-step with the market, so that it sends the same orders as
the backtest.

The venue side: the simulator's `MatchingEngine` behind a `VenueGateway` on a `FixAcceptor`
(FIX 4.4 over TCP on 127.0.0.1), and two MoldUDP64 multicast feeds through `VenueMarketData`:
options on ITTO 4.0 (`OptionsItchPublisher`), the underlying on ITCH 5.0. The trader side: a
`FixInitiator` with the engine's own `FixOrderGateway` (which writes an option order's
instrument block, SecurityType/PutOrCall/StrikePrice/MaturityDate, from its OCC symbol), and
a `MoldSubscriber` per feed handing each message's bytes to `TraderFeeds`. Lock-step (the
loop is `calarb.backtest.options_run`'s): after publishing, the run waits until both
subscribers have delivered every message sent; after the engine's orders, until the OMS has
none open (every IOC has its final ExecutionReport). The simulated clock of both sides
follows the market's time. So socket timing never changes what happens.
"""

from __future__ import annotations

import asyncio

from calarb.backtest.options_market import OptionsMarket
from calarb.backtest.options_run import (
    PARTICIPANT,
    VENUE,
    OptionsRunConfig,
    OptionsRunResult,
    TraderFeeds,
    market_clock,
    run_options,
)
from calarb.fix.codec import FixMessage
from calarb.fix.config import settings_from_mapping
from calarb.fix.events import RejectReceived
from calarb.fix.transport import FixAcceptor, FixInitiator
from calarb.itch.moldudp64 import MoldReceiver
from calarb.itch.transport import MoldSubscriber, fresh_multicast_address
from calarb.trading.fix_gateway import FixOrderGateway
from calarb.trading.oms import OrderManager
from calarb.venue.config import ParticipantConfig
from calarb.venue.gateway import VenueGateway, acceptor_settings
from calarb.venue.itch_publisher import ItchPublisher
from calarb.venue.market_data import MarketDataConfig, VenueMarketData
from calarb.venue.options_publisher import OptionsItchPublisher
from calarb.venue.orders import BookEvent

_HEARTBEAT_S = 86_400


async def _until(condition, timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"options paper run: timed out waiting for {what}")
        await asyncio.sleep(0.001)


class LoopbackTransport:
    owns_reports = True  # the venue gateway drains the engine's reports

    def __init__(self, market: OptionsMarket, feeds: TraderFeeds, timeout_s: float) -> None:
        self.market = market
        self.feeds = feeds
        self.timeout_s = timeout_s
        self.clock = market_clock(market)
        self.acceptor: FixAcceptor | None = None
        self.initiator: FixInitiator | None = None
        self.gateway: FixOrderGateway | None = None
        self.venue_gateway: VenueGateway | None = None
        self.options_md: VenueMarketData | None = None
        self.equity_md: VenueMarketData | None = None
        self.subscribers: list[MoldSubscriber] = []
        self.receivers: list[MoldReceiver] = []
        self.rejects: list[FixMessage] = []  # session Rejects (3) the venue sent us

    @classmethod
    async def create(
        cls, market: OptionsMarket, feeds: TraderFeeds, options_publisher: OptionsItchPublisher,
        equity_publisher: ItchPublisher, timeout_s: float = 10.0,
    ) -> LoopbackTransport:  # fmt: skip
        self = cls(market, feeds, timeout_s)
        try:
            await self._open(options_publisher, equity_publisher)
        except BaseException:
            await self.close()
            raise
        return self

    async def _open(self, options_publisher, equity_publisher) -> None:
        clock = self.clock
        participants = [
            ParticipantConfig(PARTICIPANT, "calarb", "paper", heartbeat_interval_s=_HEARTBEAT_S)
        ]
        self.venue_gateway = VenueGateway(
            self.market.engine, participants, clock.monotonic_ns, clock, exec_id_prefix="OPT-"
        )
        self.acceptor = FixAcceptor(
            acceptor_settings(VENUE, participants, 0),
            lambda settings: self.venue_gateway,
            clock=clock,
            authenticate=self.venue_gateway.authenticate,
            on_event=self.venue_gateway.on_session_event,
        )
        port = await self.acceptor.start(port=0)
        for session, publisher, instruments, handler in (
            ("OPTS", options_publisher, (), self.feeds.on_options_bytes),
            ("EQTY", equity_publisher, [self.market.underlying], self.feeds.on_equity_bytes),
        ):
            group, group_port = fresh_multicast_address()
            md = await VenueMarketData.open(
                MarketDataConfig(session, group, group_port), instruments, publisher=publisher
            )
            if session == "OPTS":
                self.options_md = md
            else:
                self.equity_md = md
            receiver = MoldReceiver(session, first_sequence=1)
            self.receivers.append(receiver)
            self.subscribers.append(
                await MoldSubscriber.create(
                    receiver,
                    group,
                    group_port,
                    md.retransmission_address,
                    lambda payload, _received_ns, h=handler: h(payload),
                    clock=clock,
                )  # fmt: skip
            )
        settings = settings_from_mapping({
            "BeginString": "FIX.4.4", "SenderCompID": PARTICIPANT, "TargetCompID": VENUE,
            "SocketConnectHost": "127.0.0.1", "SocketConnectPort": port,
            "HeartBtInt": _HEARTBEAT_S, "Username": "calarb", "Password": "paper",
        })  # fmt: skip
        self.initiator = FixInitiator(settings, clock=clock, on_event=self._on_session_event)
        self.gateway = FixOrderGateway(VENUE, self.initiator.session, self.initiator.flush, clock)
        self.initiator.start()
        await self.initiator.wait_logged_on(self.timeout_s)

    def _on_session_event(self, session, event) -> None:
        if isinstance(event, RejectReceived):
            self.rejects.append(event.message)
        if self.gateway is not None:
            self.gateway.on_session_event(event)

    async def start_of_day(self, now_ns: int) -> None:
        self.clock.advance_to(now_ns)
        self.options_md.start_of_day(now_ns)
        self.equity_md.start_of_day(now_ns)
        await self._delivered()

    async def publish(self, options: list[BookEvent], equity: list[BookEvent]) -> None:
        self.options_md.publish_events(options)
        self.equity_md.publish_events(equity)
        await self._delivered()

    async def _delivered(self) -> None:
        wanted = (self.options_md.next_sequence, self.equity_md.next_sequence)
        await _until(
            lambda: all(r.next_sequence >= w for r, w in zip(self.receivers, wanted, strict=True)),
            self.timeout_s, "the feeds",
        )  # fmt: skip

    async def settle(self, oms: OrderManager) -> None:
        """Wait until every order the engine sent has its final report."""
        if oms.open_count:
            await _until(lambda: not oms.open_count, self.timeout_s, "the venue's reports")

    async def finish(self, now_ns: int) -> dict:
        self.clock.advance_to(now_ns)
        stats = [r.stats for r in self.receivers]
        return {
            "fix_orders_sent": self.gateway.new_orders_sent,
            "fix_reports": self.gateway.counts["execution_report"],
            "fix_errors": self.gateway.counts["bad_message"],
            "fix_rejects": len(self.rejects),
            "options_messages": self.feeds.options_messages,
            "equity_messages": self.feeds.equity_messages,
            "feed_messages_refused": self.feeds.refused,
            "feed_gaps": sum(s.gaps_detected for s in stats),
        }

    def sent_messages(self) -> list[bytes]:
        """The FIX messages the trader's session sent (its store's window), in order."""
        session = self.initiator.session
        return list(session.store.get_messages(1, session.next_sender_seq).values())

    async def close(self) -> None:
        if self.initiator is not None:
            await self.initiator.stop(2.0)
        for subscriber in self.subscribers:
            subscriber.close()
        for md in (self.options_md, self.equity_md):
            if md is not None:
                await md.close()
        if self.acceptor is not None:
            await self.acceptor.stop()


def run_options_paper(config: OptionsRunConfig, timeout_s: float = 10.0) -> OptionsRunResult:
    source = f"options paper(seed {config.market.seed}, {config.seconds:g} s, loopback lock-step)"

    async def factory(*args):
        return await LoopbackTransport.create(*args, timeout_s=timeout_s)

    return asyncio.run(run_options(config, factory, source))
