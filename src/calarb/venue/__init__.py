"""calarb.venue: the exchange simulator.

`matching` is the matching engine (sans-I/O, clock-free), `orders` the records it emits,
`synthetic` the seeded background market (imported on its own: it needs NumPy), `benchmark`
the `calarb bench matching` command.
"""

from calarb.core.order_events import CancelReject, ExecutionReport, OrderEvent
from calarb.core.orders import CancelRejectResponseTo, ExecType
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import (
    BookEvent,
    CancelReason,
    Execution,
    OrderAdded,
    OrderCancelled,
    OrderDeleted,
    OrderReplaced,
    OrderState,
    OrdStatus,
    OrdType,
    RejectReason,
    SelfMatchPolicy,
    TimeInForce,
    TradingStatus,
)

__all__ = [
    "BookEvent",
    "CancelReason",
    "CancelReject",
    "CancelRejectResponseTo",
    "ExecType",
    "Execution",
    "ExecutionReport",
    "MatchingEngine",
    "OrderAdded",
    "OrderCancelled",
    "OrderDeleted",
    "OrderEvent",
    "OrderReplaced",
    "OrderState",
    "OrdStatus",
    "OrdType",
    "RejectReason",
    "SelfMatchPolicy",
    "TimeInForce",
    "TradingStatus",
]
