"""Order types and the events the matching engine emits.

Two event streams leave the engine, each built so that an adapter maps one record to one
wire message:

* **Order outcomes** (`ExecutionReport`, `CancelReject` of calarb.core.order_events, the
  vocabulary the trading side reads too) go to the participant who owns the order; a FIX
  gateway turns each into one ExecutionReport (35=8) or OrderCancelReject (35=9).
* **Book changes** (`OrderAdded`, `Execution`, `OrderCancelled`, `OrderDeleted`,
  `OrderReplaced`, `TradingStatus`) go to market data; an ITCH 5.0 publisher turns each into
  one message: A (or F), E (or P for a non-displayed resting order), X, D, U, H.

Prices are integers in 1/10,000 units, quantities are int shares, times are int nanoseconds
passed in by the caller.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import cython

from calarb.core.orders import OrdStatus, OrdType, TimeInForce
from calarb.core.types import Side


class SelfMatchPolicy(enum.Enum):
    """What happens when an incoming order would trade with a resting order of the same
    participant. The incoming order's participant policy applies.

    CANCEL_RESTING: the resting order is cancelled (reason SELF_MATCH) and matching goes on.
    CANCEL_INCOMING: matching stops; the incoming order's remainder is cancelled, even a DAY
        limit order (resting it would lock or cross the book against the participant itself).
    CANCEL_BOTH: the resting order is cancelled and the incoming remainder too.
    """

    CANCEL_RESTING = "cancel_resting"
    CANCEL_INCOMING = "cancel_incoming"
    CANCEL_BOTH = "cancel_both"


class RejectReason(enum.Enum):
    """Why a request was refused (new order reject or cancel/replace reject)."""

    UNKNOWN_SYMBOL = "unknown symbol"
    BAD_PRICE = "bad price"
    BAD_QUANTITY = "bad quantity"
    HALTED = "symbol halted"
    BAD_ORDER = "unsupported side, order type or time in force"
    UNKNOWN_ORDER = "unknown order"
    TOO_LATE = "too late"  # replace to a quantity not above what is already filled


class CancelReason(enum.Enum):
    """Why an accepted order (or its remainder) ended cancelled."""

    REQUESTED = "cancelled on request"
    IMMEDIATE_OR_CANCEL = "IOC remainder"
    FILL_OR_KILL = "FOK not fillable in full"
    NO_LIQUIDITY = "market order remainder"
    SELF_MATCH = "self-match prevention"


@cython.no_gc  # compiled: not GC-tracked; its fields (str, enum, int, bool) make no cycle
@cython.cclass
class Order:
    """A live order inside the engine. One object per book reference number: a replace that
    loses priority creates a new Order under a new `order_id`, carrying `cum_qty` over.

    Read-only outside the engine; `leaves == 0` marks an object that is no longer on the book.
    Compiled, an extension type (orders.pxd): integer fields are C `long long` (prices in
    1/10,000, shares and notionals are bounded far below 2**63), no other attributes.
    """

    def __init__(
        self,
        order_id: int,
        participant: str,
        client_order_id: str,
        symbol: str,
        side: Side,
        order_type: OrdType,
        time_in_force: TimeInForce,
        price: int,
        quantity: int,
        leaves: int,
        cum_qty: int,
        cum_notional: int,
        displayed: bool,
    ) -> None:
        self.order_id = order_id
        self.order_id_text = str(order_id)  # FIX OrderID (37), written once per order
        self.participant = participant
        self.client_order_id = client_order_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.price = price
        self.quantity = quantity
        self.leaves = leaves
        self.cum_qty = cum_qty
        self.cum_notional = cum_notional
        self.displayed = displayed

    def state(self) -> OrderState:
        return OrderState(
            self.order_id,
            self.participant,
            self.client_order_id,
            self.symbol,
            self.side,
            self.order_type,
            self.time_in_force,
            self.price,
            self.quantity,
            self.leaves,
            self.cum_qty,
            self.cum_notional,
            self.displayed,
        )

    def __repr__(self) -> str:
        return f"Order({self.state()!r})"


def new_order(
    order_id: int,
    participant: str,
    client_order_id: str,
    symbol: str,
    side: Side,
    order_type: OrdType,
    time_in_force: TimeInForce,
    price: int,
    quantity: int,
    leaves: int,
    cum_qty: int,
    cum_notional: int,
    displayed: bool,
) -> Order:
    """`Order(...)` for the engine's hot path: compiled, fields set in C from the free list
    without the Python-level call and argument parsing of `Order.__init__`."""
    order = Order.__new__(Order)
    order.order_id = order_id
    order.order_id_text = str(order_id)
    order.participant = participant
    order.client_order_id = client_order_id
    order.symbol = symbol
    order.side = side
    order.order_type = order_type
    order.time_in_force = time_in_force
    order.price = price
    order.quantity = quantity
    order.leaves = leaves
    order.cum_qty = cum_qty
    order.cum_notional = cum_notional
    order.displayed = displayed
    return order


class OrderState(NamedTuple):
    """A snapshot of a live order (for OrderStatusRequest and book comparisons)."""

    order_id: int
    participant: str
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrdType
    time_in_force: TimeInForce
    price: int
    quantity: int
    leaves: int
    cum_qty: int
    cum_notional: int
    displayed: bool

    @property
    def status(self) -> OrdStatus:
        return OrdStatus.PARTIALLY_FILLED if self.cum_qty else OrdStatus.NEW


# --- book changes (one ITCH message each) ----------------------------------------------------


class OrderAdded(NamedTuple):
    """A displayed order rests on the book: ITCH A (or F with the participant's attribution)."""

    timestamp_ns: int
    symbol: str
    order_id: int
    side: Side
    shares: int
    price: int
    participant: str


class Execution(NamedTuple):
    """A trade: an incoming order matched a resting one at the resting order's price.

    ITCH E on `resting_order_id` when `resting_displayed`, else ITCH P (a non-displayed
    order; its side is `aggressor_side.opposite`). ITCH C is never needed: every execution is
    at the resting order's own price. This is also the venue's trade report (aggressor side,
    both orders, both participants).
    """

    timestamp_ns: int
    symbol: str
    match_number: int
    price: int
    shares: int
    aggressor_side: Side
    resting_order_id: int
    aggressor_order_id: int
    resting_participant: str
    aggressor_participant: str
    resting_displayed: bool


class OrderCancelled(NamedTuple):
    """Part of a displayed resting order was cancelled and the rest keeps its place: ITCH X."""

    timestamp_ns: int
    symbol: str
    order_id: int
    cancelled_shares: int


class OrderDeleted(NamedTuple):
    """A displayed resting order left the book other than by a fill: ITCH D."""

    timestamp_ns: int
    symbol: str
    order_id: int


class OrderReplaced(NamedTuple):
    """A displayed resting order moved to a new reference number, price and size, losing time
    priority, without trading: ITCH U."""

    timestamp_ns: int
    symbol: str
    original_order_id: int
    new_order_id: int
    shares: int
    price: int


class TradingStatus(NamedTuple):
    """A symbol was halted or resumed: ITCH H (trading state 'H' or 'T')."""

    timestamp_ns: int
    symbol: str
    halted: bool
    reason: str


BookEvent = OrderAdded | Execution | OrderCancelled | OrderDeleted | OrderReplaced | TradingStatus
