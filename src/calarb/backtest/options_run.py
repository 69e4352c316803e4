"""The options calibration-arbitrage strategy against the options simulator, run by the
trading engine: one loop, two transports (in-process backtest here, loopback paper run in
`calarb.backtest.options_paper`).

The strategy is a `calarb.Strategy` in a `TradingEngine` (through its `StrategyHost`): its
intents pass the engine's `RiskGate`, `Router` and `OrderManager` and go out through the
venue's `OrderGateway` (the backtest's `LockstepVenueGateway` here, the engine's
`FixOrderGateway` over TCP in the paper run); reports come back to the OMS, the `Portfolio`
and the strategy. Per step of the market, in this order, identically in both transports:

1. the venue's book events since the last step are published: options on ITTO 4.0, the
   underlying on ITCH 5.0, each message encoded to bytes; the trader decodes them
   (`OptionsQuoteBook`, `ItchBookFeed`) into top-of-book changes for the engine;
2. the engine's timer runs (the strategy's `on_timer`); its orders (IOC limits) reach the
   venue, which executes them at once; every report comes back before anything else happens;
3. the market steps (Heston, makers, plants).

Nothing depends on wall time (the engine's clock is the market's simulated time), so the same
configuration gives the same orders whatever the transport.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass, field
from typing import Protocol

from calarb.backtest.options_market import (
    FEE_PER_CONTRACT,
    OptionsMarket,
    OptionsMarketConfig,
    PlantedMispricing,
)
from calarb.book.feed import ItchBookFeed
from calarb.book.options_book import OptionListed, OptionsBookError, OptionsQuoteBook
from calarb.book.order_book import BookError
from calarb.core.clock import SimulatedClock, utc_midnight_ns
from calarb.core.events import TopOfBook
from calarb.core.option_contract import OptionContract
from calarb.core.order_events import CancelRequest, ExecutionReport, ReplaceRequest, VenueOrder
from calarb.core.types import PRICE_SCALE
from calarb.itch.codec import ENCODERS
from calarb.itch.errors import ItchDecodeError
from calarb.itch.options_codec import OPTIONS_ENCODERS, decode_options_message
from calarb.trading.engine import TradingEngine
from calarb.trading.gateway import ExecutionSink
from calarb.trading.oms import OrderManager
from calarb.trading.options_risk import OptionsRiskGate, OptionsRiskLimits
from calarb.trading.options_strategy import (
    OptionsCalibrationStrategy,
    OptionsStrategyConfig,
    purpose_of,
)
from calarb.trading.risk import RiskLimits
from calarb.trading.router import Router
from calarb.trading.strategy_api import StrategyHost
from calarb.venue.itch_publisher import ItchPublisher
from calarb.venue.matching import MatchingEngine
from calarb.venue.options_publisher import OptionsItchPublisher, split_events
from calarb.venue.orders import BookEvent

VENUE = "OPTV"
PARTICIPANT = "CALARB"
_MAX_KEPT_ERRORS = 100


@dataclass(frozen=True)
class OptionsRunConfig:
    market: OptionsMarketConfig = field(default_factory=OptionsMarketConfig)
    limits: OptionsRiskLimits = field(default_factory=OptionsRiskLimits)
    risk_limits: RiskLimits = field(default_factory=RiskLimits)  # the engine's gate
    seconds: float = 120.0
    fee_per_contract: int = FEE_PER_CONTRACT  # charged on every option fill
    entry_vol_points: float = 2.0
    entry_z: float = 3.0
    order_contracts: int = 5
    hedge_band_shares: int = 100

    def strategy_config(self) -> OptionsStrategyConfig:
        return OptionsStrategyConfig(
            self.market.underlying, self.market.trade_date,
            entry_vol_points=self.entry_vol_points, entry_z=self.entry_z,
            order_contracts=self.order_contracts, hedge_band_shares=self.hedge_band_shares,
            fee_per_contract=self.fee_per_contract,
        )  # fmt: skip


@dataclass
class OptionsRunResult:
    strategy: OptionsCalibrationStrategy
    engine: TradingEngine
    risk: OptionsRiskGate
    plants: list[PlantedMispricing]
    fee_per_contract: int
    source: str
    venue: dict = field(default_factory=dict)
    fix_sent: list[bytes] = field(default_factory=list)  # paper run: the FIX messages we sent

    @property
    def orders(self) -> list[tuple]:
        """What the OMS sent: (time_ns, symbol, side, quantity, price, purpose)."""
        return [
            (o.created_ns, o.symbol, int(o.side), o.quantity, o.price, purpose_of(o.tag))
            for o in self.engine.oms.orders()
        ]

    @property
    def reports(self) -> list[tuple]:
        """Our fills as the engine saw them: (time_ns, symbol, side, quantity, price, tag)."""
        return [
            (f.time_ns, f.symbol, int(f.side), f.quantity, f.price, f.tag)
            for f in self.engine.fills
        ]

    @property
    def fees(self) -> int:
        """Option fees (per contract), 1/10,000 units."""
        underlying = self.strategy.config.underlying
        contracts = sum(f.quantity for f in self.engine.fills if f.symbol != underlying)
        return contracts * self.fee_per_contract

    @property
    def pnl(self) -> float:
        """Net P&L at the end, currency units: the engine portfolio's (realised and
        unrealised, marks at mids, contract multipliers applied by the portfolio) less the
        option fees."""
        return (self.engine.portfolio.net_pnl - self.fees) / PRICE_SCALE

    def traded_plants(self) -> int:
        """Planted mispricings with an entry of ours on their option while they were live."""
        entries = [(t, s) for t, s, _side, _q, _p, purpose in self.orders if purpose == "entry"]
        return sum(
            any(s == p.symbol and p.start_ns <= t <= p.end_ns for t, s in entries)
            for p in self.plants
        )

    def summary(self) -> dict:
        s = self.strategy
        engine = self.engine
        orders = self.orders
        return {
            "source": self.source,
            "pnl": round(self.pnl, 2),
            "fees": self.fees / PRICE_SCALE,
            "orders": len(orders),
            "option_fills": s.option_fills,
            "hedge_fills": s.hedge_fills,
            "plants": len(self.plants),
            "plants_traded": self.traded_plants(),
            "entries": sum(1 for o in orders if o[5] == "entry"),
            "worst_abs_delta_shares": round(self.risk.worst_abs_delta, 1),
            "delta_limit_shares": self.risk.limits.max_delta_shares,
            "final_delta_shares": round(s.book_delta(), 1),
            "surface_fits": s.fits,
            "risk_refused": {r.name: n for r, n in self.risk.refused.items()},
            "engine_rejects": dict(engine.rejects),
            "engine_orders_sent": engine.orders_sent,
            "oms_anomalies": dict(engine.oms.anomalies),
            **self.venue,
        }


class TraderFeeds:
    """The trader's side of the market data: ITTO and ITCH 5.0 message bytes in; listings
    collected (the strategy is built from them), top-of-book changes handed to the engine
    (`attach`; before it, the latest top per symbol waits)."""

    def __init__(self) -> None:
        self.options_book = OptionsQuoteBook()
        self.equity_feed = ItchBookFeed(strict=True)
        self.listed: list[OptionContract] = []
        self.engine: TradingEngine | None = None
        self.waiting: dict[str, TopOfBook] = {}
        self.options_messages = 0
        self.equity_messages = 0
        self.refused = 0
        self.errors: list[str] = []

    def attach(self, engine: TradingEngine) -> None:
        self.engine = engine
        waiting, self.waiting = self.waiting, {}
        for top in waiting.values():
            engine.on_market_data(VENUE, top)

    def on_options_bytes(self, payload: bytes) -> None:
        self.options_messages += 1
        try:
            events = self.options_book.on_message(decode_options_message(payload, 0, len(payload)))
        except (ItchDecodeError, OptionsBookError) as error:
            self._refuse(f"ITTO message {self.options_messages}: {error}")
            return
        for event in events:
            if type(event) is OptionListed:
                self.listed.append(event.contract)
            elif type(event) is TopOfBook:
                self._top(event)

    def on_equity_bytes(self, payload: bytes) -> None:
        self.equity_messages += 1
        try:
            top = self.equity_feed.on_message_bytes(payload)
        except (ItchDecodeError, BookError) as error:
            self._refuse(f"ITCH message {self.equity_messages}: {error}")
            return
        if top is not None:
            self._top(top)

    def _top(self, top: TopOfBook) -> None:
        if self.engine is None:
            self.waiting[top.symbol] = top
        else:
            self.engine.on_market_data(VENUE, top)

    def _refuse(self, line: str) -> None:
        """A message that cannot be used: counted, its first lines kept; the run goes on."""
        self.refused += 1
        if len(self.errors) < _MAX_KEPT_ERRORS:
            self.errors.append(line)


class Transport(Protocol):
    owns_reports: bool
    clock: SimulatedClock
    gateway: object  # the engine's OrderGateway to the venue, with attach(sink, oms, router)

    async def start_of_day(self, now_ns: int) -> None: ...
    async def publish(self, options: list[BookEvent], equity: list[BookEvent]) -> None: ...
    async def settle(self, oms: OrderManager) -> None: ...
    async def finish(self, now_ns: int) -> dict: ...
    async def close(self) -> None: ...
    def sent_messages(self) -> list[bytes]: ...


def build_engine(config: OptionsRunConfig, feeds: TraderFeeds, transport: Transport
                 ) -> tuple[TradingEngine, OptionsCalibrationStrategy, OptionsRiskGate]:  # fmt: skip
    """The strategy on the options listed at the start of day, in a `TradingEngine` whose
    one venue is the transport's gateway."""
    risk = OptionsRiskGate(config.limits)
    strategy = OptionsCalibrationStrategy(config.strategy_config(), risk, feeds.listed)
    host = StrategyHost(strategy, id_prefix="O")
    engine = TradingEngine(
        transport.clock, host, {VENUE: transport.gateway}, risk_limits=config.risk_limits
    )
    host.attach(engine)
    transport.gateway.attach(engine, engine.oms, engine.router)
    feeds.attach(engine)
    return engine, strategy, risk


async def run_options(config: OptionsRunConfig, transport_factory, source: str) -> OptionsRunResult:
    """The loop of the module docstring. `transport_factory(market, feeds, options
    publisher, equity publisher)` gives the transport (it may open sockets: it is awaited)."""
    market = OptionsMarket(config.market)
    feeds = TraderFeeds()
    options_publisher = OptionsItchPublisher(market.symbols, underlying=market.underlying.symbol)
    equity_publisher = ItchPublisher([market.underlying])
    transport: Transport = await transport_factory(
        market, feeds, options_publisher, equity_publisher
    )
    try:
        await transport.start_of_day(market.now_ns)
        engine, strategy, risk = build_engine(config, feeds, transport)
        steps = math.ceil(config.seconds * 1e9 / config.market.step_ns)
        for _ in range(steps):
            await run_step(market, transport, options_publisher, engine, strategy)
        venue = await transport.finish(market.now_ns)
        sent = transport.sent_messages()
    finally:
        await transport.close()
    return OptionsRunResult(
        strategy, engine, risk, market.plants, config.fee_per_contract, source, venue, sent
    )


async def run_step(market: OptionsMarket, transport: Transport,
                   options_publisher: OptionsItchPublisher, engine: TradingEngine,
                   strategy: OptionsCalibrationStrategy) -> None:  # fmt: skip
    """One step of the loop (the module docstring's 1-3)."""
    events = market.engine.take_book_events()
    options_events, equity_events = split_events(events, options_publisher)
    now = market.now_ns
    transport.clock.advance_to(now)
    await transport.publish(options_events, equity_events)
    engine.on_timer(now)
    await transport.settle(engine.oms)
    strategy.risk.observe_delta(strategy.book_delta())
    market.step()
    if not transport.owns_reports:
        market.engine.take_reports()  # the makers' reports: nobody reads them


def market_clock(market: OptionsMarket) -> SimulatedClock:
    """The engine's clock in a run against the simulator: the market's time (nanoseconds
    from the trade date's midnight), its wall time that midnight (UTC) plus the same."""
    return SimulatedClock(market.now_ns, utc_midnight_ns(market.config.trade_date))


class LockstepVenueGateway:
    """The backtest's `OrderGateway`: orders go to the simulator's matching engine at once
    (no latency: the lock-step the paper run keeps over its sockets); the venue's reports to
    us wait until `deliver`, after the engine has sent everything of the step."""

    def __init__(self, venue: MatchingEngine) -> None:
        self.venue = venue
        self.sink: ExecutionSink | None = None
        self.waiting: list[ExecutionReport] = []
        self.sent = 0
        self._exec_ids = itertools.count(1)

    def attach(self, sink: ExecutionSink, oms: OrderManager, router: Router) -> None:
        self.sink = sink

    def send_new_order(self, order: VenueOrder, now_ns: int) -> None:
        venue = self.venue
        venue.take_reports()  # the makers' reports of the step: not ours
        venue.submit(
            now_ns, PARTICIPANT, order.cl_ord_id, order.symbol, order.side, order.quantity,
            order.price, order.ord_type, order.time_in_force,
        )  # fmt: skip
        self.sent += 1
        self.waiting += [
            r._replace(venue=VENUE, exec_id=f"{VENUE}-{next(self._exec_ids)}")  # as its gateway
            for r in venue.take_reports()
            if getattr(r, "participant", "") == PARTICIPANT
        ]

    def send_cancel(self, request: CancelRequest, now_ns: int) -> None:
        raise NotImplementedError("the options run sends IOC orders only")

    def send_replace(self, request: ReplaceRequest, now_ns: int) -> None:
        raise NotImplementedError("the options run sends IOC orders only")

    def deliver(self, now_ns: int) -> None:
        while self.waiting:
            waiting, self.waiting = self.waiting, []
            for report in waiting:
                self.sink.on_execution_report(report, now_ns)


class InProcessTransport:
    """The backtest: bytes handed over by call, orders executed on the matching engine."""

    owns_reports = False

    def __init__(self, market: OptionsMarket, feeds: TraderFeeds,
                 options_publisher: OptionsItchPublisher, equity_publisher: ItchPublisher) -> None:  # fmt: skip
        self.market = market
        self.feeds = feeds
        self.options_publisher = options_publisher
        self.equity_publisher = equity_publisher
        self.clock = market_clock(market)
        self.gateway = LockstepVenueGateway(market.engine)

    @classmethod
    async def create(cls, *args) -> InProcessTransport:
        return cls(*args)

    async def start_of_day(self, now_ns: int) -> None:
        for m in self.options_publisher.start_of_day(now_ns):
            self.feeds.on_options_bytes(OPTIONS_ENCODERS[m.message_type](m))
        for m in self.equity_publisher.start_of_day(now_ns):
            self.feeds.on_equity_bytes(ENCODERS[m.message_type](m))

    async def publish(self, options: list[BookEvent], equity: list[BookEvent]) -> None:
        """Each event's message bytes, as the feeds would carry them, to the trader."""
        for payload in self.options_publisher.encode(options):
            self.feeds.on_options_bytes(payload)
        for payload in self.equity_publisher.encode(equity):
            self.feeds.on_equity_bytes(payload)

    async def settle(self, oms: OrderManager) -> None:
        self.gateway.deliver(self.clock.monotonic_ns())

    async def finish(self, now_ns: int) -> dict:
        return {
            "options_messages": self.feeds.options_messages,
            "equity_messages": self.feeds.equity_messages,
        }

    async def close(self) -> None:
        return None

    def sent_messages(self) -> list[bytes]:
        return []  # no wire


def run_options_backtest(config: OptionsRunConfig) -> OptionsRunResult:
    source = f"options backtest(seed {config.market.seed}, {config.seconds:g} s)"
    return asyncio.run(run_options(config, InProcessTransport.create, source))
