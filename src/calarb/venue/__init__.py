"""calarb.venue: the exchange simulator.

`matching` is the matching engine (sans-I/O, clock-free), `orders` the records it emits,
`synthetic` the seeded background market (imported on its own: it needs NumPy), `benchmark`
the `calarb bench matching` command.
"""

from __future__ import annotations

import importlib

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


def __getattr__(name: str):
    module = _PUBLIC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC_NAMES])
