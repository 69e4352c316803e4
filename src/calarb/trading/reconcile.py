"""Reconciliation with a venue after a reconnect or restart: our open orders against the
venue's answers to OrderStatusRequests (ExecType I), as differences and the repairs that fix
them. `reconcile` decides; `OrderManager.apply_reconciliation` applies the local repairs and
returns the messages to send."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import NamedTuple

from calarb.core.order_events import ExecutionReport, StatusRequest
from calarb.core.orders import TERMINAL_STATUSES, ExecType, OrdStatus
from calarb.trading.orders import OrderRecord

S = OrdStatus


class DiffKind(enum.StrEnum):
    NO_ANSWER = "no answer"  # the venue did not answer the status request
    UNKNOWN_AT_VENUE = "unknown at venue"  # the venue does not know our open order
    MISSED_FILLS = "missed fills"  # the venue has more CumQty than we booked
    CLOSED_AT_VENUE = "closed at venue"  # the venue's order is terminal, ours is open
    MISSED_REPLACE = "missed replace"  # the venue shows our pending replace as done
    QUANTITY_DIFFERS = "quantity differs"  # OrderQty/price/LeavesQty differ otherwise
    FILLS_AHEAD = "we booked more than the venue"  # cannot be repaired automatically
    UNKNOWN_OPEN_ORDER = "open at venue, not open here"


class Difference(NamedTuple):
    kind: DiffKind
    venue: str
    cl_ord_id: str
    detail: str


class ApplyReport(NamedTuple):
    """Feed this (possibly adjusted) venue answer through `on_execution_report`."""

    report: ExecutionReport


class CloseLocally(NamedTuple):
    cl_ord_id: str
    status: OrdStatus
    reason: str


class CancelAtVenue(NamedTuple):
    """Cancel an order the venue holds open and we do not (from its status answer)."""

    report: ExecutionReport


class RequestStatus(NamedTuple):
    request: StatusRequest


RepairAction = ApplyReport | CloseLocally | CancelAtVenue | RequestStatus


class Reconciliation(NamedTuple):
    differences: list[Difference]
    actions: list[RepairAction]


def _is_unknown_answer(answer: ExecutionReport) -> bool:
    return answer.ord_status is S.REJECTED and answer.cum_qty == 0


def reconcile(
    open_orders: Iterable[OrderRecord], answers: Iterable[ExecutionReport]
) -> Reconciliation:
    """Compare the OMS's open orders with the venues' answers to OrderStatusRequest (as
    execution reports, ExecType I) and list the differences and the repairs. Pure: reads
    the records, changes nothing."""
    by_id: dict[tuple[str, str], ExecutionReport] = {}
    by_order_id: dict[tuple[str, str], ExecutionReport] = {}
    for answer in answers:
        by_id[(answer.venue, answer.cl_ord_id)] = answer
        if answer.orig_cl_ord_id:
            by_id.setdefault((answer.venue, answer.orig_cl_ord_id), answer)
        if answer.order_id and not _is_unknown_answer(answer):
            by_order_id[(answer.venue, answer.order_id)] = answer
    differences: list[Difference] = []
    actions: list[RepairAction] = []
    matched: set[int] = set()
    for order in open_orders:
        answer = None
        for cl_ord_id in reversed(order.chain):
            answer = by_id.get((order.venue, cl_ord_id))
            if answer is not None:
                break
        if answer is None and order.order_id:
            answer = by_order_id.get((order.venue, order.order_id))
        if answer is None:
            differences.append(
                Difference(DiffKind.NO_ANSWER, order.venue, order.cl_ord_id, "status not answered")
            )
            actions.append(
                RequestStatus(
                    StatusRequest(
                        order.venue, order.cl_ord_id, order.order_id, order.symbol, order.side
                    )
                )
            )
            continue
        matched.add(id(answer))
        found_before = len(differences)
        if _is_unknown_answer(answer):
            never_acked = order.status is S.PENDING_NEW or (
                order.order_id is None and order.status_before_pending is S.PENDING_NEW
            )
            status = S.REJECTED if never_acked and order.cum_qty == 0 else S.CANCELED
            differences.append(
                Difference(
                    DiffKind.UNKNOWN_AT_VENUE,
                    order.venue,
                    order.cl_ord_id,
                    answer.text or "venue does not know the order",
                )
            )
            actions.append(CloseLocally(order.cl_ord_id, status, "unknown at venue"))
            continue
        if answer.cum_qty < order.cum_qty:
            differences.append(
                Difference(
                    DiffKind.FILLS_AHEAD,
                    order.venue,
                    order.cl_ord_id,
                    f"venue CumQty {answer.cum_qty}, booked {order.cum_qty}",
                )
            )
            continue
        repaired = answer
        if (
            order.pending_id is not None
            and answer.cl_ord_id == order.pending_id
            and order.status is S.PENDING_REPLACE
            and answer.ord_status not in TERMINAL_STATUSES
        ):
            repaired = answer._replace(exec_type=ExecType.REPLACED)
            differences.append(
                Difference(
                    DiffKind.MISSED_REPLACE,
                    order.venue,
                    order.cl_ord_id,
                    f"venue has {answer.order_qty}@{answer.price}",
                )
            )
        if answer.cum_qty > order.cum_qty:
            differences.append(
                Difference(
                    DiffKind.MISSED_FILLS,
                    order.venue,
                    order.cl_ord_id,
                    f"venue CumQty {answer.cum_qty}, booked {order.cum_qty}",
                )
            )
        if answer.ord_status in TERMINAL_STATUSES:
            differences.append(
                Difference(
                    DiffKind.CLOSED_AT_VENUE,
                    order.venue,
                    order.cl_ord_id,
                    f"venue status {answer.ord_status.name}",
                )
            )
        elif repaired is answer and (
            answer.leaves_qty != order.leaves_qty
            or (answer.order_qty and answer.order_qty != order.quantity)
            or (answer.price and answer.price != order.price)
        ):
            differences.append(
                Difference(
                    DiffKind.QUANTITY_DIFFERS,
                    order.venue,
                    order.cl_ord_id,
                    f"venue {answer.order_qty}@{answer.price} leaves {answer.leaves_qty}, "
                    f"here {order.quantity}@{order.price} leaves {order.leaves_qty}",
                )
            )
        if len(differences) > found_before:
            actions.append(ApplyReport(repaired))
    for answer in by_id.values():
        if id(answer) in matched or _is_unknown_answer(answer):
            continue
        matched.add(id(answer))
        if answer.ord_status not in TERMINAL_STATUSES and answer.leaves_qty > 0:
            differences.append(
                Difference(
                    DiffKind.UNKNOWN_OPEN_ORDER,
                    answer.venue,
                    answer.cl_ord_id,
                    f"OrderID {answer.order_id} leaves {answer.leaves_qty}",
                )
            )
            actions.append(CancelAtVenue(answer))
    return Reconciliation(differences, actions)
