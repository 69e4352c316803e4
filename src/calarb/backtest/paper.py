"""Paper trading in lock-step: the engine against the exchange simulator over real loopback
sockets, on the backtest's simulated schedule, so that both runs can be compared exactly.

The paper run has the same parts as a live run: per venue a `MatchingEngine` with its
background traders behind the venue's FIX gateway (`VenueGateway` on a `FixAcceptor`) and its
ITCH 5.0 / MoldUDP64 multicast feed (`VenueMarketData`); on the engine's side a `FixInitiator`
carrying a `FixOrderGateway` and a `MoldSubscriber`, and the same `TradingEngine`, strategy
and recorder as `calarb.backtest.synthetic`. Every byte crosses a real socket on 127.0.0.1.

What makes it deterministic (the assumptions, also in docs/backtest.md):

* **One clock, one schedule.** Both sides read one `SimulatedClock`, moved only by a
  `LockstepScheduler` (the backtest's `EventScheduler` plus waiting for sockets). The market
  steps exactly as in the backtest (`SyntheticWorld.open_day` / `advance`, the engine's timer
  and equity samples from `step_timers`).
* **Latency is modelled, not measured.** When a message is sent (an order by the engine; a
  report or an ITCH message by a venue), the sender draws its arrival time on the same
  `ModelledLink` the backtest's `ModelledVenue` uses, in the same order, and schedules a
  *delivery* at that time. The bytes go over the socket at once; the receiver parks each
  in-sequence application message (FIX) or feed message (MoldUDP64, after gap recovery) on an
  `InboundLink` instead of acting on it. A delivery hands over the oldest parked message.
* **Lock-step.** Before running a delivery whose message has not arrived yet, the scheduler
  waits on the socket (the simulated clock stands still meanwhile). So wall-clock speed,
  socket buffering and loss (recovered by MoldUDP64 re-requests) never change what happens in
  simulated time. Links are FIFO (TCP; the feed's sequence numbers), so the k-th delivery on
  a link is the k-th message sent on it.
* **Session traffic is outside the schedule.** Logon happens before the clock starts;
  heartbeats are set far beyond the run so none is due; they would not reach the
  applications anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from calarb.backtest.config import BacktestConfig
from calarb.backtest.results import BacktestResult, RunRecorder
from calarb.backtest.synthetic import (
    ModelledLink,
    SyntheticWorld,
    market_config,
    step_timers,
    synthetic_strategy,
)
from calarb.backtest.wiring import build_engine
from calarb.core.clock import SimulatedClock
from calarb.core.order_events import CancelRequest, ReplaceRequest, VenueOrder
from calarb.core.scheduler import EventScheduler
from calarb.fix.config import settings_from_mapping
from calarb.fix.session import FixSession
from calarb.fix.transport import FixAcceptor, FixInitiator
from calarb.itch.moldudp64 import MoldReceiver
from calarb.itch.transport import MoldSubscriber, fresh_multicast_address
from calarb.trading.fix_gateway import FixOrderGateway
from calarb.venue.config import ParticipantConfig
from calarb.venue.gateway import VenueGateway, acceptor_settings
from calarb.venue.market_data import MarketDataConfig, VenueMarketData
from calarb.venue.matching import MatchingEngine

PARTICIPANT = "CALARB"
_HEARTBEAT_S = 86_400  # no heartbeat falls due within a run


class InboundLink:
    """Messages that crossed a socket, parked until the schedule delivers them in order."""

    def __init__(self, name: str, handler: Callable[..., object]) -> None:
        self.name = name
        self.handler = handler
        self.parked: deque[tuple] = deque()
        self.received = 0
        self.delivered = 0
        self._arrived = asyncio.Event()

    def receive(self, *message: object) -> None:
        self.parked.append(message)
        self.received += 1
        self._arrived.set()

    def deliver(self) -> None:
        self.delivered += 1
        self.handler(*self.parked.popleft())

    async def wait(self, timeout_s: float) -> None:
        while not self.parked:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except TimeoutError:
                raise TimeoutError(
                    f"lock-step: delivery {self.delivered + 1} on {self.name} is due but "
                    f"nothing arrived on its socket within {timeout_s} s"
                ) from None


class LockstepScheduler(EventScheduler):
    """An `EventScheduler` whose deliveries wait for their message to cross the socket."""

    async def run_until_async(self, until_ns: int, timeout_s: float = 10.0) -> int:
        queue = self.queue
        count = 0
        while queue and queue[0][0] <= until_ns:
            link = getattr(queue[0][2], "__self__", None)
            if type(link) is InboundLink and not link.parked:
                await link.wait(timeout_s)
                continue
            self.run_next()
            count += 1
        self.clock.advance_to(until_ns)
        return count


class ParkingApplication:
    """A FIX session application that parks each in-sequence application message."""

    def __init__(self, link: InboundLink) -> None:
        self.link = link

    def on_message(self, session: FixSession, message) -> None:
        self.link.receive(session, message)


class LockstepOrderGateway:
    """The engine's `OrderGateway` to one paper venue: each request draws its arrival on the
    order link and schedules the venue's delivery, then the FIX gateway writes it."""

    def __init__(self, inner: FixOrderGateway, scheduler: EventScheduler, link: ModelledLink,
                 venue_inbox: InboundLink) -> None:  # fmt: skip
        self.inner = inner
        self.scheduler = scheduler
        self.link = link
        self.venue_inbox = venue_inbox

    def _scheduled(self, now_ns: int) -> None:
        self.scheduler.schedule(self.link.arrival(now_ns), self.venue_inbox.deliver)

    def send_new_order(self, order: VenueOrder, now_ns: int) -> None:
        self._scheduled(now_ns)
        self.inner.send_new_order(order, now_ns)

    def send_cancel(self, request: CancelRequest, now_ns: int) -> None:
        self._scheduled(now_ns)
        self.inner.send_cancel(request, now_ns)

    def send_replace(self, request: ReplaceRequest, now_ns: int) -> None:
        self._scheduled(now_ns)
        self.inner.send_replace(request, now_ns)


class PaperVenue:
    """The exchange simulator's venue: matching engine, FIX gateway, multicast feed. Reports
    and feed messages schedule their delivery on the engine's inbound links when sent."""

    def __init__(self, name: str, engine: MatchingEngine, scheduler: EventScheduler,
                 order_link: ModelledLink, feed_link: ModelledLink) -> None:  # fmt: skip
        self.name = name
        self.engine = engine
        self.scheduler = scheduler
        self.clock = scheduler.clock
        self.order_link = order_link
        self.feed_link = feed_link
        participants = [
            ParticipantConfig(PARTICIPANT, "calarb", "paper", heartbeat_interval_s=_HEARTBEAT_S)
        ]
        self.gateway = VenueGateway(
            engine, participants, self.clock.monotonic_ns, self.clock,
            exec_id_prefix=f"{name}-", defer=self._report_sent,
        )  # fmt: skip
        self.inbox = InboundLink(f"{name} order entry", self._execute)
        self.acceptor = FixAcceptor(
            acceptor_settings(name, participants, 0),
            lambda settings: ParkingApplication(self.inbox),
            clock=self.clock,
            authenticate=self.gateway.authenticate,
            on_event=self.gateway.on_session_event,
        )
        group, port = fresh_multicast_address()
        self.market_data_config = MarketDataConfig(name, group, port)
        self.market_data: VenueMarketData | None = None
        self.fix_port = 0
        self.reports_to: InboundLink | None = None  # the engine's side, set when wired
        self.feed_to: InboundLink | None = None

    async def start(self) -> None:
        self.fix_port = await self.acceptor.start(port=0)
        self.market_data = await VenueMarketData.open(
            self.market_data_config, self.engine.instruments
        )

    async def stop(self) -> None:
        await self.acceptor.stop()
        if self.market_data is not None:
            await self.market_data.close()

    def _report_sent(self, write: Callable[[], None]) -> None:
        write()
        now = self.clock.monotonic_ns()
        self.scheduler.schedule(self.order_link.arrival(now), self.reports_to.deliver)

    def _published(self, messages: int, now_ns: int) -> None:
        deliver = self.feed_to.deliver
        for _ in range(messages):
            self.scheduler.schedule(self.feed_link.arrival(now_ns), deliver)

    def _flush(self) -> None:
        for session in self.gateway.take_touched_sessions():
            connection = self.acceptor.connection_for(session)
            if connection is not None:
                connection.flush()

    def _execute(self, session: FixSession, message) -> None:
        """A request's delivery: the gateway acts on it now; reports and book changes go."""
        self.gateway.on_message(session, message)
        self.pump(self.clock.monotonic_ns())

    # the interface `SyntheticWorld` drives
    def start_of_day(self, now_ns: int) -> None:
        before = self.market_data.stats.messages_published
        self.market_data.start_of_day(now_ns)
        self._published(self.market_data.stats.messages_published - before, now_ns)

    def pump(self, now_ns: int) -> None:
        self.gateway.dispatch_reports()
        self._published(self.market_data.publish_engine(self.engine), now_ns)
        self._flush()


@dataclass
class EngineSide:
    """One venue as the engine sees it: FIX initiator + gateway, feed subscriber."""

    initiator: FixInitiator
    gateway: FixOrderGateway
    reports: InboundLink
    feed: InboundLink
    receiver: MoldReceiver | None = None
    subscriber: MoldSubscriber | None = None


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"paper run: timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def run_paper(config: BacktestConfig, timeout_s: float = 10.0) -> BacktestResult:
    """The configured synthetic market, traded over loopback in lock-step (module docstring).
    `timeout_s`: how long a due delivery may wait for its socket before the run fails."""
    started = time.perf_counter()
    market, seconds, names = market_config(config)
    world = SyntheticWorld(market, names)
    clock = SimulatedClock(market.start_ns)
    scheduler = LockstepScheduler(clock)
    venues: dict[str, PaperVenue] = {}
    sides: dict[str, EngineSide] = {}
    gateways: dict[str, LockstepOrderGateway] = {}
    holder: dict[str, object] = {}

    def market_data_sink(name: str):
        # the arrival stamp is dropped: the feed is parked and delivered on the schedule
        return lambda payload, _received_ns: holder["engine"].on_market_data(name, payload)

    for i, name in enumerate(names):
        order_link = ModelledLink(config.order_latency(name, i))
        venue = PaperVenue(
            name, world.engines[name], scheduler, order_link,
            ModelledLink(config.feed_latency(name, i)),
        )  # fmt: skip
        venues[name] = venue
        await venue.start()
        settings = settings_from_mapping({
            "BeginString": "FIX.4.4", "SenderCompID": PARTICIPANT, "TargetCompID": name,
            "SocketConnectHost": "127.0.0.1", "SocketConnectPort": venue.fix_port,
            "HeartBtInt": _HEARTBEAT_S, "Username": "calarb", "Password": "paper",
        })  # fmt: skip
        initiator = FixInitiator(
            settings, clock=clock,
            on_event=lambda session, event, n=name: sides[n].gateway.on_session_event(event),
        )  # fmt: skip
        fix_gateway = FixOrderGateway(name, initiator.session, initiator.flush, clock)
        reports = InboundLink(f"{name} reports", fix_gateway.on_message)
        initiator.session.application = ParkingApplication(reports)
        feed = InboundLink(f"{name} feed", market_data_sink(name))
        venue.reports_to, venue.feed_to = reports, feed
        side = sides[name] = EngineSide(initiator, fix_gateway, reports, feed)
        md = venue.market_data
        side.receiver = MoldReceiver(md.config.session, first_sequence=1)
        side.subscriber = await MoldSubscriber.create(
            side.receiver, md.config.group, md.config.port,
            md.retransmission_address, feed.receive, clock=clock,
        )  # fmt: skip
        gateways[name] = LockstepOrderGateway(fix_gateway, scheduler, order_link, venue.inbox)
    recorder = RunRecorder(config.sample_ns, {name: config.fees(name) for name in names})
    engine = build_engine(config, clock, gateways, recorder, synthetic_strategy(config, market))
    engine.true_hedge_ratios = {f"{p.dependent}/{p.driver}": p.hedge_ratio for p in market.pairs}
    holder["engine"] = engine
    try:
        for side in sides.values():
            side.gateway.attach(recorder, engine.oms, engine.router)
            side.initiator.start()
        await _until(lambda: all(s.gateway.connected for s in sides.values()), 10.0, "logons")
        world.open_day(venues)
        on_step = step_timers(config, scheduler, engine, recorder, market.start_ns)
        step_ns = market.step_ns
        for _ in range(world.steps(seconds)):
            await scheduler.run_until_async(world.fair_values.now_ns + step_ns, timeout_s)
            on_step(world.advance(venues))
        await scheduler.run_until_async(world.fair_values.now_ns + 1_000_000_000, timeout_s)
        recorder.sample(clock.monotonic_ns())
    finally:
        for side in sides.values():
            await side.initiator.stop(2.0)
            if side.subscriber is not None:
                side.subscriber.close()
        for venue in venues.values():
            await venue.stop()
    return BacktestResult(
        engine, recorder, events=scheduler.events_run, elapsed_s=time.perf_counter() - started,
        source=f"paper({market.seed}, {seconds:g} s, venues {names}, loopback lock-step)",
        venues={
            name: {
                "requests_received": venues[name].inbox.delivered,
                "messages": side.feed.delivered,
                "feed_gaps": side.receiver.stats.gaps_detected,
            }
            for name, side in sides.items()
        },
    )  # fmt: skip


def run_paper_blocking(config: BacktestConfig, timeout_s: float = 10.0) -> BacktestResult:
    return asyncio.run(run_paper(config, timeout_s))
