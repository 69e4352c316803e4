"""Pre-trade risk gate, kill switch and post-trade deleveraging.

`RiskGate.check(intent, now_ns)` returns a `RiskReason`; PASSED means the intent's quantity
is now reserved (counted as open) until the OMS reports it filled or released, so that every
limit holds in the worst case where all open orders fill. The gate keeps its own exposure
book, updated in O(1) per event, so a passing check is a few dictionary and attribute reads
and comparisons (no loop over symbols or orders).

Worst case per symbol, with position p, open buys B and open sells S (shares):
``high = p + B``, ``low = p - S``. Limits, all integers:

* position:  ``-limit <= low`` and ``high <= limit``
* order notional: ``quantity * price * multiplier <= max_order_notional``
* gross exposure: ``sum over symbols of max(|high|, |low|) * value <= max_gross``
* net exposure: ``-max_net <= sum(low * value)`` and ``sum(high * value) <= max_net``

where ``value = mark * multiplier`` is the money one unit of the symbol is worth.

Quantities are in the symbol's units (shares, contracts). Exposure is money in 1/10,000
currency units: quantity x mark (mid of the top of book given to `on_top_of_book`, floored;
before any book, the first order's price) x the symbol's contract multiplier (given at
construction as to the Portfolio; 1 when missing). A fill
moves shares from open to position and never widens [low, high], so fills alone never break
a limit; mark moves can, and that is what `breaches` and `deleveraging_intents` are for.

Open orders and the rate throttle count parent orders (intents): a parent split by the
router over several venues counts once. Replaces may only reprice or reduce (`check_replace`).

The gate owns the engine's `TradingState` (as NautilusTrader's risk engine does): whether the
strategy trades, only positions are reduced, or the kill switch is engaged. Every change goes
through `_move` and its table `_TRANSITIONS`, with the reason kept (`state_reason`).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from calarb.core.events import TopOfBook
from calarb.core.order_events import CancelRequest
from calarb.core.types import Side
from calarb.trading.orders import (
    Liquidity,
    OrderIntent,
    OrderPurpose,
    OrderRecord,
    OrdType,
    TimeInForce,
)


class TradingState(enum.Enum):
    """What the engine may do (`RiskGate.state`). The engine asks the strategy only while
    ACTIVE; the gate itself refuses by state only when HALTED (everything but reduce-only
    intents: KILL_SWITCH)."""

    WARMING_UP = "warming up"  # live start-up: feeds catch up, sessions log on
    ACTIVE = "active"  # the strategy trades
    REDUCING = "reducing"  # no new positions: deleveraging after a breach, or stopping
    HALTED = "halted"  # kill switch: open orders cancelled, reduce-only intents only


_WARMING_UP = TradingState.WARMING_UP
_ACTIVE = TradingState.ACTIVE
_REDUCING = TradingState.REDUCING
_HALTED = TradingState.HALTED
_TRANSITIONS: dict[tuple[TradingState, str], TradingState] = {
    # (state, the RiskGate method asking) -> the new state
    (_WARMING_UP, "start_trading"): _ACTIVE,
    (_WARMING_UP, "start_reducing"): _REDUCING,
    (_WARMING_UP, "kill"): _HALTED,
    (_ACTIVE, "start_reducing"): _REDUCING,
    (_ACTIVE, "kill"): _HALTED,
    (_REDUCING, "kill"): _HALTED,
    (_HALTED, "reset_kill"): _ACTIVE,  # an operator's decision
}
"""Every change of trading state. Any other request leaves the state and its reason as they
are: a second kill keeps the first one's reason, reducing while halted stays halted."""


class RiskReason(enum.IntEnum):
    """Outcome of a pre-trade check; everything but PASSED is a rejection."""

    PASSED = 0
    KILL_SWITCH = 1
    HALTED = 2
    INVALID_ORDER = 3  # quantity <= 0 or negative price
    DUPLICATE_CLORDID = 4
    MAX_ORDER_QUANTITY = 5
    MAX_ORDER_NOTIONAL = 6
    NO_REFERENCE_PRICE = 7  # no top of book to collar against
    PRICE_COLLAR = 8
    MAX_OPEN_ORDERS = 9
    POSITION_LIMIT = 10
    GROSS_EXPOSURE = 11
    NET_EXPOSURE = 12
    DAILY_LOSS = 13
    RATE_THROTTLE = 14
    REDUCE_ONLY_INCREASES = 15  # a reduce-only intent would grow the worst-case position


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits, all integers. Money in 1/10,000 currency units; 0 disables a money limit
    only where said."""

    max_order_quantity: int = 10_000
    max_order_notional: int = 1_000_000 * 10_000  # 1,000,000 currency units
    collar_bps: int = 100  # a buy may not be priced above ask + ask*collar_bps/10,000 ...
    collar_min: int = 500  # ... nor the collar narrower than this (price units; 0.05)
    max_position: int = 50_000  # shares per symbol, worst case including open orders
    position_limits: dict[str, int] = field(default_factory=dict)  # per-symbol overrides
    max_gross_exposure: int = 5_000_000 * 10_000
    max_net_exposure: int = 2_000_000 * 10_000
    max_daily_loss: int = 50_000 * 10_000  # on realised + unrealised P&L net of fees
    max_orders_per_window: int = 100
    rate_window_ns: int = 1_000_000_000
    max_open_orders: int = 200
    require_reference_price: bool = True
    kill_on_daily_loss: bool = True


class _SymbolRisk:
    __slots__ = (
        "symbol",
        "position",
        "open_buy",
        "open_sell",
        "bid",
        "ask",
        "mark",
        "gross",
        "net_high",
        "net_low",
        "limit",
        "multiplier",
        "halted",
    )

    def __init__(self, symbol: str, limit: int, multiplier: int) -> None:
        self.symbol = symbol
        self.position = 0
        self.open_buy = 0
        self.open_sell = 0
        self.bid = 0
        self.ask = 0
        self.mark = 0
        self.gross = 0
        self.net_high = 0
        self.net_low = 0
        self.limit = limit
        self.multiplier = multiplier
        self.halted = False


_BUY = Side.BUY  # module constants: an enum attribute lookup costs ~100 ns on CPython 3.11
_PASSED = RiskReason.PASSED


class Breach(NamedTuple):
    """A limit exceeded by the current state (post-trade)."""

    reason: RiskReason
    symbol: str | None
    value: int
    limit: int


class RiskGate:
    """Pre-trade checks with a counter per reason. An OMS listener (`on_fill`,
    `on_release`); takes the consolidated top of book through `on_top_of_book`."""

    def __init__(
        self,
        limits: RiskLimits,
        portfolio: object | None = None,
        state: TradingState = TradingState.ACTIVE,
        multipliers: Mapping[str, int] | None = None,
    ) -> None:
        """`portfolio` is anything with an int attribute `net_pnl` (calarb.trading.portfolio
        .Portfolio, given the same `multipliers`), read for the daily loss limit. `state`: the
        trading state to start in (WARMING_UP for a live start). `multipliers`: symbol ->
        contract multiplier, 1 when missing."""
        self.limits = limits
        self.multipliers: dict[str, int] = dict(multipliers or {})
        if any(m <= 0 for m in self.multipliers.values()):
            raise ValueError(f"contract multipliers {self.multipliers} are not all positive")
        self._portfolio = portfolio
        self._symbols: dict[str, _SymbolRisk] = {}
        self._reserved: dict[str, int] = {}  # parent ClOrdID -> open (unfilled) shares
        self._seen_ids: set[str] = set()
        self._sent_ns: deque[int] = deque()
        self.gross_exposure = 0
        self.net_high = 0
        self.net_low = 0
        self.state = state
        self.state_reason = ""
        self.state_changes = 0  # moves so far: lets a reader tell a new HALTED from an old one
        self.counts = [0] * len(RiskReason)

    # ------------------------------------------------------------------ state feeds
    def _symbol(self, symbol: str) -> _SymbolRisk:
        state = self._symbols.get(symbol)
        if state is None:
            limit = self.limits.position_limits.get(symbol, self.limits.max_position)
            multiplier = self.multipliers.get(symbol, 1)
            state = self._symbols[symbol] = _SymbolRisk(symbol, limit, multiplier)
        return state

    def _refresh(self, s: _SymbolRisk) -> None:
        high = s.position + s.open_buy
        low = s.position - s.open_sell
        value = s.mark * s.multiplier  # C integers when compiled: no cost at multiplier 1
        gross = (high if high > -low else -low) * value
        self.gross_exposure += gross - s.gross
        self.net_high += high * value - s.net_high
        self.net_low += low * value - s.net_low
        s.gross = gross
        s.net_high = high * value
        s.net_low = low * value

    def on_top_of_book(self, top: TopOfBook) -> None:
        s = self._symbols.get(top.symbol) or self._symbol(top.symbol)
        s.bid = top.bid_price if top.bid_shares > 0 else 0
        s.ask = top.ask_price if top.ask_shares > 0 else 0
        mark = (s.bid + s.ask) // 2 if s.bid and s.ask else s.bid or s.ask or s.mark
        if mark != s.mark:
            s.mark = mark
            self._refresh(s)

    def on_fill(self, order: OrderRecord, quantity: int, price: int, liquidity: Liquidity) -> None:
        s = self._symbol(order.symbol)
        if order.side is _BUY:
            s.position += quantity
            s.open_buy -= quantity
        else:
            s.position -= quantity
            s.open_sell -= quantity
        if s.mark == 0:
            s.mark = price
        self._unreserve(order.parent_id, quantity)
        self._refresh(s)

    def on_release(self, order: OrderRecord, quantity: int) -> None:
        s = self._symbol(order.symbol)
        if order.side is _BUY:
            s.open_buy -= quantity
        else:
            s.open_sell -= quantity
        self._unreserve(order.parent_id, quantity)
        self._refresh(s)

    def release(self, intent: OrderIntent, quantity: int) -> None:
        """Give back `quantity` of a passed intent that was never sent (e.g. the router found
        no venue for it)."""
        s = self._symbol(intent.symbol)
        if intent.side is Side.BUY:
            s.open_buy -= quantity
        else:
            s.open_sell -= quantity
        self._unreserve(intent.cl_ord_id, quantity)
        self._refresh(s)

    def _unreserve(self, parent_id: str, quantity: int) -> None:
        left = self._reserved.get(parent_id)
        if left is not None:
            left -= quantity
            if left > 0:
                self._reserved[parent_id] = left
            else:
                del self._reserved[parent_id]

    # ------------------------------------------------------------------ controls
    def halt(self, symbol: str) -> None:
        self._symbol(symbol).halted = True

    def resume(self, symbol: str) -> None:
        self._symbol(symbol).halted = False

    def _move(self, request: str, reason: str) -> bool:
        """The one place the trading state changes, by `_TRANSITIONS` (returns whether it
        moved)."""
        state = _TRANSITIONS.get((self.state, request))
        if state is None:
            return False
        self.state = state
        self.state_reason = reason
        self.state_changes += 1
        return True

    def start_trading(self, reason: str = "") -> bool:
        """WARMING_UP -> ACTIVE."""
        return self._move("start_trading", reason)

    def start_reducing(self, reason: str) -> bool:
        """WARMING_UP or ACTIVE -> REDUCING: the strategy is not asked any more (deleveraging,
        stopping)."""
        return self._move("start_reducing", reason)

    def kill(self, reason: str = "manual") -> bool:
        """-> HALTED: refuse every new intent except reduce-only ones until `reset_kill`."""
        return self._move("kill", reason)

    def reset_kill(self) -> bool:
        """HALTED -> ACTIVE."""
        return self._move("reset_kill", "")

    # ------------------------------------------------------------------ the check
    def _reject(self, reason: RiskReason) -> RiskReason:
        self.counts[reason] += 1
        return reason

    def check(self, intent: OrderIntent, now_ns: int) -> RiskReason:
        """Check one intent at time `now_ns` (monotonic ns); on PASSED its quantity is
        reserved and its ClOrdID is used up."""
        limits = self.limits
        cl_ord_id = intent.cl_ord_id
        symbol = intent.symbol
        quantity = intent.quantity
        price = intent.price
        reduce_only = intent.reduce_only
        s = self._symbols.get(symbol)
        if s is None:
            s = self._symbol(symbol)
        if s.halted:
            return self._reject(RiskReason.HALTED)
        if self.state is _HALTED and not reduce_only:
            return self._reject(RiskReason.KILL_SWITCH)
        if quantity <= 0 or price < 0:
            return self._reject(RiskReason.INVALID_ORDER)
        if cl_ord_id in self._seen_ids:
            return self._reject(RiskReason.DUPLICATE_CLORDID)
        if quantity > limits.max_order_quantity:
            return self._reject(RiskReason.MAX_ORDER_QUANTITY)
        buy = intent.side is _BUY
        reference = (s.ask or s.bid) if buy else (s.bid or s.ask)
        if reference:
            deviation = reference * limits.collar_bps // 10_000
            if deviation < limits.collar_min:
                deviation = limits.collar_min
            if price == 0:
                price = reference
            elif (price - reference if buy else reference - price) > deviation:
                return self._reject(RiskReason.PRICE_COLLAR)
        elif limits.require_reference_price or price == 0:
            return self._reject(RiskReason.NO_REFERENCE_PRICE)
        notional = quantity * price
        if s.multiplier != 1:
            notional *= s.multiplier
        if notional > limits.max_order_notional:
            return self._reject(RiskReason.MAX_ORDER_NOTIONAL)
        if len(self._reserved) >= limits.max_open_orders:
            return self._reject(RiskReason.MAX_OPEN_ORDERS)
        mark = s.mark or price
        value = mark * s.multiplier  # money per unit (C integers when compiled)
        if buy:
            high = s.position + s.open_buy + quantity
            low = s.position - s.open_sell
            if high > s.limit:
                return self._reject(RiskReason.POSITION_LIMIT)
        else:
            high = s.position + s.open_buy
            low = s.position - s.open_sell - quantity
            if -low > s.limit:
                return self._reject(RiskReason.POSITION_LIMIT)
        gross = (high if high > -low else -low) * value
        increases = gross > s.gross
        if reduce_only and increases:
            return self._reject(RiskReason.REDUCE_ONLY_INCREASES)
        if increases and self.gross_exposure - s.gross + gross > limits.max_gross_exposure:
            return self._reject(RiskReason.GROSS_EXPOSURE)
        if buy:
            if self.net_high - s.net_high + high * value > limits.max_net_exposure:
                return self._reject(RiskReason.NET_EXPOSURE)
        elif self.net_low - s.net_low + low * value < -limits.max_net_exposure:
            return self._reject(RiskReason.NET_EXPOSURE)
        portfolio = self._portfolio
        if (
            portfolio is not None
            and portfolio.net_pnl < -limits.max_daily_loss  # type: ignore[attr-defined]
            and not reduce_only
        ):
            if limits.kill_on_daily_loss:
                self.kill("daily loss limit")
            return self._reject(RiskReason.DAILY_LOSS)
        window = self._sent_ns
        horizon = now_ns - limits.rate_window_ns
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= limits.max_orders_per_window:
            return self._reject(RiskReason.RATE_THROTTLE)
        # Passed: reserve. The exposure is `_refresh` with the values computed above (high,
        # low and gross already count the reserved quantity; `mark` is the mark from now on).
        window.append(now_ns)
        self._seen_ids.add(cl_ord_id)
        self._reserved[cl_ord_id] = quantity
        if buy:
            s.open_buy += quantity
        else:
            s.open_sell += quantity
        s.mark = mark
        net_high = high * value
        net_low = low * value
        self.gross_exposure += gross - s.gross
        self.net_high += net_high - s.net_high
        self.net_low += net_low - s.net_low
        s.gross = gross
        s.net_high = net_high
        s.net_low = net_low
        self.counts[0] += 1
        return _PASSED

    def check_replace(self, order: OrderRecord, quantity: int, price: int) -> RiskReason:
        """Check a cancel/replace of an open order: it may reprice (collar applies) or reduce,
        never raise the quantity (send a new intent for more)."""
        s = self._symbol(order.symbol)
        if s.halted:
            return self._reject(RiskReason.HALTED)
        if quantity > order.quantity or quantity <= order.cum_qty or price < 0:
            return self._reject(RiskReason.INVALID_ORDER)
        buy = order.side is Side.BUY
        reference = (s.ask or s.bid) if buy else (s.bid or s.ask)
        if reference and price:
            deviation = max(reference * self.limits.collar_bps // 10_000, self.limits.collar_min)
            if (price - reference if buy else reference - price) > deviation:
                return self._reject(RiskReason.PRICE_COLLAR)
        self.counts[0] += 1
        return RiskReason.PASSED

    # ------------------------------------------------------------------ reads
    @property
    def open_orders(self) -> int:
        """Parent orders with quantity still open."""
        return len(self._reserved)

    def rejection_counts(self) -> dict[str, int]:
        """Reason name -> count of rejections (and PASSED -> passes)."""
        return {reason.name: self.counts[reason] for reason in RiskReason if self.counts[reason]}

    def symbol_state(self, symbol: str) -> dict[str, int]:
        s = self._symbol(symbol)
        return {
            "position": s.position,
            "open_buy": s.open_buy,
            "open_sell": s.open_sell,
            "mark": s.mark,
            "limit": s.limit,
        }

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def orders_in_window(self, now_ns: int) -> int:
        horizon = now_ns - self.limits.rate_window_ns
        return sum(1 for t in self._sent_ns if t > horizon)

    def breaches(self) -> list[Breach]:
        """Limits the current positions (not open orders) exceed at current marks."""
        limits = self.limits
        found = []
        gross = net = 0
        for s in self._symbols.values():
            position = s.position
            if not position and s.limit >= 0:  # often (a timer checks every period): nothing
                continue
            size = abs(position)
            if size > s.limit:
                found.append(Breach(RiskReason.POSITION_LIMIT, s.symbol, size, s.limit))
            value = s.mark * s.multiplier
            gross += size * value
            net += position * value
        if gross > limits.max_gross_exposure:
            found.append(Breach(RiskReason.GROSS_EXPOSURE, None, gross, limits.max_gross_exposure))
        if abs(net) > limits.max_net_exposure:
            found.append(Breach(RiskReason.NET_EXPOSURE, None, abs(net), limits.max_net_exposure))
        pnl = getattr(self._portfolio, "net_pnl", 0)
        if pnl < -limits.max_daily_loss:
            found.append(Breach(RiskReason.DAILY_LOSS, None, -pnl, limits.max_daily_loss))
        return found

    # ------------------------------------------------------------------ restart
    def rebuild(
        self, open_orders: Iterable[OrderRecord], positions: dict[str, int], used_ids: Iterable[str]
    ) -> None:
        """Restore state after a restart: positions (symbol -> shares), the open orders of
        the OMS (reserved again by parent) and every parent ClOrdID already used."""
        for s in self._symbols.values():
            s.position = s.open_buy = s.open_sell = 0
        self._reserved.clear()
        for symbol, quantity in positions.items():
            self._symbol(symbol).position = quantity
        for order in open_orders:
            s = self._symbol(order.symbol)
            if order.side is Side.BUY:
                s.open_buy += order.leaves_qty
            else:
                s.open_sell += order.leaves_qty
            self._reserved[order.parent_id] = (
                self._reserved.get(order.parent_id, 0) + order.leaves_qty
            )
        self._seen_ids.update(used_ids)
        for s in self._symbols.values():
            self._refresh(s)


# ---------------------------------------------------------------------- kill and deleverage
class KillResult(NamedTuple):
    cancels: list[CancelRequest]
    flatten: list[OrderIntent]


def _closing_intent(
    gate: RiskGate, symbol: str, quantity: int, cl_ord_id: str, purpose: OrderPurpose
) -> OrderIntent:
    """A reduce-only IOC at the touch that takes `quantity` shares (signed: > 0 buys)."""
    s = gate._symbol(symbol)
    side = Side.BUY if quantity > 0 else Side.SELL
    touch = (s.ask or s.mark) if side is Side.BUY else (s.bid or s.mark)
    return OrderIntent(
        cl_ord_id,
        symbol,
        side,
        abs(quantity),
        touch,
        OrdType.LIMIT,
        TimeInForce.IOC,
        "risk",
        True,
        purpose,
    )


def engage_kill_switch(
    gate: RiskGate,
    oms: object,
    now_ns: int,
    reason: str = "manual",
    flatten: bool = False,
) -> KillResult:
    """Stop new risk, return a cancel for every open order of `oms` (an OrderManager) and,
    if `flatten`, reduce-only IOC intents that close every position at the touch. The
    flattening intents still go through `gate.check` (they pass a kill switch)."""
    gate.kill(reason)
    cancels = oms.cancel_all(now_ns)  # type: ignore[attr-defined]
    intents = []
    if flatten:
        for symbol, s in gate._symbols.items():
            if s.position:
                cl_ord_id = f"KILL-{now_ns}-{symbol}"
                intents.append(
                    _closing_intent(gate, symbol, -s.position, cl_ord_id, OrderPurpose.FLATTEN)
                )
    return KillResult(cancels, intents)


def deleveraging_intents(gate: RiskGate, now_ns: int, target: float = 0.9) -> list[OrderIntent]:
    """Reduce-only intents that bring current positions back inside the limits at current
    marks: each symbol to its position limit, then the largest exposures first until gross
    and net exposure are at `target` times their limits. A daily loss breach flattens all."""
    limits = gate.limits
    wanted: dict[str, int] = {}  # symbol -> position after deleveraging
    states = {s.symbol: s for s in gate._symbols.values() if s.position}
    for symbol, s in states.items():
        wanted[symbol] = max(-s.limit, min(s.limit, s.position))
    if any(b.reason is RiskReason.DAILY_LOSS for b in gate.breaches()):
        wanted = dict.fromkeys(states, 0)

    values = {symbol: s.mark * s.multiplier for symbol, s in states.items()}  # money per unit

    def exposure() -> tuple[int, int]:
        gross = sum(abs(q) * values[sym] for sym, q in wanted.items())
        net = sum(q * values[sym] for sym, q in wanted.items())
        return gross, net

    gross, net = exposure()
    gross_goal = int(limits.max_gross_exposure * target)
    net_goal = int(limits.max_net_exposure * target)
    if gross > limits.max_gross_exposure or abs(net) > limits.max_net_exposure:
        by_size = sorted(wanted, key=lambda sym: abs(wanted[sym]) * values[sym], reverse=True)
        for symbol in by_size:
            value = values[symbol]
            if value <= 0:
                continue
            if gross > gross_goal:
                excess_shares = -(-(gross - gross_goal) // value)  # ceiling
                held = wanted[symbol]
                cut = min(abs(held), excess_shares)
                wanted[symbol] = held - cut if held > 0 else held + cut
                gross, net = exposure()
            if abs(net) > net_goal and wanted[symbol] and (wanted[symbol] > 0) == (net > 0):
                excess_shares = -(-(abs(net) - net_goal) // value)
                held = wanted[symbol]
                cut = min(abs(held), excess_shares)
                wanted[symbol] = held - cut if held > 0 else held + cut
                gross, net = exposure()
    intents = []
    for symbol, goal in wanted.items():
        change = goal - states[symbol].position
        if change:
            cl_ord_id = f"DELEV-{now_ns}-{symbol}"
            intents.append(
                _closing_intent(gate, symbol, change, cl_ord_id, OrderPurpose.DELEVERAGE)
            )
    return intents
