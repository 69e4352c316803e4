"""Pairs statistical arbitrage: z-score rules to two-leg orders, with legging control.

One `PairsStrategy` runs several pairs. Each pair has a live `PairModel` (hedge ratio and
z-score), a `SpreadSignal` (entry / exit / stop / maximum holding, docs/model.md) and two
legs, each with a target position, its own filled position and at most one working parent
order. The strategy is pure: no sockets, no clock; every call carries the time, and it
returns what to do (`OrderIntent`s and `CancelOrder`s) for the engine to send through the
risk gate and the router. It is an OMS listener: `on_fill` / `on_release` track its own
orders by parent ClOrdID, and each own fill goes to the pair's `PairModel.on_fill` (the
recalibration loop).

Sizing (whole shares, `lot_size` multiples):

* leg A: `sizing="shares"`: `size` shares; `sizing="notional"`: `size` (money, 1/10,000
  currency units) divided by A's mid, rounded down.
* leg B from the hedge ratio beta: price form `qB = |beta| qA`; log form (beta is an
  elasticity) `qB = |beta| qA pA / pB`, the dollar-neutral ratio of the log model at the
  current mids; rounded to the nearest lot. A long spread buys A and sells B (buys B if
  beta < 0); a short spread is the mirror image. A size that rounds to 0 skips the entry.

Prices: `price_reference="far"` starts from the opposite touch (a buy at the ask: crossing),
`"near"` from the own side (a buy at the bid: joining); `limit_offset_ticks` moves it that
many ticks more aggressive (buy higher, sell lower). `order_style="limit"` sends DAY limit
orders, `"ioc"` immediate-or-cancel ones. Aggressive (hedge/unwind) orders are IOC at the far
touch plus `hedge_offset_ticks`.

Transitions. A signal (from a settled pair: every leg at its target, nothing working) moves
the targets and sends both legs; the signal is not consulted again until the pair settles.
After an exit or stop no entry is taken for `cooldown_ns`. Maximum holding time is the
`SignalRules.max_holding_ns` stop, checked on every model update and on the timer (a quiet
market does not extend a holding). If a transition is not complete `leg_timeout_ns` after
its last action:

* entry, nothing filled on either leg: abandoned (working orders cancelled, targets back);
* entry, one leg (partly) filled and not the other: a **legging event** (counted once per
  transition), handled by `legging_action`: `reprice` cancels the lagging leg's order and
  sends it again from the current touch (at most `max_reprices` times, then `hedge`);
  `hedge` completes the lagging leg with an aggressive IOC; `unwind` gives up the trade:
  targets go back and the filled leg is closed with an aggressive IOC;
* exit and unwind: the missing quantity is sent again aggressively (an exit is never
  unwound: that would re-open the risk). A legged exit counts as a legging event too.

Orders of the kill switch or deleveraging are not the strategy's. Whether the strategy trades
at all is the risk gate's `TradingState`: the engine asks it only while that is ACTIVE.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from itertools import chain

from calarb.core.events import TopOfBook
from calarb.core.types import Side
from calarb.model.live import PairModel
from calarb.model.signal import SignalAction, SpreadPosition, SpreadSignal
from calarb.model.spread import SpreadForm
from calarb.trading.orders import (
    Liquidity,
    OrderIntent,
    OrderRecord,
    OrdType,
    TimeInForce,
    new_intent,
)
from calarb.trading.strategy_types import (  # re-exported: the strategy's public vocabulary
    _PURPOSE_OF,
    IDLE_FOREVER,
    CancelOrder,
    LeggingAction,
    OrderStyle,
    PairCounters,
    PairStrategyConfig,
    PriceReference,
    Sizing,
    StrategyAction,
    Transition,
)

__all__ = [
    "IDLE_FOREVER",
    "CancelOrder",
    "LeggingAction",
    "OrderStyle",
    "PairCounters",
    "PairState",
    "PairStrategyConfig",
    "PairsStrategy",
    "PriceReference",
    "Sizing",
    "StrategyAction",
    "Transition",
]


class _Leg:
    """One leg of a pair: its position, target and working order."""

    def __init__(self, symbol: str, label: str, pair: str = "") -> None:
        self.symbol = symbol
        self.label = label
        self.tag = f"{pair}:{label}"  # the OrderIntent tag of this leg's orders
        self.position = 0
        self.target = 0
        self.start = 0
        self.working: str | None = None  # parent ClOrdID of the working order
        self.working_side = Side.BUY
        self.remaining = 0  # shares of the working parent still open
        self.cancel_sent = False
        self.armed = False
        self.aggressive = False

    @property
    def gap(self) -> int:
        return self.target - self.position

    @property
    def done(self) -> bool:
        return self.working is None and self.position == self.target


def _holding_deadline(state: PairState) -> int | None:
    """When a held pair's maximum holding time runs out (None: flat, no maximum, or no
    z-score to ask the signal with)."""
    limit = state.config.rules.max_holding_ns
    signal = state.signal
    if limit is None or signal.position is SpreadPosition.FLAT or not state.model.ready:
        return None
    return signal.entered_ns + limit


class PairState:
    """One pair's model, signal, legs and transition."""

    def __init__(self, config: PairStrategyConfig, model: PairModel) -> None:
        if (model.leg_a, model.leg_b) != (config.leg_a, config.leg_b):
            raise ValueError(f"model {model.pair} does not match strategy pair {config.name}")
        self.config = config
        self.model = model
        self.name = config.name
        self.min_observations = config.min_observations
        self.signal = SpreadSignal(config.rules)
        self.leg_a = _Leg(config.leg_a, "A", self.name)
        self.leg_b = _Leg(config.leg_b, "B", self.name)
        self.legs = (self.leg_a, self.leg_b)
        self.transition: Transition | None = None
        self.action_ns = 0
        self.legged = False
        self.reprices_done = 0
        self.cooldown_until_ns = -1
        self.counters = PairCounters()

    @property
    def settled(self) -> bool:
        return self.leg_a.done and self.leg_b.done

    def snapshot(self) -> dict[str, object]:
        return {
            "pair": self.name,
            "signal": self.signal.position.name,
            "transition": self.transition.value if self.transition else None,
            "positions": {leg.symbol: leg.position for leg in self.legs},
            "targets": {leg.symbol: leg.target for leg in self.legs},
            "working": {leg.symbol: leg.working for leg in self.legs if leg.working},
            **self.counters.as_dict(),
        }


_NOTHING: list[StrategyAction] = []
# Module constants: an enum attribute lookup is slow on the hot path.
_BUY, _SELL = Side.BUY, Side.SELL
_IOC, _DAY, _LIMIT = TimeInForce.IOC, TimeInForce.DAY, OrdType.LIMIT
_FAR = PriceReference.FAR
_IOC_STYLE = OrderStyle.IOC
_SHARES = Sizing.SHARES
_LOG = SpreadForm.LOG
_HOLD, _STOP = SignalAction.HOLD, SignalAction.STOP
_ENTER_LONG, _ENTER_SHORT = SignalAction.ENTER_LONG, SignalAction.ENTER_SHORT
_ENTRY, _EXIT = Transition.ENTRY, Transition.EXIT


class PairsStrategy:
    """Several pairs; ClOrdIDs are `{id_prefix}{n}`, unique within the strategy."""

    def __init__(
        self,
        pairs: Iterable[tuple[PairStrategyConfig, PairModel]] = (),
        id_prefix: str = "S",
    ) -> None:
        self.id_prefix = id_prefix
        self.pairs: dict[str, PairState] = {}
        self.pairs_by_symbol: dict[str, list[PairState]] = {}
        self.tops: dict[str, TopOfBook] = {}
        self._next_id = 1
        self._parents: dict[str, tuple[PairState, _Leg]] = {}
        for config, model in pairs:
            self.add_pair(config, model)

    def add_pair(self, config: PairStrategyConfig, model: PairModel) -> PairState:
        if config.name in self.pairs:
            raise ValueError(f"pair {config.name} is configured twice")
        state = PairState(config, model)
        self.pairs[config.name] = state
        for symbol in (config.leg_a, config.leg_b):
            self.pairs_by_symbol.setdefault(symbol, []).append(state)
        return state

    @property
    def symbols(self) -> list[str]:
        return list(self.pairs_by_symbol)

    # -- inputs --------------------------------------------------------------------------

    def on_top_of_book(self, top: TopOfBook) -> None:
        """The consolidated top of book of a symbol (prices orders and sizes legs)."""
        self.tops[top.symbol] = top

    def on_model_update(self, pair: str, now_ns: int) -> Iterable[StrategyAction]:
        """After the pair's model took an observation: apply the rules to its z-score.

        The engine's hot path: the orders of armed legs are priced as the result is iterated,
        so the first leg can be on the wire before the second is priced. The actions and
        their order are those of `on_z` (a leg already sent meanwhile, e.g. by `on_timer`
        from a report the first send caused, is not sent twice). Iterate it once, at once."""
        state = self.pairs[pair]
        model = state.model
        if not model.is_ready() or model.observations < state.min_observations:
            if not state.transition:
                return _NOTHING
            actions = self._decide(state, now_ns, None)
        else:
            actions = self._decide(state, now_ns, (model.z, model.estimator.beta))
        if state.transition is None:
            return actions
        return chain(actions, self._leg_intents(state))

    def on_z(self, pair: str, z: float, beta: float, now_ns: int) -> list[StrategyAction]:
        """Apply the rules to a given z-score and hedge ratio (what `on_model_update` does
        with the model's values)."""
        return self._drive(self.pairs[pair], now_ns, (z, beta))

    def on_timer(self, now_ns: int) -> list[StrategyAction]:
        """Time passing (and fills having arrived): legging timeouts, pending sends, and the
        maximum holding time of a held pair even when no quote comes (the signal is asked
        again with the model's last z-score). See `timer_idle_until`."""
        actions: list[StrategyAction] = []
        for state in self.pairs.values():
            if state.transition is not None:
                actions.extend(self._drive(state, now_ns, None))
            else:
                deadline = _holding_deadline(state)
                if deadline is not None and deadline <= now_ns:
                    model = state.model
                    actions.extend(self._drive(state, now_ns, (model.z, model.beta)))
        return actions

    def timer_idle_until(self) -> int:
        """Until when `on_timer` would do nothing, events aside: 0 while a pair is in a
        transition, else the earliest maximum-holding deadline of a held pair, else
        `IDLE_FOREVER`."""
        until = IDLE_FOREVER
        for state in self.pairs.values():
            if state.transition is not None:
                return 0
            deadline = _holding_deadline(state)
            if deadline is not None and deadline < until:
                until = deadline
        return until

    def on_fill(self, order: OrderRecord, quantity: int, price: int, liquidity: Liquidity) -> None:
        """OMS listener: a fill of one of our orders (others are ignored)."""
        found = self._parents.get(order.parent_id)
        if found is None:
            return
        state, leg = found
        leg.position += quantity if order.side is Side.BUY else -quantity
        state.counters.fills += 1
        self._reduce_working(leg, order.parent_id, quantity)
        state.model.on_fill(order.symbol, order.side, price, quantity, order.updated_ns)

    def on_release(self, order: OrderRecord, quantity: int) -> None:
        """OMS listener: part of one of our orders will never fill."""
        found = self._parents.get(order.parent_id)
        if found is not None:
            self._reduce_working(found[1], order.parent_id, quantity)

    def on_intent_refused(self, intent: OrderIntent, quantity: int | None = None) -> None:
        """The engine did not send (all or `quantity` of) an intent: risk rejection, no
        venue."""
        found = self._parents.get(intent.cl_ord_id)
        if found is not None:
            self._reduce_working(
                found[1], intent.cl_ord_id, intent.quantity if quantity is None else quantity
            )

    # -- reads ---------------------------------------------------------------------------

    def pair_of_parent(self, parent_id: str) -> str | None:
        found = self._parents.get(parent_id)
        return found[0].name if found else None

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for state in self.pairs.values():
            for name, value in state.counters.as_dict().items():
                totals[name] = totals.get(name, 0) + value
        return totals

    def state(self) -> dict[str, dict[str, object]]:
        return {name: state.snapshot() for name, state in self.pairs.items()}

    # -- internals -----------------------------------------------------------------------

    def _reduce_working(self, leg: _Leg, parent_id: str, quantity: int) -> None:
        if leg.working != parent_id:
            return
        leg.remaining -= quantity
        if leg.remaining <= 0:
            leg.working = None
            leg.remaining = 0
            leg.cancel_sent = False

    def _drive(
        self, state: PairState, now_ns: int, signal: tuple[float, float] | None
    ) -> list[StrategyAction]:
        actions = self._decide(state, now_ns, signal)
        if state.transition is not None:
            actions.extend(self._leg_intents(state))
        return actions

    def _decide(
        self, state: PairState, now_ns: int, signal: tuple[float, float] | None
    ) -> list[StrategyAction]:
        """Transitions, timeouts and the signal; the armed legs' orders are left to
        `_leg_intents` (sent only while a transition is under way)."""
        actions: list[StrategyAction] = []
        if state.transition is not None:
            if state.settled:
                state.transition = None
            elif now_ns - state.action_ns >= state.config.leg_timeout_ns:
                self._on_timeout(state, now_ns, actions)
        if state.transition is None:
            if signal is None or now_ns < state.cooldown_until_ns:
                return actions
            z, beta = signal
            if z != z or beta != beta:
                return actions
            self._apply_signal(state, z, beta, now_ns, actions)
        return actions

    def _leg_intents(self, state: PairState) -> Iterator[OrderIntent]:
        """The order of each armed leg without a working order, leg A first, each priced
        when it is reached."""
        for leg in state.legs:
            if leg.armed and leg.working is None:
                intent = self._leg_intent(state, leg)
                if intent is not None:
                    yield intent

    def _apply_signal(
        self, state: PairState, z: float, beta: float, now_ns: int, actions: list
    ) -> None:
        action = state.signal.on_z(z, now_ns)
        if action is _HOLD:
            return
        counters = state.counters
        counters.signals += 1
        if action is _ENTER_LONG or action is _ENTER_SHORT:
            sizes = self._entry_sizes(state, beta)
            if sizes is None:
                state.signal.position = SpreadPosition.FLAT
                counters.entries_skipped += 1
                return
            direction = 1 if action is _ENTER_LONG else -1
            shares_a, shares_b = sizes
            state.leg_a.target = state.leg_a.position + direction * shares_a
            state.leg_b.target = state.leg_b.position + direction * shares_b
            counters.entries += 1
            self._start(state, _ENTRY, now_ns)
            return
        if action is _STOP:
            counters.stops += 1
        else:
            counters.exits += 1
        for leg in state.legs:
            leg.target = 0
        state.cooldown_until_ns = now_ns + state.config.cooldown_ns
        self._start(state, _EXIT, now_ns)

    def _start(self, state: PairState, transition: Transition, now_ns: int) -> None:
        state.transition = transition
        state.action_ns = now_ns
        state.legged = False
        state.reprices_done = 0
        for leg in state.legs:
            leg.start = leg.position
            leg.armed = leg.target != leg.position  # a gap to close
            leg.aggressive = False

    def _entry_sizes(self, state: PairState, beta: float) -> tuple[int, int] | None:
        config = state.config
        tops = self.tops
        top_a = tops.get(config.leg_a)
        top_b = tops.get(config.leg_b)
        # TopOfBook.mid_price of each: none without a top or with a side without shares
        if top_a is None or top_a[3] <= 0 or top_a[5] <= 0:
            return None
        if top_b is None or top_b[3] <= 0 or top_b[5] <= 0:
            return None
        mid_a = (top_a[2] + top_a[4]) / 2
        mid_b = (top_b[2] + top_b[4]) / 2
        if not mid_a or not mid_b or not math.isfinite(beta) or beta == 0.0:
            return None
        lot = config.lot_size
        if config.sizing is _SHARES:
            shares_a = config.size // lot * lot
        else:
            shares_a = int(config.size // mid_a) // lot * lot
        ratio = abs(beta)
        if state.model.form is _LOG:
            ratio *= mid_a / mid_b
        if shares_a <= 0:
            return None
        # round(lots) to nearest, ties to even, written out: exact for lots >= 0 (the integer
        # part's remainder is exact), and cheaper than round() on a cold path.
        lots = shares_a * ratio / lot
        whole = int(lots)
        fraction = lots - whole
        if fraction > 0.5 or (fraction == 0.5 and whole & 1):
            whole += 1
        shares_b = whole * lot
        if shares_b <= 0:
            return None
        return shares_a, -shares_b if beta > 0 else shares_b

    def _on_timeout(self, state: PairState, now_ns: int, actions: list) -> None:
        config = state.config
        counters = state.counters
        moved = any(leg.position != leg.start for leg in state.legs)
        if state.transition is Transition.ENTRY and not moved:
            counters.entries_abandoned += 1
            for leg in state.legs:
                leg.target = leg.start
            state.signal.position = SpreadPosition.FLAT
            state.transition = Transition.UNWIND  # closes out once the cancels are answered
            self._cancel_and_arm(state, now_ns, actions, aggressive=True)
            return
        if moved and not state.legged:
            state.legged = True
            counters.legging_events += 1
        if state.transition is Transition.ENTRY:
            action = config.legging_action
            if action is LeggingAction.REPRICE and state.reprices_done >= config.max_reprices:
                action = LeggingAction.HEDGE
            if action is LeggingAction.UNWIND:
                counters.unwinds += 1
                for leg in state.legs:
                    leg.target = leg.start
                state.signal.position = SpreadPosition.FLAT
                state.transition = Transition.UNWIND
                self._cancel_and_arm(state, now_ns, actions, aggressive=True)
            elif action is LeggingAction.REPRICE:
                counters.reprices += 1
                state.reprices_done += 1
                self._cancel_and_arm(state, now_ns, actions, aggressive=False)
            else:
                counters.hedges += 1
                self._cancel_and_arm(state, now_ns, actions, aggressive=True)
            return
        counters.retries += 1
        self._cancel_and_arm(state, now_ns, actions, aggressive=True)

    def _cancel_and_arm(self, state: PairState, now_ns: int, actions: list, aggressive: bool):
        state.action_ns = now_ns
        for leg in state.legs:
            if leg.working is not None and not leg.cancel_sent:
                leg.cancel_sent = True
                actions.append(CancelOrder(leg.working, f"{state.transition} timeout"))
            leg.armed = leg.gap != 0
            leg.aggressive = aggressive

    def _leg_intent(self, state: PairState, leg: _Leg) -> OrderIntent | None:
        """The leg's order from the current top of book, or None (no gap left: disarmed;
        no price to work from: stays armed for the next quote)."""
        gap = leg.target - leg.position
        if gap == 0:
            leg.armed = False
            return None
        top = self.tops.get(leg.symbol)
        if top is None:
            return None
        config = state.config
        buy = gap > 0
        _, _, bid, bid_shares, ask, ask_shares = top
        if leg.aggressive:
            reference, present = (ask, ask_shares) if buy else (bid, bid_shares)
            offset = config.hedge_offset_ticks
            time_in_force = _IOC
        else:
            if buy == (config.price_reference is _FAR):
                reference, present = ask, ask_shares
            else:
                reference, present = bid, bid_shares
            offset = config.limit_offset_ticks
            time_in_force = _IOC if config.order_style is _IOC_STYLE else _DAY
        if present <= 0:
            return None  # no price to work from: stay armed for the next quote
        tick = config.tick_size
        if buy:
            side, quantity = _BUY, gap
            price = (reference + offset * tick) // tick * tick
        else:
            side, quantity = _SELL, -gap
            price = -(-(reference - offset * tick) // tick) * tick
        if price <= 0:
            return None
        cl_ord_id = f"{self.id_prefix}{self._next_id}"
        self._next_id += 1
        leg.working = cl_ord_id
        leg.working_side = side
        leg.remaining = quantity
        leg.cancel_sent = False
        leg.armed = False
        self._parents[cl_ord_id] = (state, leg)
        state.counters.orders += 1
        return new_intent(
            cl_ord_id, leg.symbol, side, quantity, price, _LIMIT, time_in_force, leg.tag,
            False, _PURPOSE_OF[state.transition],  # reduce_only, purpose
        )  # fmt: skip

    def restore(self, orders: Iterable[OrderRecord], now_ns: int) -> None:
        """After a restart: take back the legs from the journal's orders (the OMS's
        `orders()` after `replay`), recognised by their leg tag; others (manual, kill switch,
        deleveraging) are not the strategy's, as they were not before the restart.

        Each leg's position is its orders' filled shares, and their parents are the
        strategy's again (later fills and releases, e.g. from reconciliation, reach the legs).
        A leg's open order is its working order; its target is where that order takes it.
        A pair with a working order resumes its transition at `now_ns`: an exit when every
        target is flat, else an entry from flat (legging control applies on timeout). A pair
        holding only one leg is closed (an aggressive exit). A pair holding both legs is long
        or short as leg A is, entered at `now_ns` (its maximum holding time counts from the
        restart). Call it on a fresh strategy, before any order of the new run."""
        by_tag = {leg.tag: (state, leg) for state in self.pairs.values() for leg in state.legs}
        for order in orders:
            found = by_tag.get(order.tag)
            if found is None:
                continue
            leg = found[1]
            self._parents[order.parent_id] = found
            leg.position += order.cum_qty if order.side is _BUY else -order.cum_qty
            if order.is_open:
                if leg.working != order.parent_id:
                    leg.working, leg.remaining = order.parent_id, 0
                leg.working_side = order.side
                leg.remaining += order.leaves_qty
                leg.cancel_sent = order.pending_id is not None
        for state in self.pairs.values():
            leg_a, leg_b = state.legs
            for leg in state.legs:
                open_shares = leg.remaining if leg.working_side is _BUY else -leg.remaining
                leg.target = leg.position + (open_shares if leg.working is not None else 0)
                leg.start = leg.position
                leg.armed = leg.aggressive = False
            state.action_ns = now_ns
            state.signal.entered_ns = now_ns
            if leg_a.working is not None or leg_b.working is not None:
                if leg_a.target == 0 and leg_b.target == 0:
                    state.transition = Transition.EXIT
                else:
                    state.transition = Transition.ENTRY
                    leg_a.start = leg_b.start = 0
            elif (leg_a.position == 0) != (leg_b.position == 0):
                state.transition = Transition.EXIT
                for leg in state.legs:
                    leg.target = 0
                    leg.armed = leg.aggressive = leg.position != 0
            if state.transition is Transition.EXIT:
                state.signal.position = SpreadPosition.FLAT
                state.cooldown_until_ns = now_ns + state.config.cooldown_ns
            else:
                direction = (leg_a.target > 0) - (leg_a.target < 0)
                state.signal.position = SpreadPosition(direction)
