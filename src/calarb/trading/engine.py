"""The trading engine: the loop from a market-data message to an order and back, by direct
calls on one thread.

Tick to trade (`on_market_data`): the venue's ITCH message bytes (or a ready `TopOfBook`)
-> that venue's `ItchBookFeed` (decode and book update, fused in its fast path) -> the
symbol's consolidated top of book across venues (router gets the venue's own top; risk
gate, portfolio and strategy the consolidated one) -> each pair model of the symbol -> the
strategy -> risk gate -> router -> OMS -> the venue's `OrderGateway`. Nothing is done when a
venue's change leaves the consolidated top unchanged. Each order goes all the way to its
gateway before the strategy prices the next one (it hands its actions over lazily), so the
first leg of a pair is written without waiting for the second.

And back (`on_execution_report`, `on_cancel_reject`): OMS (order states), whose listeners
are the portfolio (positions, P&L), the risk gate (exposure), the strategy (its legs; own
fills go to the pair model: recalibration) and the engine's counters; then the strategy is
asked again (legging control, pending sends).

The engine reads time only from the `Clock` it is given (a `SimulatedClock` in backtests and
in-process runs; see `calarb.trading.gateway`). The latency recorder has its own clock
(normally a `LiveClock`, so a simulated run still measures real processing time by stage).

The trading state is the risk gate's (`risk.state`, a `TradingState`): the strategy is asked
only while it is ACTIVE. Kill switch (`kill`, or automatic when the risk gate kills itself on
the daily loss limit): HALTED, every open order cancelled, positions optionally flattened
with reduce-only IOC orders. On `on_timer`, a post-trade limit breach (positions at current
marks) moves to REDUCING (`start_reducing`: the strategy's working orders are cancelled) and
sends reduce-only deleveraging orders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from calarb.book.feed import ItchBookFeed
from calarb.core.clock import Clock
from calarb.core.events import TopOfBook
from calarb.core.option_contract import contract_multipliers
from calarb.core.order_events import CancelReject, ExecutionReport
from calarb.core.orders import ExecType, OrderPurpose
from calarb.core.types import PRICE_SCALE
from calarb.ops.latency import LatencyRecorder, Stage
from calarb.trading.gateway import OrderGateway
from calarb.trading.oms import JournalSink, OrderManager
from calarb.trading.orders import (
    Liquidity,
    OrderIntent,
    OrderRecord,
    VenueFees,
    venue_order_fields,
)
from calarb.trading.portfolio import Portfolio
from calarb.trading.risk import (
    RiskGate,
    RiskLimits,
    RiskReason,
    TradingState,
    deleveraging_intents,
    engage_kill_switch,
)
from calarb.trading.router import Router
from calarb.trading.strategy import CancelOrder, PairsStrategy, StrategyAction

_DECODED = Stage.DECODED
_BOOK_UPDATED = Stage.BOOK_UPDATED
_MODEL_UPDATED = Stage.MODEL_UPDATED
_SIGNAL = Stage.SIGNAL
_RISK_PASSED = Stage.RISK_PASSED
_ROUTED = Stage.ROUTED
_PASSED = RiskReason.PASSED
_ACTIVE = TradingState.ACTIVE
_HALTED = TradingState.HALTED
_NO_ACTIONS: tuple[StrategyAction, ...] = ()
_DELEVERAGE = OrderPurpose.DELEVERAGE
_STRATEGY_PURPOSES = frozenset((OrderPurpose.ENTRY, OrderPurpose.EXIT, OrderPurpose.UNWIND))
_new_top = tuple.__new__  # builds a TopOfBook without its Python-level __new__


def consolidated_top(symbol: str, timestamp_ns: int, tops: Mapping[str, TopOfBook]) -> TopOfBook:
    """Best bid and offer of `symbol` across venues (`tops`: venue -> its top of book), with
    the shares of every venue at the best prices summed."""
    bid = ask = bid_shares = ask_shares = 0
    for top in tops.values():
        if top.bid_shares > 0:
            if top.bid_price > bid:
                bid, bid_shares = top.bid_price, top.bid_shares
            elif top.bid_price == bid:
                bid_shares += top.bid_shares
        if top.ask_shares > 0:
            if ask == 0 or top.ask_price < ask:
                ask, ask_shares = top.ask_price, top.ask_shares
            elif top.ask_price == ask:
                ask_shares += top.ask_shares
    return TopOfBook(symbol, timestamp_ns, bid, bid_shares, ask, ask_shares)


class Fill:
    """One fill of ours, as the engine saw it (for reports and checks)."""

    __slots__ = ("time_ns", "venue", "symbol", "side", "quantity", "price", "liquidity", "tag")

    def __init__(self, time_ns, venue, symbol, side, quantity, price, liquidity, tag) -> None:
        self.time_ns = time_ns
        self.venue = venue
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.liquidity = liquidity
        self.tag = tag

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)


class TradingEngine:
    """One engine: books per venue, the pairs strategy, risk gate, router, OMS, portfolio.

    `gateways`: venue name -> its `OrderGateway`; `fees`: venue name -> `VenueFees` (zero
    when missing). `true_hedge_ratios`: pair name -> the known true ratio, for reports.
    `trading_state`: the risk gate's first state (WARMING_UP: the strategy waits for
    `risk.start_trading`). `multipliers`: symbol -> contract multiplier for the portfolio
    and the risk gate (default: `contract_multipliers` of the strategy's symbols, 100 for
    an OCC option symbol).
    """

    def __init__(
        self,
        clock: Clock,
        strategy: PairsStrategy,
        gateways: Mapping[str, OrderGateway],
        *,
        fees: Mapping[str, VenueFees] | None = None,
        risk_limits: RiskLimits | None = None,
        recorder: LatencyRecorder | None = None,
        journal: JournalSink | None = None,
        router: Router | None = None,
        true_hedge_ratios: Mapping[str, float] | None = None,
        trading_state: TradingState = TradingState.ACTIVE,
        multipliers: Mapping[str, int] | None = None,
    ) -> None:
        if not gateways:
            raise ValueError("an engine needs at least one venue gateway")
        self.clock = clock
        self._monotonic_ns = clock.monotonic_ns
        self.strategy = strategy
        self.gateways: dict[str, OrderGateway] = dict(gateways)
        venue_fees = {venue: (fees or {}).get(venue, VenueFees()) for venue in self.gateways}
        if multipliers is None:
            multipliers = contract_multipliers(strategy.symbols)
        self.portfolio = Portfolio(venue_fees, multipliers)
        self.risk = RiskGate(
            risk_limits or RiskLimits(), self.portfolio, trading_state, multipliers
        )
        self.router = router or Router(venue_fees.items())
        self.oms = OrderManager([self.portfolio, self.risk, strategy, self], journal)
        self.recorder = recorder
        # Stamps are stored inline on the hot path (one list store per stage, no call).
        self._stamps = recorder.stamps if recorder is not None else None
        self._stamp_now = recorder.now if recorder is not None else None
        self.true_hedge_ratios = dict(true_hedge_ratios or {})
        symbols = strategy.symbols
        self.feeds = {venue: ItchBookFeed(symbols=symbols) for venue in self.gateways}
        self._venue_tops: dict[str, dict[str, TopOfBook]] = {s: {} for s in symbols}
        self.consolidated: dict[str, TopOfBook] = {}
        self.orders_sent = 0
        self.intents = 0
        self.cancels_sent = 0
        self.cancels_confirmed = 0
        self.cancel_rejects = 0
        self.fills: list[Fill] = []
        self.filled_shares = 0
        self.rejects: Counter[str] = Counter()
        self.market_data_messages = 0
        self.ticks_to_model = 0
        self._killed_at = -1  # risk.state_changes when the kill switch's cancels went out
        self.deleveraging_orders = 0

    # -- market data (tick to trade) -------------------------------------------------------

    def on_market_data(
        self, venue: str, message: bytes | TopOfBook, received_ns: int | None = None
    ) -> None:
        """One ITCH message of `venue` (no length prefix, as a MoldUDP64 message block) or
        that venue's new top of book. `received_ns`: arrival on the recorder's clock."""
        recorder = self.recorder
        if recorder is not None:
            recorder.begin_tick(received_ns)
        try:
            self.market_data_messages += 1
            if type(message) is TopOfBook:
                top = message
            else:
                feed = self.feeds.get(venue)
                if feed is None:
                    raise KeyError(f"market data from unknown venue {venue!r}")
                top = feed.on_message_bytes(message)
            stamps = self._stamps
            if stamps is not None:
                stamps[_DECODED] = self._stamp_now()
            if top is not None:
                self._on_venue_top(venue, top)
        finally:
            if recorder is not None:
                recorder.end_tick()

    def _on_venue_top(self, venue: str, top: TopOfBook) -> None:
        symbol = top.symbol
        venue_tops = self._venue_tops.get(symbol)
        if venue_tops is None:
            return  # a symbol no pair trades
        self.router.on_top_of_book(venue, top)
        venue_tops[venue] = top
        now = self._monotonic_ns()
        stamps = self._stamps
        last = self.consolidated.get(symbol)
        if len(venue_tops) == 1:
            # One venue quotes the symbol: its top is the consolidated one (what
            # consolidated_top gives for a single venue, compared before it is built).
            _, _, bid, bid_shares, ask, ask_shares = top
            if bid_shares <= 0 or bid < 0:
                bid = bid_shares = 0
            if ask_shares <= 0:
                ask = ask_shares = 0
            # a slice, not four indexes: compiled, `last[i]` on a NamedTuple is a Python call
            if last is not None and last[2:] == (bid, bid_shares, ask, ask_shares):
                if stamps is not None:
                    stamps[_BOOK_UPDATED] = self._stamp_now()
                return
            best = _new_top(TopOfBook, (symbol, now, bid, bid_shares, ask, ask_shares))
        else:
            best = consolidated_top(symbol, now, venue_tops)
            if last is not None and last[2:] == best[2:]:
                if stamps is not None:
                    stamps[_BOOK_UPDATED] = self._stamp_now()
                return
        self.consolidated[symbol] = best
        risk = self.risk
        risk.on_top_of_book(best)
        self.portfolio.on_top_of_book(best)
        strategy = self.strategy
        strategy.on_top_of_book(best)
        if stamps is not None:
            stamps[_BOOK_UPDATED] = self._stamp_now()
        for state in strategy.pairs_by_symbol[symbol]:
            if not state.model.on_top_of_book(best):
                continue
            self.ticks_to_model += 1
            if stamps is not None and not stamps[_MODEL_UPDATED]:
                stamps[_MODEL_UPDATED] = self._stamp_now()
            actions = (
                strategy.on_model_update(state.name, now) if risk.state is _ACTIVE else _NO_ACTIONS
            )
            if stamps is not None and not stamps[_SIGNAL]:
                stamps[_SIGNAL] = self._stamp_now()
            if actions:
                self._execute(actions, now)

    # -- orders out ------------------------------------------------------------------------

    def _execute(self, actions: Iterable[StrategyAction], now_ns: int) -> None:
        for action in actions:
            if type(action) is CancelOrder:
                self._cancel_parent(action.parent_id, now_ns)
            else:
                self._send_intent(action, now_ns)
        if self._kill_pending():
            self.kill(self.risk.state_reason)

    def _send_intent(self, intent: OrderIntent, now_ns: int) -> bool:
        self.intents += 1
        reason = self.risk.check(intent, now_ns)
        if reason is not _PASSED:
            self.rejects[reason.name] += 1
            self.strategy.on_intent_refused(intent)
            return False
        stamps = self._stamps
        if stamps is not None and not stamps[_RISK_PASSED]:
            stamps[_RISK_PASSED] = self._stamp_now()
        decision = self.router.route(intent)
        if stamps is not None and not stamps[_ROUTED]:
            stamps[_ROUTED] = self._stamp_now()
        if decision.unrouted:
            self.rejects["NO_VENUE"] += 1
            self.risk.release(intent, decision.unrouted)
            self.strategy.on_intent_refused(intent, decision.unrouted)
        gateways = self.gateways
        oms = self.oms
        for child in decision.orders:
            oms.submit(child, now_ns)
            venue = venue_order_fields(child)[2]  # VenueOrder.venue
            gateways[venue].send_new_order(child, now_ns)
            self.orders_sent += 1
        return bool(decision.orders)

    def _cancel_parent(self, parent_id: str, now_ns: int) -> None:
        for order in self.oms.orders_of_parent(parent_id):
            request = self.oms.request_cancel(order.cl_ord_id, now_ns)
            if request is not None:
                self.gateways[request.venue].send_cancel(request, now_ns)
                self.cancels_sent += 1

    # -- reports in ------------------------------------------------------------------------

    def on_execution_report(self, report: ExecutionReport, now_ns: int | None = None) -> None:
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        record = self.oms.on_execution_report(report, now)
        if record is not None:
            exec_type = report.exec_type
            if exec_type is ExecType.NEW:
                self.router.on_round_trip(report.venue, now - record.created_ns)
            elif exec_type is ExecType.REJECTED:
                self.rejects["VENUE_REJECTED"] += 1
            elif exec_type is ExecType.CANCELED:
                self.cancels_confirmed += 1
        self._after_event(now)

    def on_cancel_reject(self, reject: CancelReject, now_ns: int | None = None) -> None:
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        self.oms.on_cancel_reject(reject, now)
        self.cancel_rejects += 1
        self._after_event(now)

    def on_timer(self, now_ns: int | None = None) -> None:
        """Time passing without market data: legging timeouts, post-trade limit checks.

        It acts only on a breached limit, a pair in a transition, a maximum holding time or
        a pending kill: see `timer_idle_until`, which must change with it."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        breaches = self.risk.breaches()
        if breaches and not any(order.purpose is _DELEVERAGE for order in self.oms.open_orders()):
            names = ", ".join(breach.reason.name for breach in breaches)
            self.start_reducing(f"post-trade limit breach: {names}", now)
            for intent in deleveraging_intents(self.risk, now):
                if self._send_intent(intent, now):
                    self.deleveraging_orders += 1
        self._after_event(now)

    def timer_idle_until(self) -> int:
        """Until when a timer tick would do nothing if no event came first: 0 with a kill
        pending or a limit breached, else the strategy's `timer_idle_until` (a pair in a
        transition, a maximum holding time). The fast replay runs such ticks in its kernel."""
        if self._kill_pending() or self.risk.breaches():
            return 0
        return self.strategy.timer_idle_until()

    def _after_event(self, now_ns: int) -> None:
        actions = self.strategy.on_timer(now_ns) if self.risk.state is _ACTIVE else _NO_ACTIONS
        if actions or self._kill_pending():
            self._execute(actions, now_ns)

    def _kill_pending(self) -> bool:
        """The risk gate halted (e.g. on the daily loss limit) since the engine last sent the
        kill switch's cancels."""
        risk = self.risk
        return risk.state is _HALTED and self._killed_at != risk.state_changes

    # -- OMS listener (counters) -----------------------------------------------------------

    def on_fill(self, order: OrderRecord, quantity: int, price: int, liquidity: Liquidity) -> None:
        self.fills.append(
            Fill(
                order.updated_ns, order.venue, order.symbol, order.side, quantity, price,
                liquidity, order.tag,
            )
        )  # fmt: skip
        self.filled_shares += quantity

    def on_release(self, order: OrderRecord, quantity: int) -> None:
        """Nothing to count: the OMS and the risk gate keep the open quantities."""

    # -- controls --------------------------------------------------------------------------

    def start_reducing(self, reason: str, now_ns: int | None = None) -> bool:
        """WARMING_UP or ACTIVE -> REDUCING (False if the state did not change): the strategy
        is not asked any more, so its working orders are cancelled (nothing would steer or
        time them out); manual and reduce-only orders stay."""
        if not self.risk.start_reducing(reason):
            return False
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        oms = self.oms
        for order in oms.open_orders():
            if order.purpose in _STRATEGY_PURPOSES:
                request = oms.request_cancel(order.cl_ord_id, now)
                if request is not None:
                    self.gateways[request.venue].send_cancel(request, now)
                    self.cancels_sent += 1
        return True

    def kill(self, reason: str = "manual", flatten: bool = False) -> None:
        """Kill switch: the risk gate HALTED (its first reason kept), every open order
        cancelled, positions optionally flattened."""
        now = self.clock.monotonic_ns()
        result = engage_kill_switch(self.risk, self.oms, now, reason, flatten)
        self._killed_at = self.risk.state_changes
        for request in result.cancels:
            self.gateways[request.venue].send_cancel(request, now)
            self.cancels_sent += 1
        for intent in result.flatten:
            self._send_intent(intent, now)

    # -- reports ---------------------------------------------------------------------------

    def kill_switch(self) -> dict[str, Any]:
        """{"engaged": the risk gate is HALTED, "reason": why ("" if not engaged)}."""
        engaged = self.risk.state is _HALTED
        return {"engaged": engaged, "reason": self.risk.state_reason if engaged else ""}

    def hedge_ratios(self) -> dict[str, dict[str, float | None]]:
        return {
            name: {"estimated": state.model.beta, "true": self.true_hedge_ratios.get(name)}
            for name, state in self.strategy.pairs.items()
        }

    def summary(self) -> dict[str, Any]:
        """The run's figures as plain data (the `calarb demo --json` shape; money in
        currency units)."""
        portfolio = self.portfolio
        totals = self.strategy.totals()
        summary: dict[str, Any] = {
            "orders_sent": self.orders_sent,
            "fills": len(self.fills),
            "filled_shares": self.filled_shares,
            "rejects": dict(sorted(self.rejects.items())),
            "cancels": self.cancels_sent,
            "legging_events": totals.get("legging_events", 0),
            "strategy": totals,
            "positions": {
                symbol: position.quantity
                for symbol, position in sorted(portfolio.positions.items())
            },
            "pnl": {
                "realized": portfolio.realized / PRICE_SCALE,
                "unrealized": portfolio.unrealized / PRICE_SCALE,
                "fees": portfolio.fees / PRICE_SCALE,
                "net": portfolio.net_pnl / PRICE_SCALE,
            },
            "hedge_ratios": self.hedge_ratios(),
            "kill_switch": self.kill_switch(),
            "oms_anomalies": dict(self.oms.anomalies),
            "market_data_messages": self.market_data_messages,
        }
        if self.recorder is not None:
            summary["tick_to_trade_us"] = self.recorder.tick_to_trade_us()
            summary["stages_us"] = self.recorder.stage_summary_us()
        return summary
