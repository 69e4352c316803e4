"""Order gateways: how the engine reaches venues, without knowing whether over FIX or in-process.

`OrderGateway` is the engine's whole view of a venue's order entry: three calls that send
(new order, cancel, cancel/replace) and return nothing. Answers come back later by method
calls on an `ExecutionSink` (the engine): `on_execution_report` and `on_cancel_reject`.
`calarb.trading.fix_gateway.FixOrderGateway` implements the protocol over a FIX session
(NewOrderSingle 35=D, 35=F, 35=G out; 35=8 and 35=9 in); the backtest's simulated venues
(`calarb.backtest.simulated_venue`) implement it in-process.
"""

from __future__ import annotations

from typing import Protocol

from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    VenueOrder,
)


class OrderGateway(Protocol):
    """Order entry to one venue. Sends only; answers arrive on the `ExecutionSink`."""

    def send_new_order(self, order: VenueOrder, now_ns: int) -> None: ...

    def send_cancel(self, request: CancelRequest, now_ns: int) -> None: ...

    def send_replace(self, request: ReplaceRequest, now_ns: int) -> None: ...


class ExecutionSink(Protocol):
    """Where a gateway delivers what the venue answered (the engine)."""

    def on_execution_report(self, report: ExecutionReport, now_ns: int | None = None) -> None: ...

    def on_cancel_reject(self, reject: CancelReject, now_ns: int | None = None) -> None: ...
