"""The order vocabulary between a trader and a venue: the requests sent, the events returned.

One set of types for every user: the OMS and the router build the requests, the FIX gateways
put them on the wire and read them back (through calarb.fix.messages), the venue's matching
engine produces the events, the simulated venues and the backtest pass them on, the OMS and
the portfolio consume them. Plain values with FIX 4.4 semantics and integer money: prices in
1/10,000 currency units (calarb.core.types), quantities in whole shares, times in nanoseconds
passed in by the caller. The enums (calarb.core.orders) carry the FIX codes, so mapping a
field to the wire is a lookup.

Fields after `text` on the events are the venue's own (who owns the order, why it was
refused, the exact notional behind AvgPx, the match number); a trader that reads a FIX
report leaves them at their defaults.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from calarb.core.orders import ExecType, Liquidity, OrderPurpose, OrdStatus, OrdType, TimeInForce
from calarb.core.types import Side

# --- requests (trader -> venue) ---------------------------------------------------------------


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


# --- events (venue -> trader) -----------------------------------------------------------------


class ExecutionReport(NamedTuple):
    """One order outcome for its owner (FIX ExecutionReport 35=8 semantics).

    `last_qty`/`last_px` describe this report's fill (0 when it is not a fill); `order_qty`
    (the total after any replace), `cum_qty`, `leaves_qty` and `avg_px` (rounded half up)
    describe the whole order; `price` is its limit (0 for a market order). `order_id` is the
    venue's order id as text ("" on a reject). `orig_cl_ord_id` is set on reports answering a
    cancel or a replace. `liquidity` says whether a fill added or removed liquidity.

    The venue's fields: `participant` owns the order; `cum_notional` is the sum of fill
    price x shares (AvgPx without rounding drift); `match_number` the trade's (ITCH) match
    number; `reason` the venue's RejectReason or CancelReason.
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
    participant: str = ""
    ord_type: OrdType = OrdType.LIMIT
    time_in_force: TimeInForce = TimeInForce.DAY
    cum_notional: int = 0
    match_number: int = 0
    reason: enum.Enum | None = None

    @property
    def average_price(self) -> float:
        """AvgPx unrounded, from `cum_notional` (0.0 before any fill); reports only."""
        return self.cum_notional / self.cum_qty if self.cum_qty else 0.0


def average_price(cum_notional: int, cum_qty: int) -> int:
    """AvgPx in integer units, rounded half up (FIX carries it as a price)."""
    return (cum_notional + cum_qty // 2) // cum_qty if cum_qty else 0


class CancelReject(NamedTuple):
    """An OrderCancelReject (35=9): the cancel or replace `cl_ord_id` was refused.

    `ord_status` is the order's current status when it is live, REJECTED when the venue
    does not know it (FIX requires OrdStatus on this message). `participant`,
    `transact_time_ns` and `reason` (the venue's RejectReason) are the venue's fields.
    """

    venue: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    ord_status: OrdStatus
    response_to_replace: bool
    text: str = ""
    participant: str = ""
    transact_time_ns: int = 0
    reason: enum.Enum | None = None


OrderEvent = ExecutionReport | CancelReject
