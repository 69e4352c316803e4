"""Order intents, venue orders and the execution events the trading core runs on.

Everything here is a plain value with FIX 4.4 semantics and integer money: prices in 1/10,000
currency units (calarb.core.types), quantities in whole shares, times in nanoseconds passed in
by the caller. The enum values are the FIX codes of tags 40, 59, 150, 39 and 851, so a gateway
maps a FIX ExecutionReport (35=8) to an `ExecReport` field by field (`ExecReport.from_fix`).

The flow: a strategy emits an `OrderIntent` (the parent order, its `cl_ord_id` is unique for
the trading day); the risk gate checks it; the router splits it into one or more
`VenueOrder`s (children, `cl_ord_id` = parent id + "." + k); the OMS tracks each child as an
`OrderRecord` driven by `ExecReport`s and `CancelReject`s. Each carries its `OrderPurpose`
(why it was sent) from the intent to the record and the journal.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from calarb.core.orders import (
    TERMINAL_STATUSES,
    ExecType,
    Liquidity,
    OrdStatus,
    OrdType,
    TimeInForce,
)
from calarb.core.types import Side


class OrderPurpose(enum.StrEnum):
    """Why an order is sent. The engine and reports tell orders apart by this, never by the
    text of their ClOrdIDs. The strategy's purposes are its transitions
    (`calarb.trading.strategy.Transition`); the risk gate's close positions."""

    MANUAL = "manual"  # none of the below: an operator, a test, a caller of the OMS
    ENTRY = "entry"  # a pair's entry, its legging repairs (reprice, hedge) included
    EXIT = "exit"  # a pair's exit: exit signal, stop, maximum holding time
    UNWIND = "unwind"  # a pair gives back an entry that legged or was abandoned
    FLATTEN = "flatten"  # the kill switch closes every position
    DELEVERAGE = "deleverage"  # positions back inside post-trade limits (`deleveraging_intents`)


class OrderIntent(NamedTuple):
    """What a strategy wants to trade: the parent order, before risk and routing.

    `price` is the limit price; for a market order it is the protection price used to value
    the order (the gate values it at the far touch when the price is 0). `reduce_only`
    intents (flattening, deleveraging) may pass a kill switch and a daily-loss stop, and are
    refused if they would increase the worst-case position. `purpose` goes with every child
    order to the OMS's record.
    """

    cl_ord_id: str
    symbol: str
    side: Side
    quantity: int
    price: int
    ord_type: OrdType = OrdType.LIMIT
    time_in_force: TimeInForce = TimeInForce.DAY
    tag: str = ""  # free text for the caller (pair, leg), kept in the journal
    reduce_only: bool = False
    purpose: OrderPurpose = OrderPurpose.MANUAL


class VenueOrder(NamedTuple):
    """One child order for one venue, as the gateway sends it (NewOrderSingle 35=D); its
    parent's `purpose` stays on our side (it is not sent)."""

    cl_ord_id: str
    parent_id: str
    venue: str
    symbol: str
    side: Side
    quantity: int
    price: int
    ord_type: OrdType
    time_in_force: TimeInForce
    tag: str = ""
    purpose: OrderPurpose = OrderPurpose.MANUAL


class CancelRequest(NamedTuple):
    """An OrderCancelRequest (35=F) to send: `cl_ord_id` is new, `orig_cl_ord_id` the current."""

    venue: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str | None
    symbol: str
    side: Side
    quantity: int


class ReplaceRequest(NamedTuple):
    """An OrderCancelReplaceRequest (35=G) to send."""

    venue: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str | None
    symbol: str
    side: Side
    quantity: int
    price: int
    ord_type: OrdType


class StatusRequest(NamedTuple):
    """An OrderStatusRequest (35=H) to send, for reconciliation."""

    venue: str
    cl_ord_id: str
    order_id: str | None
    symbol: str
    side: Side


# LastLiquidityInd (851, an INT in FIX 4.4) -> Liquidity, for `ExecReport.from_fix`
_LIQUIDITY_CODES = {1: Liquidity.ADDED, 2: Liquidity.REMOVED}
_FIX42_FILL_TYPES = {"1": ExecType.TRADE, "2": ExecType.TRADE}  # 4.2 partial fill, fill
_PENDING_NEW = OrdStatus.PENDING_NEW  # a module constant: enum attribute lookups are slow


class ExecReport(NamedTuple):
    """An execution report as the trading core sees it (FIX 35=8 semantics).

    `last_qty`/`last_px` describe this report's fill (0 when it is not a fill); `cum_qty`,
    `leaves_qty` and `avg_px` describe the whole order. `orig_cl_ord_id` is set on reports
    answering a cancel or a replace.
    """

    venue: str
    cl_ord_id: str
    order_id: str
    exec_id: str
    exec_type: ExecType
    ord_status: OrdStatus
    symbol: str
    side: Side
    order_qty: int
    price: int
    cum_qty: int
    leaves_qty: int
    avg_px: int
    last_qty: int = 0
    last_px: int = 0
    orig_cl_ord_id: str | None = None
    liquidity: Liquidity = Liquidity.UNKNOWN
    transact_time_ns: int = 0
    text: str = ""

    @classmethod
    def from_fix(cls, message: Any, venue: str, orig_cl_ord_id: str | None = None) -> ExecReport:
        """Build from a decoded FIX ExecutionReport (calarb.fix.messages.ExecutionReport or
        any object with the same attribute names). OrigClOrdID (41) and LastLiquidityInd (851)
        come from the message's typed fields; `orig_cl_ord_id` is used only when the report
        carries no OrigClOrdID. A LastLiquidityInd other than 1 (added) or 2 (removed), e.g.
        3 (routed out), becomes `Liquidity.UNKNOWN`: the fill still counts, charged as taker.
        FIX 4.2's fill codes, ExecType 1 (partial fill) and 2 (fill), are read as 4.4's F (trade);
        a 4.2 ExecTransType (20) other than 0 (new) or 3 (status) is refused. Raises ValueError
        naming the tag for a code this core does not know."""
        code = message.exec_type
        try:
            exec_type = ExecType(code)
        except ValueError:
            exec_type = _FIX42_FILL_TYPES.get(code)
            if exec_type is None:
                raise ValueError(f"ExecType (150) {code!r} is not supported") from None
        trans_type = getattr(message, "exec_trans_type", None)
        if trans_type not in (None, "0", "3"):
            raise ValueError(
                f"ExecTransType (20) {trans_type!r} (cancel or correct of an earlier report) "
                "is not supported"
            )
        try:
            ord_status = OrdStatus(message.ord_status)
        except ValueError:
            raise ValueError(f"OrdStatus (39) {message.ord_status!r} is not supported") from None
        return cls(
            venue=venue,
            cl_ord_id=message.cl_ord_id or "",
            order_id=message.order_id,
            exec_id=message.exec_id,
            exec_type=exec_type,
            ord_status=ord_status,
            symbol=message.symbol,
            side=message.side,
            order_qty=message.order_qty or 0,
            price=message.price or 0,
            cum_qty=message.cum_qty,
            leaves_qty=message.leaves_qty,
            avg_px=message.avg_px,
            last_qty=message.last_qty or 0,
            last_px=message.last_px or 0,
            orig_cl_ord_id=message.orig_cl_ord_id or orig_cl_ord_id,
            liquidity=_LIQUIDITY_CODES.get(message.last_liquidity_ind, Liquidity.UNKNOWN),
            transact_time_ns=message.transact_time_ns or 0,
            text=message.text or "",
        )


class CancelReject(NamedTuple):
    """An OrderCancelReject (35=9): the cancel or replace `cl_ord_id` was refused."""

    venue: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    ord_status: OrdStatus
    response_to_replace: bool
    text: str = ""


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
        ) = order  # fmt: skip
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
        return {name: getattr(self, name) for name in self.__slots__} | {"chain": list(self.chain)}

    def __repr__(self) -> str:
        return (
            f"OrderRecord({self.cl_ord_id!r} {self.venue} {self.symbol} {self.side.name} "
            f"{self.cum_qty}/{self.quantity}@{self.price} {self.status.name})"
        )
