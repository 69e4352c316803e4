"""Order intents, venue fees and the OMS's record of an order, in integer money.

The flow: a strategy emits an `OrderIntent` (the parent order, its `cl_ord_id` is unique for
the trading day); the risk gate checks it; the router splits it into one or more
`VenueOrder`s (children, `cl_ord_id` = parent id + "." + k); the OMS tracks each child as an
`OrderRecord` driven by `ExecutionReport`s and `CancelReject`s. Those requests and events are
the vocabulary every layer shares, in calarb.core.order_events. Each order carries its
`OrderPurpose` (why it was sent) from the intent to the record and the journal.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import cython

from calarb.core.order_events import VenueOrder
from calarb.core.orders import (
    TERMINAL_STATUSES,
    Liquidity,
    OrderPurpose,
    OrdStatus,
    OrdType,
    TimeInForce,
)
from calarb.core.types import Side

_PENDING_NEW = OrdStatus.PENDING_NEW  # a module constant: enum attribute lookups are slow


_INTENT_FIELDS = (
    "cl_ord_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "ord_type",
    "time_in_force",
    "tag",
    "reduce_only",
    "purpose",
)


class OrderIntent:
    """What a strategy wants to trade: the parent order, before risk and routing.

    `price` is the limit price; for a market order it is the protection price used to value
    the order (the gate values it at the far touch when the price is 0). `reduce_only`
    intents (flattening, deleveraging) may pass a kill switch and a daily-loss stop, and are
    refused if they would increase the worst-case position. `purpose` goes with every child
    order to the OMS's record.

    An immutable record with named fields (compiled, an extension type with C slots, so the
    risk gate and the router read its fields without a tuple's descriptors); the hot path
    builds it with `new_intent` (no argument parsing).
    """

    __slots__ = _INTENT_FIELDS

    def __init__(
        self,
        cl_ord_id: str,
        symbol: str,
        side: Side,
        quantity: int,
        price: int,
        ord_type: OrdType = OrdType.LIMIT,
        time_in_force: TimeInForce = TimeInForce.DAY,
        tag: str = "",  # free text for the caller (pair, leg), kept in the journal
        reduce_only: bool = False,
        purpose: OrderPurpose = OrderPurpose.MANUAL,
    ) -> None:
        self.cl_ord_id = cl_ord_id
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.ord_type = ord_type
        self.time_in_force = time_in_force
        self.tag = tag
        self.reduce_only = reduce_only
        self.purpose = purpose

    def _values(self) -> tuple:
        return (
            self.cl_ord_id, self.symbol, self.side, self.quantity, self.price, self.ord_type,
            self.time_in_force, self.tag, self.reduce_only, self.purpose,
        )  # fmt: skip

    def _replace(self, **changes: Any) -> OrderIntent:
        """A copy with some fields changed (as a NamedTuple's `_replace`)."""
        fields = dict(zip(_INTENT_FIELDS, self._values(), strict=True))
        fields.update(changes)
        return OrderIntent(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrderIntent):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple:
        return (OrderIntent, self._values())

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}" for name, value in zip(_INTENT_FIELDS, self._values(), strict=True)
        )
        return f"OrderIntent({fields})"


def new_intent(
    cl_ord_id: str,
    symbol: str,
    side: Side,
    quantity: int,
    price: int,
    ord_type: OrdType,
    time_in_force: TimeInForce,
    tag: str,
    reduce_only: bool,
    purpose: OrderPurpose,
) -> OrderIntent:
    """An `OrderIntent` from all its fields, positional (the hot path's constructor: compiled,
    no argument parsing and no `__init__` call)."""
    intent = OrderIntent.__new__(OrderIntent)
    intent.cl_ord_id = cl_ord_id
    intent.symbol = symbol
    intent.side = side
    intent.quantity = quantity
    intent.price = price
    intent.ord_type = ord_type
    intent.time_in_force = time_in_force
    intent.tag = tag
    intent.reduce_only = reduce_only
    intent.purpose = purpose
    return intent


class VenueFees(NamedTuple):
    """Per-share fees of one venue, in 1/10,000 currency units per share (integers).

    A positive value is a charge, a negative one a rebate: US-style $0.0030 take and $0.0020
    rebate is `VenueFees(taker=30, maker=-20)`. The fee of a fill is `quantity * rate`,
    exact, so it needs no rounding.
    """

    taker: int = 0
    maker: int = 0

    def fee(self, quantity: int, liquidity: Liquidity) -> int:
        """Fee of a fill; an unknown liquidity flag is charged as taker (conservative)."""
        return quantity * (self.maker if liquidity is Liquidity.ADDED else self.taker)


def venue_order_fields(order: VenueOrder) -> tuple:
    """`order`'s fields as a plain tuple: compiled, the OMS, the engine and the FIX gateway
    index and unpack it in C (a NamedTuple's field descriptors and iterator cost hundreds of
    instructions each)."""
    if not isinstance(order, tuple):
        raise TypeError(f"a VenueOrder was expected, not {type(order).__name__}")
    return cython.cast(tuple, order)


class OrderRecord:
    """The OMS's mutable view of one venue order. `cl_ord_id` is the current ClOrdID (it
    changes on each confirmed replace); `chain` lists every ClOrdID the order has used,
    including pending cancel/replace ids, oldest first."""

    __slots__ = (
        "root_id",
        "cl_ord_id",
        "chain",
        "parent_id",
        "venue",
        "symbol",
        "side",
        "quantity",
        "price",
        "ord_type",
        "time_in_force",
        "tag",
        "purpose",
        "status",
        "order_id",
        "cum_qty",
        "leaves_qty",
        "avg_px",
        "cum_notional",
        "pending_id",
        "pending_quantity",
        "pending_price",
        "status_before_pending",
        "created_ns",
        "updated_ns",
        "text",
    )

    def __init__(self, order: VenueOrder, now_ns: int) -> None:
        # One unpack of the order (on the order path, each attribute read costs a lookup).
        (
            cl_ord_id, self.parent_id, self.venue, self.symbol, self.side, quantity,
            self.price, self.ord_type, self.time_in_force, self.tag, self.purpose,
        ) = venue_order_fields(order)  # fmt: skip
        self.root_id = cl_ord_id
        self.cl_ord_id = cl_ord_id
        self.chain = [cl_ord_id]
        self.quantity = quantity
        self.status = _PENDING_NEW
        self.order_id: str | None = None
        self.cum_qty = 0
        self.leaves_qty = quantity
        self.avg_px = 0
        self.cum_notional = 0  # sum of last_px * last_qty, exact
        self.pending_id: str | None = None  # ClOrdID of an outstanding cancel or replace
        self.pending_quantity = 0
        self.pending_price = 0
        self.status_before_pending = _PENDING_NEW
        self.created_ns = now_ns
        self.updated_ns = now_ns
        self.text = ""

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    def snapshot(self) -> dict[str, Any]:
        """Every field as plain data (for comparisons, reports and tests)."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS} | {"chain": list(self.chain)}

    def __repr__(self) -> str:
        return (
            f"OrderRecord({self.cl_ord_id!r} {self.venue} {self.symbol} {self.side.name} "
            f"{self.cum_qty}/{self.quantity}@{self.price} {self.status.name})"
        )


_RECORD_FIELDS = OrderRecord.__slots__  # (compiled, an instance has no __slots__)
