"""calarb.venue: the exchange simulator.

`matching` is the matching engine (sans-I/O, clock-free), `orders` the records it emits,
`synthetic` the seeded background market (imported on its own: it needs NumPy), `benchmark`
the `calarb bench matching` command.
"""

from __future__ import annotations

from calarb.core.lazy import lazy_exports

_PUBLIC_NAMES = {
    "CancelReject": "calarb.core.order_events",
    "ExecutionReport": "calarb.core.order_events",
    "OrderEvent": "calarb.core.order_events",
    "CancelRejectResponseTo": "calarb.core.orders",
    "ExecType": "calarb.core.orders",
    "MatchingEngine": "calarb.venue.matching",
    "BookEvent": "calarb.venue.orders",
    "CancelReason": "calarb.venue.orders",
    "Execution": "calarb.venue.orders",
    "OrderAdded": "calarb.venue.orders",
    "OrderCancelled": "calarb.venue.orders",
    "OrderDeleted": "calarb.venue.orders",
    "OrderReplaced": "calarb.venue.orders",
    "OrderState": "calarb.venue.orders",
    "OrdStatus": "calarb.venue.orders",
    "OrdType": "calarb.venue.orders",
    "RejectReason": "calarb.venue.orders",
    "SelfMatchPolicy": "calarb.venue.orders",
    "TimeInForce": "calarb.venue.orders",
    "TradingStatus": "calarb.venue.orders",
}
"""Public name -> its module, imported on first use, so that `calarb venue --help` loads no
matching engine."""

__all__ = sorted(_PUBLIC_NAMES)


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC_NAMES)
