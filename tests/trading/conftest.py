"""A scripted counterparty for the trading tests: it answers a VenueOrder, a cancel or a
replace with the execution reports a FIX venue sends (FIX 4.4 semantics), so the OMS, the
portfolio and the risk gate are driven by real report sequences without sockets."""

from __future__ import annotations

import itertools

import pytest

from calarb.core.order_events import CancelRequest, ExecutionReport, ReplaceRequest, VenueOrder
from calarb.core.orders import ExecType
from calarb.trading.orders import Liquidity, OrdStatus


class _VenueOrder:
    def __init__(self, order: VenueOrder, order_id: str) -> None:
        self.cl_ord_id = order.cl_ord_id
        self.order = order
        self.order_id = order_id
        self.quantity = order.quantity
        self.price = order.price
        self.cum = 0
        self.notional = 0
        self.done = False


class Counterparty:
    """Venue-side bookkeeping for orders; each method returns the report to feed the OMS."""

    def __init__(self, venue: str = "V1") -> None:
        self.venue = venue
        self._ids = itertools.count(1)
        self.orders: dict[str, _VenueOrder] = {}

    def _report(self, o: _VenueOrder, exec_type, status, last_qty=0, last_px=0, **extra):
        leaves = 0 if o.done else o.quantity - o.cum
        avg = (o.notional + o.cum // 2) // o.cum if o.cum else 0
        return ExecutionReport(
            venue=extra.pop("venue", self.venue),
            cl_ord_id=extra.pop("cl_ord_id", o.cl_ord_id),
            order_id=o.order_id,
            exec_id=f"E{next(self._ids)}",
            exec_type=exec_type,
            ord_status=status,
            symbol=o.order.symbol,
            side=o.order.side,
            order_qty=o.quantity,
            price=o.price,
            cum_qty=o.cum,
            leaves_qty=leaves,
            avg_px=avg,
            last_qty=last_qty,
            last_px=last_px,
            **extra,
        )

    def _live(self, o: _VenueOrder) -> OrdStatus:
        return OrdStatus.PARTIALLY_FILLED if o.cum else OrdStatus.NEW

    def ack(self, order: VenueOrder) -> ExecutionReport:
        o = self.orders[order.cl_ord_id] = _VenueOrder(order, f"O{next(self._ids)}")
        return self._report(o, ExecType.NEW, OrdStatus.NEW)

    def reject(self, order: VenueOrder, text: str = "bad") -> ExecutionReport:
        o = self.orders[order.cl_ord_id] = _VenueOrder(order, f"O{next(self._ids)}")
        o.done = True
        return self._report(o, ExecType.REJECTED, OrdStatus.REJECTED, text=text)

    def fill(
        self,
        cl_ord_id: str,
        quantity: int,
        price: int | None = None,
        liquidity: Liquidity = Liquidity.REMOVED,
    ) -> ExecutionReport:
        o = self.orders[cl_ord_id]
        price = o.price if price is None else price
        o.cum += quantity
        o.notional += quantity * price
        status = OrdStatus.FILLED if o.cum == o.quantity else OrdStatus.PARTIALLY_FILLED
        o.done = o.cum == o.quantity
        return self._report(o, ExecType.TRADE, status, quantity, price, liquidity=liquidity)

    def cancel(self, request: CancelRequest) -> ExecutionReport:
        o = self.orders[request.orig_cl_ord_id]
        o.done = True
        self.orders[request.cl_ord_id] = o
        return self._report(
            o,
            ExecType.CANCELED,
            OrdStatus.CANCELED,
            cl_ord_id=request.cl_ord_id,
            orig_cl_ord_id=request.orig_cl_ord_id,
        )

    def expire(self, cl_ord_id: str) -> ExecutionReport:
        o = self.orders[cl_ord_id]
        o.done = True
        return self._report(o, ExecType.EXPIRED, OrdStatus.EXPIRED)

    def replace(self, request: ReplaceRequest) -> ExecutionReport:
        o = self.orders[request.orig_cl_ord_id]
        self.orders[request.cl_ord_id] = o
        o.cl_ord_id = request.cl_ord_id
        o.quantity = request.quantity
        o.price = request.price
        return self._report(
            o, ExecType.REPLACED, self._live(o), orig_cl_ord_id=request.orig_cl_ord_id
        )

    def pending_cancel(self, request: CancelRequest) -> ExecutionReport:
        o = self.orders[request.orig_cl_ord_id]
        return self._report(
            o,
            ExecType.PENDING_CANCEL,
            OrdStatus.PENDING_CANCEL,
            cl_ord_id=request.cl_ord_id,
            orig_cl_ord_id=request.orig_cl_ord_id,
        )

    def status(self, cl_ord_id: str) -> ExecutionReport:
        o = self.orders[cl_ord_id]
        if o.done:
            status = OrdStatus.FILLED if o.cum == o.quantity else OrdStatus.CANCELED
        else:
            status = self._live(o)
        return self._report(o, ExecType.ORDER_STATUS, status, cl_ord_id=o.cl_ord_id)


@pytest.fixture
def venue() -> Counterparty:
    return Counterparty("V1")


@pytest.fixture
def make_counterparty():
    return Counterparty
