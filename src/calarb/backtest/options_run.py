"""The options calibration-arbitrage strategy against the options simulator: one loop, two
transports (in-process backtest here, loopback paper run in `calarb.backtest.options_paper`).

Per step of the market, in this order, identically in both transports:

1. the venue's book events since the last step are published: options on ITTO 4.0, the
   underlying on ITCH 5.0, each message encoded to bytes; the trader decodes them
   (`OptionsQuoteBook`, `ItchBookFeed`) into top-of-book changes for the strategy;
2. the strategy's timer runs; its orders (IOC limits) go to the venue, which executes them
   on the engine at once; every report comes back before anything else happens;
3. the market steps (Heston, makers, plants).

Nothing depends on wall time, so the same configuration gives the same orders whatever the
transport: the backtest hands the bytes over by function call, the paper run sends them over
MoldUDP64 multicast and FIX on 127.0.0.1 and waits for them (lock-step).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Protocol

from calarb.backtest.options_market import OptionsMarket, OptionsMarketConfig, PlantedMispricing
from calarb.book.feed import ItchBookFeed
from calarb.book.options_book import OptionListed, OptionsBookError, OptionsQuoteBook
from calarb.book.order_book import BookError
from calarb.core.events import TopOfBook
from calarb.core.order_events import ExecutionReport
from calarb.core.orders import ExecType, OrdStatus, OrdType, TimeInForce
from calarb.core.types import PRICE_SCALE
from calarb.itch.codec import ENCODERS
from calarb.itch.errors import ItchDecodeError
from calarb.itch.options_codec import OPTIONS_ENCODERS, decode_options_message
from calarb.trading.options_risk import OptionsRiskGate, OptionsRiskLimits
from calarb.trading.options_strategy import (
    OptionsCalibrationStrategy,
    OptionsFill,
    OptionsOrder,
    OptionsStrategyConfig,
)
from calarb.venue.itch_publisher import ItchPublisher
from calarb.venue.options_publisher import OptionsItchPublisher, split_events
from calarb.venue.orders import BookEvent

PARTICIPANT = "CALARB"
_MAX_KEPT_ERRORS = 100
_DONE = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})


@dataclass(frozen=True)
class OptionsRunConfig:
    market: OptionsMarketConfig = field(default_factory=OptionsMarketConfig)
    limits: OptionsRiskLimits = field(default_factory=OptionsRiskLimits)
    seconds: float = 120.0
    fee_per_contract: int = 5_000  # 0.50 per contract, charged on every option fill
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
    risk: OptionsRiskGate
    plants: list[PlantedMispricing]
    orders: list[tuple]  # (time_ns, symbol, side, quantity, price, purpose)
    reports: list[tuple]  # (symbol, side, last_qty, last_px, ord_status) of our fills
    source: str
    venue: dict = field(default_factory=dict)

    @property
    def pnl(self) -> float:
        """Net P&L at the end (positions at mids, fees paid), currency units."""
        return self.strategy.mark_to_market() / PRICE_SCALE

    def traded_plants(self) -> int:
        """Planted mispricings with an entry of ours on their option while they were live."""
        entries = [(t, s) for t, s, _side, _q, _p, purpose in self.orders if purpose == "entry"]
        return sum(
            any(s == p.symbol and p.start_ns <= t <= p.end_ns for t, s in entries)
            for p in self.plants
        )

    def summary(self) -> dict:
        s = self.strategy
        option_fills = [f for f in s.fills if f.symbol != s.config.underlying]
        return {
            "source": self.source,
            "pnl": round(self.pnl, 2),
            "fees": s.fees / PRICE_SCALE,
            "orders": len(self.orders),
            "option_fills": len(option_fills),
            "hedge_fills": len(s.fills) - len(option_fills),
            "plants": len(self.plants),
            "plants_traded": self.traded_plants(),
            "entries": sum(1 for o in self.orders if o[5] == "entry"),
            "worst_abs_delta_shares": round(self.risk.worst_abs_delta, 1),
            "delta_limit_shares": self.risk.limits.max_delta_shares,
            "final_delta_shares": round(s.book_delta(), 1),
            "surface_fits": s.fits,
            "risk_refused": {r.name: n for r, n in self.risk.refused.items()},
            **self.venue,
        }


class TraderFeeds:
    """The trader's side of the market data: ITTO and ITCH 5.0 message bytes in, the
    strategy told about listings and top-of-book changes."""

    def __init__(self, strategy: OptionsCalibrationStrategy) -> None:
        self.strategy = strategy
        self.options_book = OptionsQuoteBook()
        self.equity_feed = ItchBookFeed(strict=True)
        self.options_messages = 0
        self.equity_messages = 0
        self.refused = 0
        self.errors: list[str] = []

    def on_options_bytes(self, payload: bytes) -> None:
        self.options_messages += 1
        try:
            events = self.options_book.on_message(decode_options_message(payload, 0, len(payload)))
        except (ItchDecodeError, OptionsBookError) as error:
            self._refuse(f"ITTO message {self.options_messages}: {error}")
            return
        for event in events:
            if type(event) is OptionListed:
                self.strategy.on_option_listed(event.contract)
            elif type(event) is TopOfBook:
                self.strategy.on_quote(event)

    def on_equity_bytes(self, payload: bytes) -> None:
        self.equity_messages += 1
        try:
            top = self.equity_feed.on_message_bytes(payload)
        except (ItchDecodeError, BookError) as error:
            self._refuse(f"ITCH message {self.equity_messages}: {error}")
            return
        if top is not None:
            self.strategy.on_quote(top)

    def _refuse(self, line: str) -> None:
        """A message that cannot be used: counted, its first lines kept; the run goes on."""
        self.refused += 1
        if len(self.errors) < _MAX_KEPT_ERRORS:
            self.errors.append(line)


class Transport(Protocol):
    owns_reports: bool

    async def start_of_day(self, now_ns: int) -> None: ...
    async def publish(self, options: list[BookEvent], equity: list[BookEvent]) -> None: ...
    async def finish(self, now_ns: int) -> dict: ...
    async def close(self) -> None: ...
    async def execute(
        self, orders: list[tuple[str, OptionsOrder]], now_ns: int
    ) -> list[ExecutionReport]: ...


def report_to_fill(report: ExecutionReport, purpose: str, now_ns: int) -> OptionsFill | None:
    if report.exec_type is not ExecType.TRADE or report.last_qty <= 0:
        return None
    return OptionsFill(now_ns, report.symbol, report.side, report.last_qty, report.last_px, purpose)


async def run_options(config: OptionsRunConfig, transport_factory, source: str) -> OptionsRunResult:
    """The loop of the module docstring. `transport_factory(market, feeds)` gives the
    transport (it may open sockets: it is awaited)."""
    market = OptionsMarket(config.market)
    risk = OptionsRiskGate(config.limits)
    strategy = OptionsCalibrationStrategy(config.strategy_config(), risk)
    feeds = TraderFeeds(strategy)
    options_publisher = OptionsItchPublisher(market.symbols, underlying=market.underlying.symbol)
    equity_publisher = ItchPublisher([market.underlying])
    transport: Transport = await transport_factory(
        market, feeds, options_publisher, equity_publisher
    )
    orders_log: list[tuple] = []
    reports_log: list[tuple] = []
    try:
        now = market.now_ns
        await transport.start_of_day(now)
        steps = math.ceil(config.seconds * 1e9 / config.market.step_ns)
        order_number = 0
        for _ in range(steps):
            events = market.engine.take_book_events()
            options_events, equity_events = split_events(events, options_publisher)
            await transport.publish(options_events, equity_events)
            now = market.now_ns
            orders = strategy.on_timer(now)
            if orders:
                numbered = []
                for order in orders:
                    order_number += 1
                    numbered.append((f"O{order_number}", order))
                    orders_log.append(
                        (
                            now,
                            order.symbol,
                            int(order.side),
                            order.quantity,
                            order.price,
                            order.purpose,
                        )
                    )
                purposes = {cl_ord_id: order.purpose for cl_ord_id, order in numbered}
                for report in await transport.execute(numbered, now):
                    fill = report_to_fill(report, purposes.get(report.cl_ord_id, ""), now)
                    if fill is not None:
                        strategy.on_fill(fill)
                        reports_log.append(
                            (
                                report.cl_ord_id,
                                report.symbol,
                                int(report.side),
                                report.last_qty,
                                report.last_px,
                                str(report.ord_status),
                            )
                        )
                    if report.ord_status in _DONE:
                        strategy.on_order_done(report.symbol)
            risk.observe_delta(strategy.book_delta())
            market.step()
            if not transport.owns_reports:
                market.engine.take_reports()  # the makers' reports: nobody reads them
        venue = await transport.finish(market.now_ns)
    finally:
        await transport.close()
    return OptionsRunResult(strategy, risk, market.plants, orders_log, reports_log, source, venue)


class InProcessTransport:
    """The backtest: bytes handed over by call, orders executed on the engine directly."""

    owns_reports = False

    def __init__(self, market: OptionsMarket, feeds: TraderFeeds,
                 options_publisher: OptionsItchPublisher, equity_publisher: ItchPublisher) -> None:  # fmt: skip
        self.market = market
        self.feeds = feeds
        self.options_publisher = options_publisher
        self.equity_publisher = equity_publisher

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

    async def execute(
        self, orders: list[tuple[str, OptionsOrder]], now_ns: int
    ) -> list[ExecutionReport]:
        engine = self.market.engine
        engine.take_reports()  # the makers' reports of the step: not ours
        for cl_ord_id, order in orders:
            engine.submit(
                now_ns, PARTICIPANT, cl_ord_id, order.symbol, order.side, order.quantity,
                order.price, OrdType.LIMIT, TimeInForce.IOC,
            )  # fmt: skip
        return [r for r in engine.take_reports() if getattr(r, "participant", "") == PARTICIPANT]

    async def finish(self, now_ns: int) -> dict:
        return {
            "options_messages": self.feeds.options_messages,
            "equity_messages": self.feeds.equity_messages,
        }

    async def close(self) -> None:
        return None


def run_options_backtest(config: OptionsRunConfig) -> OptionsRunResult:
    source = f"options backtest(seed {config.market.seed}, {config.seconds:g} s)"
    return asyncio.run(run_options(config, InProcessTransport.create, source))
