"""A running engine's state read as plain data, off the hot path: one reader for the metrics
collector, the dashboard and the alert rules.

It reads the counters and states the engine keeps anyway (OMS, portfolio, risk gate and its
limits, strategy and pair models, latency recorder, MoldUDP64 receivers, FIX sessions and
gateways) when asked: nothing is added to the tick-to-trade path. `ops` sits below `trading`
(DESIGN.md), so the engine is read by attribute, never imported; `live` is a
`calarb.trading.live.LiveEngine`.

Money is in currency units here (the engine's integers / PRICE_SCALE): this is reporting.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from calarb.core.types import PRICE_SCALE
from calarb.ops.histograms import percentiles_us
from calarb.ops.latency import STAGE_NAMES, Stage

OPEN_ORDERS_SHOWN = 50


class OrderTally:
    """Orders and fills by (venue, side), counted at read time from the OMS and the engine's
    fill list. Orders of an earlier run (restored from the journal) are not this run's and are
    left out. A recount happens only when `orders_sent` moved; fills are counted
    incrementally (the engine's list only grows)."""

    def __init__(self, live: Any) -> None:
        self._engine = live.engine
        self._baseline = self._count_orders()
        self._orders: Counter[tuple[str, str]] = Counter()
        self._orders_sent = 0
        self._fills: Counter[tuple[str, str]] = Counter()
        self._fill_shares: Counter[tuple[str, str]] = Counter()
        self._fills_seen = 0

    def _count_orders(self) -> Counter[tuple[str, str]]:
        return Counter(
            (order.venue, order.side.name.lower()) for order in self._engine.oms.orders()
        )

    def orders(self) -> Counter[tuple[str, str]]:
        sent = self._engine.orders_sent
        if sent != self._orders_sent:
            self._orders = self._count_orders() - self._baseline
            self._orders_sent = sent
        return self._orders

    def fills(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
        """(fills, filled shares) by (venue, side)."""
        fills = self._engine.fills
        if len(fills) < self._fills_seen:  # the list was cleared (a journal restore)
            self._fills.clear()
            self._fill_shares.clear()
            self._fills_seen = 0
        for fill in fills[self._fills_seen :]:
            key = (fill.venue, fill.side.name.lower())
            self._fills[key] += 1
            self._fill_shares[key] += fill.quantity
        self._fills_seen = len(fills)
        return self._fills, self._fill_shares


def _ratio(used: float, limit: float) -> float:
    return used / limit if limit > 0 else 0.0


def risk_utilisation(risk: Any, net_pnl: int, now_ns: int) -> list[dict[str, Any]]:
    """Each limit's use: {"limit", "used", "max", "utilisation"} (utilisation 1.0 = at it).
    Position limits count open orders (the gate's worst case), one row per symbol."""
    limits = risk.limits
    rows = [
        (
            "gross_exposure",
            risk.gross_exposure / PRICE_SCALE,
            limits.max_gross_exposure / PRICE_SCALE,
        ),
        (
            "net_exposure",
            max(risk.net_high, -risk.net_low) / PRICE_SCALE,
            limits.max_net_exposure / PRICE_SCALE,
        ),
        ("daily_loss", max(0, -net_pnl) / PRICE_SCALE, limits.max_daily_loss / PRICE_SCALE),
        ("open_orders", risk.open_orders, limits.max_open_orders),
        ("order_rate", risk.orders_in_window(now_ns), limits.max_orders_per_window),
    ]
    for symbol in risk.symbols():
        s = risk.symbol_state(symbol)
        worst = max(s["position"] + s["open_buy"], s["open_sell"] - s["position"], 0)
        rows.append((f"position:{symbol}", worst, s["limit"]))
    return [
        {"limit": name, "used": used, "max": maximum, "utilisation": _ratio(used, maximum)}
        for name, used, maximum in rows
    ]


def read_pairs(live: Any, halted: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    engine = live.engine
    pairs = {}
    for name, state in engine.strategy.pairs.items():
        model = state.model
        ready = bool(model.ready)
        rules = state.config.rules
        pairs[name] = {
            "legs": [state.leg_a.symbol, state.leg_b.symbol],
            "ready": ready,
            "z": float(model.z) if ready else None,
            "hedge_ratio": float(model.beta) if ready else None,
            "true_hedge_ratio": engine.true_hedge_ratios.get(name),
            "observations": int(model.observations),
            "last_update_ns": int(model.last_time_ns),
            "entry": rules.entry,
            "exit": rules.exit,
            "stop": rules.stop,
            "signal": state.signal.position.name,
            "positions": {leg.symbol: leg.position for leg in state.legs},
            "halted": name in halted,
            **state.counters.as_dict(),
        }
    return pairs


def read_feeds(live: Any) -> dict[str, Any]:
    feeds = {}
    for name, feed in live.feeds.items():
        receiver = feed.receiver
        subscriber = feed.subscriber or feed.closed_subscriber
        feeds[name] = {
            **receiver.stats.as_dict(),
            "caught_up": feed.caught_up,
            "missing_ranges": len(receiver.missing_ranges) if receiver.has_missing else 0,
            "next_sequence": receiver.next_sequence,
            "highest_known_sequence": receiver.highest_known_sequence,
            "callback_errors": subscriber.callback_errors if subscriber is not None else 0,
            "open": feed.subscriber is not None,
        }
    return feeds


def read_sessions(live: Any) -> dict[str, Any]:
    sessions = {}
    for name, gateway in live.gateways.items():
        session = gateway.session
        initiator = live.initiators.get(name)
        connections = initiator.connections if initiator is not None else 0
        sessions[name] = {
            "state": session.state.name,
            "logged_on": bool(session.logged_on),
            "connected": bool(gateway.connected),
            "next_sender_seq": session.next_sender_seq,
            "next_target_seq": session.next_target_seq,
            "test_requests": int(session.test_requests or 0),
            "connections": connections,
            "reconnects": max(0, connections - 1),
            "new_orders_sent": gateway.new_orders_sent,
            "messages": dict(gateway.counts),
        }
    return sessions


def read_open_orders(live: Any, limit: int = OPEN_ORDERS_SHOWN) -> list[dict[str, Any]]:
    orders = live.engine.oms.open_orders()
    return [
        {
            "cl_ord_id": o.cl_ord_id,
            "venue": o.venue,
            "symbol": o.symbol,
            "side": o.side.name.lower(),
            "price": o.price / PRICE_SCALE,
            "quantity": o.quantity,
            "leaves": o.leaves_qty,
            "status": o.status.name.lower(),
            "tag": o.tag,
        }
        for o in orders[-limit:]
    ]


def read_fills(live: Any, limit: int) -> list[dict[str, Any]]:
    return [
        {
            "time_ns": fill.time_ns,
            "venue": fill.venue,
            "symbol": fill.symbol,
            "side": fill.side.name.lower(),
            "quantity": fill.quantity,
            "price": fill.price / PRICE_SCALE,
            "tag": fill.tag,
        }
        for fill in live.engine.fills[-limit:]
    ]


def read_engine(live: Any, now_ns: int, *, halted: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Counters, state, P&L, positions and limits of the engine at `now_ns` (its clock)."""
    engine = live.engine
    risk = engine.risk
    portfolio = engine.portfolio
    positions = {s: p.quantity for s, p in sorted(portfolio.positions.items())}
    marks = {s: risk.symbol_state(s)["mark"] for s in risk.symbols()}
    return {
        "trading_state": risk.state.name,
        "trading_state_reason": risk.state_reason,
        "counters": {
            "orders_sent": engine.orders_sent,
            "intents": engine.intents,
            "fills": len(engine.fills),
            "filled_shares": engine.filled_shares,
            "cancels_sent": engine.cancels_sent,
            "cancels_confirmed": engine.cancels_confirmed,
            "cancel_rejects": engine.cancel_rejects,
            "deleveraging_orders": engine.deleveraging_orders,
            "market_data_messages": engine.market_data_messages,
            "legging_events": engine.strategy.totals().get("legging_events", 0),
        },
        "rejects": dict(engine.rejects),
        "pnl": {
            "realized": portfolio.realized / PRICE_SCALE,
            "unrealized": portfolio.unrealized / PRICE_SCALE,
            "fees": portfolio.fees / PRICE_SCALE,
            "net": portfolio.net_pnl / PRICE_SCALE,
        },
        "positions": positions,
        "exposure": {s: q * marks.get(s, 0) / PRICE_SCALE for s, q in positions.items()},
        "limits": risk_utilisation(risk, portfolio.net_pnl, now_ns),
        "open_order_count": engine.oms.open_count,
    }


def latency_quantiles(recorder: Any) -> dict[str, dict[str, float | int]]:
    """Tick to trade and its stages (ticks that sent an order): p50/p99/p999 in us, count."""
    if recorder is None:
        return {}
    stages: dict[str, dict[str, float | int]] = {}
    for stage in Stage:
        if stage is not Stage.PACKET_RECEIVED:
            summary = percentiles_us(recorder.order_histogram(stage))
            if summary["count"]:
                stages[STAGE_NAMES[stage]] = summary
    stages["tick_to_trade"] = percentiles_us(recorder.histogram(None))
    return stages
