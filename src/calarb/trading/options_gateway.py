"""The options strategy's FIX order gateway: option orders as NewOrderSingle with the option
instrument block (`calarb.fix.messages.options`), hedges as plain equity NewOrderSingle,
ExecutionReports back as core order events. Sans-I/O over a `FixSession`: the caller's
transport flushes (`flush`) and feeds the session its bytes.

(The pairs `FixOrderGateway` is compiled and writes equity orders only; an option order
needs the extra instrument fields, hence this small gateway for the options strategy.)
"""

from __future__ import annotations

from collections.abc import Callable

from calarb.core.clock import Clock
from calarb.core.option_contract import OptionContract
from calarb.core.order_events import ExecutionReport
from calarb.core.types import Side
from calarb.fix.codec import FixMessage
from calarb.fix.errors import MessageRejected
from calarb.fix.messages import NewOrderSingle, decode_execution_report, order_event, to_body
from calarb.fix.messages.options import encode_option_order, option_order
from calarb.fix.session import FixSession

IOC = "3"


class OptionsFixGateway:
    def __init__(
        self, venue: str, session: FixSession, flush: Callable[[], None], clock: Clock,
        on_report: Callable[[ExecutionReport], None],
    ) -> None:  # fmt: skip
        self.venue = venue
        self.session = session
        self.flush = flush
        self.clock = clock
        self.on_report = on_report
        self.contracts: dict[str, OptionContract] = {}
        self.sent = 0
        self.reports = 0
        self.errors: list[str] = []

    def send_order(
        self, cl_ord_id: str, symbol: str, side: Side, quantity: int, price: int
    ) -> None:
        """An IOC limit order: on an option (listed in `contracts`) or the underlying."""
        clock = self.clock
        wall = clock.wall_ns()
        contract = self.contracts.get(symbol)
        if contract is not None:
            body = encode_option_order(
                option_order(cl_ord_id, contract, side, quantity, price, wall, IOC)
            )
        else:
            body = to_body(NewOrderSingle(cl_ord_id, symbol, side, quantity, "2", wall, price, IOC))
        self.session.send_body(b"D", body, clock.monotonic_ns(), wall)
        self.sent += 1
        self.flush()

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        """The session's application callback: ExecutionReports to core events."""
        if message.msg_type != b"8":
            return
        try:
            report = order_event(decode_execution_report(message), self.venue)
        except (ValueError, MessageRejected) as exc:  # name it, keep the session going
            self.errors.append(f"{self.venue}: ExecutionReport refused: {exc}")
            return
        self.reports += 1
        self.on_report(report)
