"""Order management: the state of every venue order, driven by execution reports.

The OMS never raises on what a venue sends. A report it cannot place, a duplicate ExecID, a
quantity that goes backwards or a status change the FIX state diagram does not allow is
logged, counted in `anomalies` (by kind) and handled by a fixed rule:

* the venue is the authority on fills: a report whose CumQty is above ours books the
  difference as a fill (so a fill that races a cancel is never lost), a lower CumQty is
  ignored;
* a terminal order (filled, cancelled, rejected, expired, done for day) never reopens: a later
  non-terminal report is counted and ignored;
* while our cancel or replace is outstanding the order shows PENDING_CANCEL / PENDING_REPLACE,
  and the venue's live status is kept in `status_before_pending` until the answer comes.

Listeners (portfolio, risk gate, strategy) hear two things with direct method calls:
`on_fill(order, quantity, price, liquidity)` and `on_release(order, quantity)`, the open
quantity that will never fill (cancelled, rejected, expired, reduced by a replace; negative if
a venue raised it). Every input is written to the journal before it is applied, so replaying
the journal into a new OMS rebuilds the same state (`OrderManager.replay`).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from typing import Protocol

from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    StatusRequest,
    VenueOrder,
)
from calarb.core.orders import TERMINAL_STATUSES, ExecType, Liquidity, OrdStatus
from calarb.trading.orders import OrderRecord, venue_order_fields
from calarb.trading.reconcile import (
    ApplyReport,
    CancelAtVenue,
    CloseLocally,
    Reconciliation,
)

log = logging.getLogger("calarb.trading.oms")

S = OrdStatus
# Module constants: an enum attribute lookup costs ~100 ns on CPython 3.11 (hot path).
_NEW, _PARTIAL, _REPLACED_STATUS = S.NEW, S.PARTIALLY_FILLED, S.REPLACED
_PENDING_CANCEL, _PENDING_REPLACE = S.PENDING_CANCEL, S.PENDING_REPLACE
_LIVE_STATUSES = (S.NEW, S.PARTIALLY_FILLED)
_PENDING_STATUSES = (S.PENDING_CANCEL, S.PENDING_REPLACE)
_TRADE, _EXEC_REPLACED = ExecType.TRADE, ExecType.REPLACED
_LIVE = {S.NEW, S.PARTIALLY_FILLED}
_ENDS = {S.FILLED, S.CANCELED, S.EXPIRED, S.DONE_FOR_DAY}
ALLOWED_TRANSITIONS: dict[OrdStatus, frozenset[OrdStatus]] = {
    S.PENDING_NEW: frozenset({S.PENDING_NEW, S.REJECTED, S.PENDING_CANCEL, S.PENDING_REPLACE})
    | _LIVE
    | _ENDS,
    S.NEW: frozenset({S.PENDING_CANCEL, S.PENDING_REPLACE}) | _LIVE | _ENDS,
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE})
    | _ENDS,
    S.PENDING_CANCEL: frozenset({S.PENDING_CANCEL}) | _LIVE | _ENDS,
    S.PENDING_REPLACE: frozenset({S.PENDING_REPLACE, S.PENDING_CANCEL}) | _LIVE | _ENDS,
}
"""Status changes that FIX 4.4 allows (from -> to). Terminal statuses only repeat themselves."""


class OrderListener(Protocol):
    def on_fill(self, order: OrderRecord, quantity: int, price: int, liquidity: Liquidity) -> None:
        """`quantity` shares of `order` traded at `price`."""
        ...

    def on_release(self, order: OrderRecord, quantity: int) -> None:
        """`quantity` shares of `order` stopped being open without trading."""
        ...


class JournalSink(Protocol):
    def record(self, kind: str, now_ns: int, payload: tuple) -> None: ...


class OrderManager:
    """Venue orders by ClOrdID (any id of the chain), by venue OrderID and by parent."""

    def __init__(
        self,
        listeners: Iterable[OrderListener] = (),
        journal: JournalSink | None = None,
        anomaly_history: int = 256,
    ) -> None:
        self._listeners: tuple[OrderListener, ...] = tuple(listeners)
        self.journal = journal
        self._by_id: dict[str, OrderRecord] = {}
        self._by_order_id: dict[tuple[str, str], OrderRecord] = {}
        self._by_parent: dict[str, list[OrderRecord]] = {}
        self._open: dict[str, OrderRecord] = {}  # root id -> open order
        self._exec_ids: set[tuple[str, str]] = set()
        self.anomalies: Counter[str] = Counter()
        self.late_cancel_rejects = 0  # cancels refused because the order had already ended
        self.recent_anomalies: deque[str] = deque(maxlen=anomaly_history)
        self.reports_applied = 0

    # ----------------------------------------------------------------- wiring and queries
    def add_listener(self, listener: OrderListener) -> None:
        self._listeners += (listener,)

    def order(self, cl_ord_id: str) -> OrderRecord | None:
        """The order that used `cl_ord_id` at any point of its chain."""
        return self._by_id.get(cl_ord_id)

    def order_by_venue_id(self, venue: str, order_id: str) -> OrderRecord | None:
        return self._by_order_id.get((venue, order_id))

    def orders(self) -> list[OrderRecord]:
        """Every order of the session, open or not, in submission order."""
        return [order for orders in self._by_parent.values() for order in orders]

    def orders_of_parent(self, parent_id: str) -> list[OrderRecord]:
        return list(self._by_parent.get(parent_id, ()))

    def parent_ids(self) -> Iterator[str]:
        return iter(self._by_parent)

    def open_orders(self, symbol: str | None = None, venue: str | None = None) -> list[OrderRecord]:
        return [
            order
            for order in self._open.values()
            if (symbol is None or order.symbol == symbol)
            and (venue is None or order.venue == venue)
        ]

    @property
    def open_count(self) -> int:
        return len(self._open)

    @property
    def unexpected_transitions(self) -> int:
        return self.anomalies["unexpected_transition"]

    # ----------------------------------------------------------------- requests (outbound)
    def submit(self, order: VenueOrder, now_ns: int) -> OrderRecord:
        """Record a NewOrderSingle about to be sent. A ClOrdID used before is a caller bug
        (the risk gate refuses duplicate parents): ValueError naming it."""
        fields = venue_order_fields(order)
        cl_ord_id = fields[0]
        by_id = self._by_id
        if cl_ord_id in by_id:
            raise ValueError(f"ClOrdID {cl_ord_id!r} is already used by this OMS")
        if self.journal is not None:
            self.journal.record("order", now_ns, order)
        record = OrderRecord(order, now_ns)
        by_id[cl_ord_id] = record
        siblings = self._by_parent.get(fields[1])
        if siblings is None:
            self._by_parent[fields[1]] = [record]
        else:
            siblings.append(record)
        self._open[cl_ord_id] = record  # by root id: the first ClOrdID
        return record

    def _next_id(self, record: OrderRecord) -> str:
        return f"{record.root_id}/{len(record.chain)}"

    def request_cancel(self, cl_ord_id: str, now_ns: int) -> CancelRequest | None:
        """The cancel to send for an open order, or None if it is closed or already being
        cancelled. A cancel may supersede an outstanding replace."""
        record = self._by_id.get(cl_ord_id)
        if record is None or not record.is_open or record.status is S.PENDING_CANCEL:
            return None
        request = CancelRequest(
            record.venue,
            self._next_id(record),
            record.cl_ord_id,
            record.order_id,
            record.symbol,
            record.side,
            record.quantity,
        )
        if self.journal is not None:
            self.journal.record("cancel", now_ns, request)
        self._apply_cancel_request(record, request.cl_ord_id, now_ns)
        return request

    def _apply_cancel_request(self, record: OrderRecord, new_id: str, now_ns: int) -> None:
        if record.pending_id is None:
            record.status_before_pending = record.status
        record.pending_id = new_id
        record.chain.append(new_id)
        self._by_id[new_id] = record
        record.status = S.PENDING_CANCEL
        record.updated_ns = now_ns

    def request_replace(
        self, cl_ord_id: str, quantity: int, price: int, now_ns: int
    ) -> ReplaceRequest | None:
        """The cancel/replace to send (new total quantity and price), or None if the order is
        closed, already has a request outstanding, or `quantity` is not above CumQty."""
        record = self._by_id.get(cl_ord_id)
        if (
            record is None
            or not record.is_open
            or record.pending_id is not None
            or quantity <= record.cum_qty
        ):
            return None
        request = ReplaceRequest(
            record.venue,
            self._next_id(record),
            record.cl_ord_id,
            record.order_id,
            record.symbol,
            record.side,
            quantity,
            price,
            record.ord_type,
        )
        if self.journal is not None:
            self.journal.record("replace", now_ns, request)
        self._apply_replace_request(record, request, now_ns)
        return request

    def _apply_replace_request(
        self, record: OrderRecord, request: ReplaceRequest, now_ns: int
    ) -> None:
        record.status_before_pending = record.status
        record.pending_id = request.cl_ord_id
        record.pending_quantity = request.quantity
        record.pending_price = request.price
        record.chain.append(request.cl_ord_id)
        self._by_id[request.cl_ord_id] = record
        record.status = S.PENDING_REPLACE
        record.updated_ns = now_ns

    def cancel_all(
        self, now_ns: int, symbol: str | None = None, venue: str | None = None
    ) -> list[CancelRequest]:
        """Cancels for every open order (optionally of one symbol or venue) not already
        being cancelled."""
        requests = []
        for order in self.open_orders(symbol, venue):
            request = self.request_cancel(order.cl_ord_id, now_ns)
            if request is not None:
                requests.append(request)
        return requests

    def status_requests(self, venue: str | None = None) -> list[StatusRequest]:
        """OrderStatusRequests for every open order (reconciliation after a reconnect)."""
        return [
            StatusRequest(o.venue, o.cl_ord_id, o.order_id, o.symbol, o.side)
            for o in self.open_orders(venue=venue)
        ]

    # ----------------------------------------------------------------- reports (inbound)
    def _anomaly(self, kind: str, detail: str) -> None:
        self.anomalies[kind] += 1
        self.recent_anomalies.append(f"{kind}: {detail}")
        log.warning("OMS %s: %s", kind, detail)

    def _find(self, report: ExecutionReport) -> OrderRecord | None:
        record = self._by_id.get(report.cl_ord_id)
        if record is None and report.orig_cl_ord_id:
            record = self._by_id.get(report.orig_cl_ord_id)
        if record is None and report.order_id:
            record = self._by_order_id.get((report.venue, report.order_id))
        return record

    def on_execution_report(self, report: ExecutionReport, now_ns: int) -> OrderRecord | None:
        """Apply one execution report; returns the order it concerned, or None when it was
        ignored (unknown order or duplicate ExecID, both counted)."""
        if self.journal is not None:
            self.journal.record("report", now_ns, report)
        key = (report.venue, report.exec_id)
        if key in self._exec_ids:
            self._anomaly("duplicate_exec_id", f"{report.venue} ExecID {report.exec_id}")
            return None
        record = self._find(report)
        if record is None:
            self._anomaly(
                "unknown_order",
                f"{report.venue} ClOrdID {report.cl_ord_id!r} OrderID {report.order_id!r} "
                f"ExecType {report.exec_type.name}",
            )
            return None
        if report.symbol != record.symbol or report.side is not record.side:
            self._anomaly(
                "mismatched_report",
                f"{record.cl_ord_id}: report says {report.symbol} {report.side.name}",
            )
            return None
        self._exec_ids.add(key)
        self.reports_applied += 1
        if report.order_id and report.order_id != record.order_id:
            if record.order_id is not None:
                self._by_order_id.pop((record.venue, record.order_id), None)
            record.order_id = report.order_id
            self._by_order_id[(record.venue, report.order_id)] = record
        record.updated_ns = now_ns
        if report.text:
            record.text = report.text
        self._apply_fill(record, report)
        self._apply_status(record, report)
        return record

    def _apply_fill(self, record: OrderRecord, report: ExecutionReport) -> None:
        delta = report.cum_qty - record.cum_qty
        if delta < 0:
            self._anomaly(
                "cum_qty_regressed",
                f"{record.cl_ord_id}: CumQty {report.cum_qty} < booked {record.cum_qty}",
            )
            return
        if delta == 0:
            if report.exec_type is _TRADE:
                self._anomaly(
                    "fill_without_quantity", f"{record.cl_ord_id} ExecID {report.exec_id}"
                )
            return
        if report.last_qty == delta and report.last_px > 0:
            price = report.last_px
        else:
            # A missed report (or a status answer): book the gap at the price implied by AvgPx.
            self._anomaly(
                "fill_gap",
                f"{record.cl_ord_id}: CumQty jumped by {delta}, LastQty {report.last_qty}",
            )
            implied = report.avg_px * report.cum_qty - record.cum_notional
            price = max(1, (implied + delta // 2) // delta) if implied > 0 else report.avg_px
        record.cum_qty = report.cum_qty
        record.cum_notional += price * delta
        record.avg_px = report.avg_px
        record.leaves_qty = max(0, record.leaves_qty - delta)
        for listener in self._listeners:
            listener.on_fill(record, delta, price, report.liquidity)

    def _apply_status(self, record: OrderRecord, report: ExecutionReport) -> None:
        current = record.status
        new = report.ord_status
        if new is _REPLACED_STATUS:  # FIX 4.2 code: the order lives on
            new = _PARTIAL if report.cum_qty else _NEW
        replaced = report.exec_type is _EXEC_REPLACED
        if replaced:
            self._apply_replaced(record, report)
        if current in TERMINAL_STATUSES:
            if new is not current:
                self._anomaly(
                    "unexpected_transition", f"{record.cl_ord_id}: {current.name} -> {new.name}"
                )
            return
        base = record.status_before_pending if record.pending_id is not None else current
        if new not in ALLOWED_TRANSITIONS[base] and new not in ALLOWED_TRANSITIONS[current]:
            self._anomaly(
                "unexpected_transition", f"{record.cl_ord_id}: {current.name} -> {new.name}"
            )
        if new in TERMINAL_STATUSES:
            record.status = new
            record.pending_id = None
            self._close(record)
            return
        if record.pending_id is not None:
            # Our cancel/replace is still outstanding: keep showing it, remember the live state.
            if new in _LIVE_STATUSES:
                record.status_before_pending = new
            elif new in _PENDING_STATUSES:
                record.status = new
        else:
            record.status = new
        self._set_leaves(record, report.leaves_qty)

    def _apply_replaced(self, record: OrderRecord, report: ExecutionReport) -> None:
        if report.cl_ord_id not in self._by_id:
            record.chain.append(report.cl_ord_id)
            self._by_id[report.cl_ord_id] = record
        record.cl_ord_id = report.cl_ord_id
        record.quantity = report.order_qty or record.pending_quantity or record.quantity
        record.price = report.price or record.pending_price or record.price
        if record.pending_id == report.cl_ord_id:
            record.pending_id = None  # (a cancel that superseded the replace stays pending)

    def _set_leaves(self, record: OrderRecord, leaves: int) -> None:
        released = record.leaves_qty - leaves
        if released:
            if released < 0:
                self._anomaly(
                    "leaves_increased", f"{record.cl_ord_id}: {record.leaves_qty} -> {leaves}"
                )
            record.leaves_qty = leaves
            for listener in self._listeners:
                listener.on_release(record, released)

    def _close(self, record: OrderRecord) -> None:
        self._set_leaves(record, 0)
        self._open.pop(record.root_id, None)

    def on_cancel_reject(self, reject: CancelReject, now_ns: int) -> OrderRecord | None:
        """The venue refused our cancel or replace: the order keeps its live status."""
        if self.journal is not None:
            self.journal.record("cancel_reject", now_ns, reject)
        record = self._by_id.get(reject.cl_ord_id) or self._by_id.get(reject.orig_cl_ord_id)
        if record is None:
            self._anomaly("unknown_order", f"cancel reject for {reject.cl_ord_id!r}")
            return None
        record.updated_ns = now_ns
        if reject.text:
            record.text = reject.text
        if record.pending_id is None and record.status in TERMINAL_STATUSES:
            # Our cancel crossed the order's end (filled or gone before the venue saw it):
            # "too late to cancel" is an ordinary race, not an anomaly.
            self.late_cancel_rejects += 1
            return record
        if record.pending_id != reject.cl_ord_id:
            self._anomaly(
                "stale_cancel_reject",
                f"{record.cl_ord_id}: reject of {reject.cl_ord_id!r}, pending {record.pending_id!r}",
            )
            return record
        record.pending_id = None
        if record.status in TERMINAL_STATUSES:
            return record
        status = reject.ord_status
        if status in TERMINAL_STATUSES:
            # e.g. "too late to cancel": the order is already filled or gone.
            record.status = status
            self._close(record)
        elif status in (S.NEW, S.PARTIALLY_FILLED):
            record.status = status
        else:
            record.status = record.status_before_pending
        return record

    def close_locally(self, cl_ord_id: str, status: OrdStatus, reason: str, now_ns: int) -> None:
        """Close an order the venue does not know (reconciliation repair): no fill is
        invented, its open quantity is released."""
        if self.journal is not None:
            self.journal.record("close_local", now_ns, (cl_ord_id, status.value, reason))
        record = self._by_id.get(cl_ord_id)
        if record is None or not record.is_open:
            return
        record.status = status
        record.pending_id = None
        record.text = reason
        record.updated_ns = now_ns
        self._close(record)

    def apply_reconciliation(
        self, result: Reconciliation, now_ns: int
    ) -> list[CancelRequest | StatusRequest]:
        """Apply the local repairs of `reconcile` and return the messages to send (cancels of
        orders open only at the venue, repeated status requests)."""
        outbound: list[CancelRequest | StatusRequest] = []
        for action in result.actions:
            if isinstance(action, ApplyReport):
                self.on_execution_report(action.report, now_ns)
            elif isinstance(action, CloseLocally):
                self.close_locally(action.cl_ord_id, action.status, action.reason, now_ns)
            elif isinstance(action, CancelAtVenue):
                report = action.report
                known = self._by_id.get(report.cl_ord_id)
                if known is not None:
                    request = self.request_cancel(report.cl_ord_id, now_ns)
                    if request is not None:
                        outbound.append(request)
                        continue
                outbound.append(
                    CancelRequest(
                        report.venue,
                        f"RECON-{report.order_id}-{now_ns}",
                        report.cl_ord_id,
                        report.order_id,
                        report.symbol,
                        report.side,
                        report.order_qty,
                    )
                )
            else:
                outbound.append(action.request)
        return outbound

    # ----------------------------------------------------------------- replay
    def replay(self, entries: Iterable[tuple[str, int, object]]) -> int:
        """Feed journal entries (kind, time, decoded payload) through this OMS without
        writing them again; returns the number applied."""
        journal, self.journal = self.journal, None
        count = 0
        try:
            for kind, now_ns, payload in entries:
                if kind == "order":
                    self.submit(payload, now_ns)  # type: ignore[arg-type]
                elif kind == "report":
                    self.on_execution_report(payload, now_ns)  # type: ignore[arg-type]
                elif kind == "cancel_reject":
                    self.on_cancel_reject(payload, now_ns)  # type: ignore[arg-type]
                elif kind == "cancel":
                    record = self._by_id[payload.orig_cl_ord_id]  # type: ignore[attr-defined]
                    self._apply_cancel_request(record, payload.cl_ord_id, now_ns)  # type: ignore[attr-defined]
                elif kind == "replace":
                    record = self._by_id[payload.orig_cl_ord_id]  # type: ignore[attr-defined]
                    self._apply_replace_request(record, payload, now_ns)  # type: ignore[arg-type]
                elif kind == "close_local":
                    cl_ord_id, status, reason = payload  # type: ignore[misc]
                    self.close_locally(cl_ord_id, OrdStatus(status), reason, now_ns)
                else:
                    continue
                count += 1
        finally:
            self.journal = journal
        return count

    def state(self) -> dict[str, dict]:
        """Every order as plain data, keyed by root ClOrdID (for restart checks and reports)."""
        return {o.root_id: o.snapshot() for o in self.orders()}
