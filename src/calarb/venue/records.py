"""The records the matching engine emits, built from its `Order`: order outcomes for the owner
(`ExecutionReport`, `CancelReject` of calarb.core.order_events) and book changes for market
data (calarb.venue.orders). One function per kind, so the engine's methods stay short and the
field order of each 25-field report is written once.

Hot-path records are built by `_new_record` (`tuple.__new__`: a NamedTuple without its
Python-level `__new__`, untracked by the cycle collector when compiled); the rare ones
(rejects) through their constructors.
"""

from __future__ import annotations

import cython

from calarb.core.order_events import CancelReject, ExecutionReport
from calarb.core.orders import ExecType, Liquidity
from calarb.core.types import Side
from calarb.venue.orders import (
    CancelReason,
    Execution,
    Order,
    OrderAdded,
    OrderDeleted,
    OrdStatus,
    OrdType,
    RejectReason,
    TimeInForce,
)

_NEW = ExecType.NEW
_TRADE = ExecType.TRADE
_CANCELED = ExecType.CANCELED
_REPLACED = ExecType.REPLACED
_REJECTED = ExecType.REJECTED
_ST_NEW = OrdStatus.NEW
_ST_PARTIAL = OrdStatus.PARTIALLY_FILLED
_ST_FILLED = OrdStatus.FILLED
_ST_CANCELED = OrdStatus.CANCELED
_ST_REJECTED = OrdStatus.REJECTED
_NO_FILL = Liquidity.UNKNOWN
_CANCEL_TEXT = {reason: reason.value for reason in CancelReason}  # Enum.value is slow to read


def _new_record(cls: type, fields: tuple) -> tuple:
    """`cls` (a NamedTuple) holding `fields`, built without its Python-level `__new__`.

    Compiled, the record is also taken off the cycle collector's lists: it holds only
    immutable values (str, int, enum, None), so it can be in no cycle, and the collector
    otherwise walks every field of every report still waiting to be drained."""
    if cython.compiled:
        return new_untracked_tuple(cls, fields)  # noqa: F821 (records.pxd, compiled only)
    return tuple.__new__(cls, fields)


def _report(
    venue: str, cl_ord_id: str, order_id: str, exec_id: str, exec_type: ExecType,
    ord_status: OrdStatus, symbol: str, side: Side, order_qty: int, price: int, cum_qty: int,
    leaves_qty: int, average_px: int, last_qty: int, last_px: int, orig_cl_ord_id: str | None,
    liquidity: Liquidity, transact_time_ns: int, text: str, participant: str,
    ord_type: OrdType, time_in_force: TimeInForce, cum_notional: int, match_number: int,
    reason: CancelReason | None,
) -> ExecutionReport:  # fmt: skip
    """An `ExecutionReport` of these 25 fields, in its field order.

    Compiled, built in C straight from the arguments (no temporary tuple to copy, no
    collector bookkeeping: untracked like `_new_record`'s records)."""
    if cython.compiled:
        return new_untracked_report(  # noqa: F821 (records.pxd, compiled only)
            ExecutionReport, venue, cl_ord_id, order_id, exec_id, exec_type, ord_status, symbol,
            side, order_qty, price, cum_qty, leaves_qty, average_px, last_qty, last_px,
            orig_cl_ord_id, liquidity, transact_time_ns, text, participant, ord_type,
            time_in_force, cum_notional, match_number, reason,
        )  # fmt: skip
    return tuple.__new__(
        ExecutionReport,
        (
            venue, cl_ord_id, order_id, exec_id, exec_type, ord_status, symbol, side, order_qty,
            price, cum_qty, leaves_qty, average_px, last_qty, last_px, orig_cl_ord_id,
            liquidity, transact_time_ns, text, participant, ord_type, time_in_force,
            cum_notional, match_number, reason,
        ),
    )  # fmt: skip


def avg_px(cum_notional: int, cum_qty: int) -> int:
    """AvgPx rounded half up (core.order_events.average_price, on C integers when compiled)."""
    return (cum_notional + cum_qty // 2) // cum_qty if cum_qty else 0


def live_status(order: Order) -> OrdStatus:
    return _ST_PARTIAL if order.cum_qty else _ST_NEW


# --- order outcomes ---------------------------------------------------------------------------


def new_report(order: Order, timestamp_ns: int) -> ExecutionReport:
    """NEW: the order was accepted (before any fill)."""
    quantity = order.quantity
    return _report(
            "", order.client_order_id, order.order_id_text, "", _NEW, _ST_NEW, order.symbol,
            order.side, quantity, order.price, 0, quantity, 0, 0, 0, None, _NO_FILL,
            timestamp_ns, "", order.participant, order.order_type, order.time_in_force, 0, 0,
            None,
    )  # fmt: skip


def fill_report(
    order: Order,
    last_px: int,
    last_qty: int,
    liquidity: Liquidity,
    timestamp_ns: int,
    match_number: int,
) -> ExecutionReport:
    """TRADE: `order` (its cum and leaves already updated) filled `last_qty` at `last_px`."""
    cum_qty = order.cum_qty
    cum_notional = order.cum_notional
    leaves = order.leaves
    return _report(
            "", order.client_order_id, order.order_id_text, "", _TRADE,
            _ST_PARTIAL if leaves else _ST_FILLED, order.symbol, order.side, order.quantity,
            order.price, cum_qty, leaves, avg_px(cum_notional, cum_qty), last_qty, last_px,
            None, liquidity, timestamp_ns, "", order.participant, order.order_type,
            order.time_in_force, cum_notional, match_number, None,
    )  # fmt: skip


def cancelled_report(
    order: Order, timestamp_ns: int, reason: CancelReason, orig_client_order_id: str
) -> ExecutionReport:
    """CANCELED: the order (or its remainder) is done for `reason`."""
    cum_qty = order.cum_qty
    cum_notional = order.cum_notional
    return _report(
            "", order.client_order_id, order.order_id_text, "", _CANCELED, _ST_CANCELED,
            order.symbol, order.side, order.quantity, order.price, cum_qty, 0,
            avg_px(cum_notional, cum_qty), 0, 0, orig_client_order_id or None, _NO_FILL,
            timestamp_ns, _CANCEL_TEXT[reason], order.participant, order.order_type,
            order.time_in_force, cum_notional, 0, reason,
    )  # fmt: skip


def replaced_report(order: Order, timestamp_ns: int, orig_client_order_id: str) -> ExecutionReport:
    """REPLACED: the order now has its new quantity, price and ClOrdID."""
    cum_qty = order.cum_qty
    cum_notional = order.cum_notional
    return _report(
            "", order.client_order_id, order.order_id_text, "", _REPLACED, live_status(order),
            order.symbol, order.side, order.quantity, order.price, cum_qty, order.leaves,
            avg_px(cum_notional, cum_qty), 0, 0, orig_client_order_id or None, _NO_FILL,
            timestamp_ns, "", order.participant, order.order_type, order.time_in_force,
            cum_notional, 0, None,
    )  # fmt: skip


def rejected_report(
    timestamp_ns: int,
    participant: str,
    client_order_id: str,
    symbol: str,
    side: Side,
    order_type: OrdType,
    time_in_force: TimeInForce,
    price: int,
    quantity: int,
    reason: RejectReason,
    text: str,
) -> ExecutionReport:
    """REJECTED: a new order refused before it had a venue order id."""
    return ExecutionReport(
        "", client_order_id, "", "", _REJECTED, _ST_REJECTED, symbol, side, quantity, price, 0,
        0, 0, 0, 0, None, _NO_FILL, timestamp_ns, text, participant, order_type,
        time_in_force, 0, 0, reason,
    )  # fmt: skip


def cancel_reject(
    timestamp_ns: int,
    participant: str,
    client_order_id: str,
    orig_client_order_id: str,
    order_id: int,
    order_status: OrdStatus,
    to_replace: bool,
    reason: RejectReason,
    text: str,
) -> CancelReject:
    """A cancel or replace request refused."""
    return CancelReject(
        "", client_order_id, orig_client_order_id, str(order_id) if order_id else "",
        order_status, to_replace, text, participant, timestamp_ns, reason,
    )  # fmt: skip


# --- book changes -----------------------------------------------------------------------------


def added_event(order: Order, timestamp_ns: int) -> OrderAdded:
    """ITCH A: `order` rests with its leaves."""
    return _new_record(
        OrderAdded,
        (
            timestamp_ns, order.symbol, order.order_id, order.side, order.leaves, order.price,
            order.participant,
        ),
    )  # fmt: skip


def deleted_event(order: Order, timestamp_ns: int) -> OrderDeleted:
    """ITCH D: `order` left the book other than by a fill."""
    return _new_record(OrderDeleted, (timestamp_ns, order.symbol, order.order_id))


def execution_event(
    resting: Order, incoming: Order, price: int, shares: int, timestamp_ns: int, match_number: int
) -> Execution:
    """ITCH E (or P): `incoming` took `shares` from `resting` at `price`."""
    return _new_record(
        Execution,
        (
            timestamp_ns, resting.symbol, match_number, price, shares, incoming.side,
            resting.order_id, incoming.order_id, resting.participant, incoming.participant,
            resting.displayed,
        ),
    )  # fmt: skip
