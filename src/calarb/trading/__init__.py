"""The trading core: risk gate, router, OMS, portfolio, journal and VaR (sans-I/O).

Nothing here opens a socket or reads a clock: times come in as int nanoseconds, and the
engine wires the pieces with direct method calls (see docs/trading.md).
"""

from __future__ import annotations

from calarb.core.lazy import lazy_exports

_PUBLIC_NAMES = {
    "CancelReject": "calarb.core.order_events",
    "CancelRequest": "calarb.core.order_events",
    "ExecutionReport": "calarb.core.order_events",
    "ReplaceRequest": "calarb.core.order_events",
    "StatusRequest": "calarb.core.order_events",
    "VenueOrder": "calarb.core.order_events",
    "ExecType": "calarb.core.orders",
    "FsyncPolicy": "calarb.trading.journal",
    "Journal": "calarb.trading.journal",
    "JournalCorruptError": "calarb.trading.journal",
    "read_journal": "calarb.trading.journal",
    "OrderManager": "calarb.trading.oms",
    "Liquidity": "calarb.trading.orders",
    "OrderIntent": "calarb.trading.orders",
    "OrderRecord": "calarb.trading.orders",
    "OrdStatus": "calarb.trading.orders",
    "OrdType": "calarb.trading.orders",
    "TimeInForce": "calarb.trading.orders",
    "VenueFees": "calarb.trading.orders",
    "Portfolio": "calarb.trading.portfolio",
    "RiskGate": "calarb.trading.risk",
    "RiskLimits": "calarb.trading.risk",
    "RiskReason": "calarb.trading.risk",
    "deleveraging_intents": "calarb.trading.risk",
    "engage_kill_switch": "calarb.trading.risk",
    "RouteDecision": "calarb.trading.router",
    "Router": "calarb.trading.router",
    "VarReport": "calarb.trading.var",
    "portfolio_var": "calarb.trading.var",
}
"""Public name -> its module, imported on first use, so that `calarb run --help` (which
imports `calarb.trading.commands`) loads neither NumPy (`var`) nor the engine. (`reconcile` is not among them: the name is its
submodule's, `calarb.trading.reconcile.reconcile`.)"""

__all__ = sorted(_PUBLIC_NAMES)


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC_NAMES)
