"""Smart order router: which venue(s) get a parent order, and why.

For each venue the router knows (fed by the engine with direct calls):

* the displayed liquidity per symbol: the top of book (`on_top_of_book`) or several levels
  per side (`on_levels`), prices in 1/10,000 units, sizes in shares;
* the latency, an EWMA of FIX round trips in ns (`on_round_trip`, fed by the gateway from
  NewOrderSingle -> ExecutionReport times);
* the fees, per share in 1/10,000 currency units (`VenueFees`: positive charge, negative
  rebate);
* the connection state (`set_connected`).

`route(intent)` takes what is displayed at or better than the limit price, best price first,
and among venues at the same price the lowest all-in cost per share: taker fee plus a latency
penalty (`latency_cost_per_ms` price units per share per millisecond of EWMA round trip;
the slower venue is likelier to have lost the quote by the time the order lands), then the
largest displayed size. Quantity beyond what is displayed (or all of it for an order that does
not cross) rests at the venue with the lowest maker cost (rebate first, then latency). A
disconnected venue is skipped. Each child order carries a `RouteLeg` saying why it went
there, and skipped venues are listed in the decision.

Displayed sizes are pushed: every change the feeds see reaches `on_top_of_book`/`on_levels`
before anything routes, so `route` reads its own copy and asks nobody (the live default). A
source that holds size-only changes back until they matter (the fast replay, where the router
is the one part of the engine that reads displayed sizes, docs/backtest.md) is a
`SizeSource` given at construction: `route` asks it to deliver `intent.symbol`'s sizes first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Protocol

import cython

from calarb.core.events import BookLevel, TopOfBook
from calarb.core.order_events import VenueOrder
from calarb.core.types import Side
from calarb.trading.orders import OrderIntent, TimeInForce, VenueFees

_new = tuple.__new__  # builds a NamedTuple from a full tuple without its Python-level __new__


class LegReason(enum.StrEnum):
    TAKE_DISPLAYED = "take displayed"  # crosses shown liquidity at the venue
    REST_REMAINDER = "rest remainder"  # more than is displayed anywhere: rests here
    PASSIVE = "passive"  # does not cross any venue: rests at the cheapest maker venue


class SkipReason(enum.StrEnum):
    DISCONNECTED = "disconnected"
    NO_LIQUIDITY_AT_PRICE = "no liquidity at price"
    MAX_CHILDREN = "maximum child orders reached"


_BUY = Side.BUY  # module constants: an enum attribute lookup is slow on the hot path
_DAY = TimeInForce.DAY
_DISCONNECTED = SkipReason.DISCONNECTED
_NO_LIQUIDITY = SkipReason.NO_LIQUIDITY_AT_PRICE
_TAKE = LegReason.TAKE_DISPLAYED
_REST = LegReason.REST_REMAINDER
_PASSIVE = LegReason.PASSIVE
_MAX_CHILDREN = SkipReason.MAX_CHILDREN


class RouteLeg:
    """One child order's venue and why it went there (built by the router only)."""

    __slots__ = (
        "venue",
        "quantity",
        "reason",
        "displayed",  # shares shown at or better than the limit when routed
        "best_price",  # venue's best opposite price (0 if none)
        "fee_per_share",
        "latency_ns",
    )

    def __init__(
        self,
        venue: str,
        quantity: int,
        reason: LegReason,
        displayed: int,
        best_price: int,
        fee_per_share: int,
        latency_ns: int,
    ) -> None:
        self.venue = venue
        self.quantity = quantity
        self.reason = reason
        self.displayed = displayed
        self.best_price = best_price
        self.fee_per_share = fee_per_share
        self.latency_ns = latency_ns

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RouteLeg):
            return NotImplemented
        return _leg_values(self) == _leg_values(other)

    def __hash__(self) -> int:
        return hash(_leg_values(self))

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}" for name, value in zip(_LEG_FIELDS, _leg_values(self), strict=True)
        )
        return f"RouteLeg({fields})"


_LEG_FIELDS = RouteLeg.__slots__  # (compiled, an instance has no __slots__)


def _leg_values(leg: RouteLeg) -> tuple:
    return (
        leg.venue, leg.quantity, leg.reason, leg.displayed, leg.best_price, leg.fee_per_share,
        leg.latency_ns,
    )  # fmt: skip


class RouteDecision:
    """What `Router.route` decided for one intent: its child orders with the leg behind each
    (same order), the venues skipped and why, and the shares no venue could take."""

    __slots__ = ("intent", "orders", "legs", "skipped", "unrouted")

    def __init__(
        self,
        intent: OrderIntent,
        orders: tuple[VenueOrder, ...],
        legs: tuple[RouteLeg, ...],
        skipped: tuple[tuple[str, SkipReason], ...],
        unrouted: int,  # shares no venue could take (no connected venue)
    ) -> None:
        self.intent = intent
        self.orders = orders
        self.legs = legs
        self.skipped = skipped
        self.unrouted = unrouted

    def __repr__(self) -> str:
        return (
            f"RouteDecision(intent={self.intent!r}, orders={self.orders!r}, legs={self.legs!r}, "
            f"skipped={self.skipped!r}, unrouted={self.unrouted})"
        )


class VenueState:
    __slots__ = ("name", "fees", "taker_fee", "maker_fee", "connected", "latency_ns", "books")

    def __init__(self, name: str, fees: VenueFees, latency_ns: int) -> None:
        self.name = name
        self.fees = fees
        self.taker_fee = fees.taker  # per share, read on every route (fees never change)
        self.maker_fee = fees.maker
        self.connected = True
        self.latency_ns = latency_ns
        # symbol -> its TopOfBook (`on_top_of_book`, made levels when routing: a quote costs
        # one store) or (bid levels best first, ask levels best first), tuples of BookLevel
        self.books: dict[str, TopOfBook | tuple[Sequence[BookLevel], Sequence[BookLevel]]] = {}

    def levels(self, symbol: str, buy: bool) -> Sequence[BookLevel]:
        """The levels an order on that side would take (asks for a buy), best first."""
        book = self.books.get(symbol)
        if book is None:
            return ()
        if type(book) is TopOfBook:
            if buy:
                return (_new(BookLevel, (book[4], book[5], 0)),) if book[5] > 0 else ()
            return (_new(BookLevel, (book[2], book[3], 0)),) if book[3] > 0 else ()
        return book[1] if buy else book[0]

    def best_price(self, symbol: str, buy: bool) -> int:
        """The best price an order on that side would take (the best ask for a buy); 0 when
        nothing is shown."""
        book = self.books.get(symbol)
        if book is None:
            return 0
        if type(book) is TopOfBook:
            quote = cython.cast(tuple, book)  # a tuple subclass: compiled, indexed in C
            if buy:
                return quote[4] if quote[5] > 0 else 0
            return quote[2] if quote[3] > 0 else 0
        levels = book[1] if buy else book[0]
        return levels[0][0] if levels else 0


class SizeSource(Protocol):
    """Where displayed sizes come from when they are not all pushed as they change."""

    def deliver_sizes(self, symbol: str) -> None:
        """Bring the router's displayed sizes of `symbol` up to date (by calling its
        `on_top_of_book`/`on_levels`, directly or through the engine) before it routes."""


class Router:
    """`size_source`: None when every displayed size is pushed as it changes (no call per
    route); else asked before each route (see the module docstring)."""

    def __init__(
        self,
        venues: Iterable[tuple[str, VenueFees]],
        initial_latency_ns: int = 200_000,
        latency_alpha: float = 0.2,
        latency_cost_per_ms: int = 10,
        max_children: int = 4,
        size_source: SizeSource | None = None,
    ) -> None:
        self.venues: dict[str, VenueState] = {
            name: VenueState(name, fees, initial_latency_ns) for name, fees in venues
        }
        if not self.venues:
            raise ValueError("a router needs at least one venue")
        self.latency_alpha = latency_alpha
        self.latency_cost_per_ms = latency_cost_per_ms
        self.max_children = max_children
        self.size_source = size_source
        self.decisions = 0
        self.splits = 0

    # ------------------------------------------------------------------ feeds
    def _venue(self, venue: str) -> VenueState:
        state = self.venues.get(venue)
        if state is None:
            raise KeyError(f"unknown venue {venue!r} (known: {', '.join(self.venues)})")
        return state

    def on_top_of_book(self, venue: str, top: TopOfBook) -> None:
        state = self.venues.get(venue) or self._venue(venue)
        state.books[top.symbol] = top  # compiled, `top[0]` would be a Python call

    def on_levels(
        self, venue: str, symbol: str, bids: Sequence[BookLevel], asks: Sequence[BookLevel]
    ) -> None:
        """Several levels per side, best first (e.g. OrderBook.levels(side, n))."""
        self._venue(venue).books[symbol] = (tuple(bids), tuple(asks))

    def on_round_trip(self, venue: str, round_trip_ns: int) -> None:
        state = self._venue(venue)
        state.latency_ns = round(
            state.latency_ns + self.latency_alpha * (round_trip_ns - state.latency_ns)
        )

    def set_connected(self, venue: str, connected: bool) -> None:
        state = self._venue(venue)
        state.connected = connected
        if not connected:
            state.books.clear()  # its quotes are stale until the feed says otherwise

    # ------------------------------------------------------------------ decision
    def _latency_cost(self, state: VenueState) -> int:
        return state.latency_ns * self.latency_cost_per_ms // 1_000_000

    def route(self, intent: OrderIntent) -> RouteDecision:
        """Child orders for `intent` (ClOrdIDs `<parent>.<k>`), with the reasons."""
        self.decisions += 1
        symbol = intent.symbol
        quantity = intent.quantity
        limit = intent.price
        if self.size_source is not None:
            self.size_source.deliver_sizes(symbol)
        buy = intent.side is _BUY
        per_ms = self.latency_cost_per_ms
        skipped: list[tuple[str, SkipReason]] = []
        takers: list[RouteLeg] = []  # best first (`_better`): a leg per venue with liquidity
        any_connected = False
        for state in self.venues.values():
            if not state.connected:
                skipped.append((state.name, _DISCONNECTED))
                continue
            any_connected = True
            book = state.books.get(symbol)
            if type(book) is TopOfBook:  # one level per side: `levels`, without building it
                quote = cython.cast(tuple, book)  # a tuple subclass: compiled, indexed in C
                if buy:
                    best = quote[4]
                    displayed = quote[5]
                else:
                    best = quote[2]
                    displayed = quote[3]
                if displayed > 0 and not ((best <= limit if buy else best >= limit) or limit == 0):
                    displayed = 0
            else:
                displayed = 0
                levels = state.levels(symbol, buy)
                for price, shares, _count in levels:
                    if (price <= limit if buy else price >= limit) or limit == 0:
                        displayed += shares
                    else:
                        break
                best = levels[0][0] if displayed > 0 else 0
            if displayed <= 0:
                skipped.append((state.name, _NO_LIQUIDITY))
                continue
            leg = _new_leg(state.name, 0, _TAKE, displayed, best, state.taker_fee, state.latency_ns)
            position = len(takers)
            while position > 0 and _better(leg, takers[position - 1], buy, per_ms):
                position -= 1
            takers.insert(position, leg)
        if not any_connected:
            return _new_decision(intent, (), (), tuple(skipped), quantity)
        legs: list[RouteLeg] = []
        left = quantity
        for leg in takers:
            if left <= 0:
                break
            displayed = leg.displayed
            if len(legs) >= self.max_children - 1 and left > displayed:
                skipped.append((leg.venue, _MAX_CHILDREN))
                break
            take = left if left < displayed else displayed
            leg.quantity = take
            legs.append(leg)
            left -= take
        if left > 0:
            if intent.time_in_force is not _DAY and legs:
                # IOC/FOK: no point resting; the remainder goes to the best taking venue.
                leg = legs[0]
                leg.quantity += left
            else:
                self._rest_remainder(legs, left, symbol, buy)
        parent_id = intent.cl_ord_id
        if len(legs) == 1:  # the usual case: one child, `<parent>.1`
            leg = legs[0]
            orders: tuple[VenueOrder, ...] = (
                _new(
                    VenueOrder,
                    (
                        parent_id + ".1", parent_id, leg.venue, symbol, intent.side, leg.quantity,
                        limit, intent.ord_type, intent.time_in_force, intent.tag, intent.purpose,
                    ),
                ),
            )  # fmt: skip
            return _new_decision(intent, orders, (leg,), tuple(skipped), 0)
        if legs:
            self.splits += 1
        children = []
        for k in range(len(legs)):
            leg = legs[k]
            children.append(
                _new(
                    VenueOrder,
                    (
                        f"{parent_id}.{k + 1}", parent_id, leg.venue, symbol, intent.side,
                        leg.quantity, limit, intent.ord_type, intent.time_in_force, intent.tag,
                        intent.purpose,
                    ),
                )
            )  # fmt: skip
        return _new_decision(intent, tuple(children), tuple(legs), tuple(skipped), 0)

    def _rest_remainder(self, legs: list[RouteLeg], left: int, symbol: str, buy: bool) -> None:
        """Quantity beyond what is displayed of a DAY order (or all of an IOC/FOK order
        nothing crosses): it rests at the cheapest maker venue (fee plus latency cost, then
        latency, then name; merged into its leg if it has one)."""
        rest = None
        for state in self.venues.values():
            if state.connected and (rest is None or self._cheaper_maker(state, rest)):
                rest = state
        for leg in legs:
            if leg.venue == rest.name:
                leg.quantity += left
                return
        reason = _REST if legs else _PASSIVE
        legs.append(
            _new_leg(
                rest.name, left, reason, 0, rest.best_price(symbol, buy), rest.maker_fee,
                rest.latency_ns,
            )
        )  # fmt: skip

    def _cheaper_maker(self, state: VenueState, than: VenueState) -> bool:
        """`state` is a cheaper place to rest than `than`: maker fee plus latency cost, then
        latency, then name."""
        cost = state.maker_fee + self._latency_cost(state)
        other = than.maker_fee + self._latency_cost(than)
        if cost != other:
            return cost < other
        if state.latency_ns != than.latency_ns:
            return state.latency_ns < than.latency_ns
        return state.name < than.name


def _better(leg: RouteLeg, other: RouteLeg, buy: bool, per_ms: int) -> bool:
    """`leg` takes before `other`: best price first, then lowest all-in cost (taker fee plus
    latency cost), then largest displayed size, then name."""
    if leg.best_price != other.best_price:
        return leg.best_price < other.best_price if buy else leg.best_price > other.best_price
    cost = leg.fee_per_share + leg.latency_ns * per_ms // 1_000_000
    other_cost = other.fee_per_share + other.latency_ns * per_ms // 1_000_000
    if cost != other_cost:
        return cost < other_cost
    if leg.displayed != other.displayed:
        return leg.displayed > other.displayed
    return leg.venue < other.venue


def _new_leg(
    venue: str,
    quantity: int,
    reason: LegReason,
    displayed: int,
    best_price: int,
    fee_per_share: int,
    latency_ns: int,
) -> RouteLeg:
    """A `RouteLeg` without argument parsing or `__init__` (compiled: a C call)."""
    leg = RouteLeg.__new__(RouteLeg)
    leg.venue = venue
    leg.quantity = quantity
    leg.reason = reason
    leg.displayed = displayed
    leg.best_price = best_price
    leg.fee_per_share = fee_per_share
    leg.latency_ns = latency_ns
    return leg


def _new_decision(
    intent: OrderIntent,
    orders: tuple[VenueOrder, ...],
    legs: tuple[RouteLeg, ...],
    skipped: tuple[tuple[str, SkipReason], ...],
    unrouted: int,
) -> RouteDecision:
    """A `RouteDecision` without argument parsing or `__init__` (compiled: a C call)."""
    decision = RouteDecision.__new__(RouteDecision)
    decision.intent = intent
    decision.orders = orders
    decision.legs = legs
    decision.skipped = skipped
    decision.unrouted = unrouted
    return decision
