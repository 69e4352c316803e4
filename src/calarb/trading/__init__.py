"""The trading core: risk gate, router, OMS, portfolio, journal and VaR (sans-I/O).

Nothing here opens a socket or reads a clock: times come in as int nanoseconds, and the
engine wires the pieces with direct method calls (see docs/trading.md).
"""

from calarb.core.order_events import (
    CancelReject,
    CancelRequest,
    ExecutionReport,
    ReplaceRequest,
    StatusRequest,
    VenueOrder,
)
from calarb.core.orders import ExecType
from calarb.trading.journal import FsyncPolicy, Journal, JournalCorruptError, read_journal
from calarb.trading.oms import OrderManager
from calarb.trading.orders import (
    Liquidity,
    OrderIntent,
    OrderRecord,
    OrdStatus,
    OrdType,
    TimeInForce,
    VenueFees,
)
from calarb.trading.portfolio import Portfolio
from calarb.trading.reconcile import reconcile
from calarb.trading.risk import (
    RiskGate,
    RiskLimits,
    RiskReason,
    deleveraging_intents,
    engage_kill_switch,
)
from calarb.trading.router import RouteDecision, Router
from calarb.trading.var import VarReport, portfolio_var

__all__ = [
    "CancelReject",
    "CancelRequest",
    "ExecutionReport",
    "ExecType",
    "FsyncPolicy",
    "Journal",
    "JournalCorruptError",
    "Liquidity",
    "OrdStatus",
    "OrdType",
    "OrderIntent",
    "OrderManager",
    "OrderRecord",
    "Portfolio",
    "ReplaceRequest",
    "RiskGate",
    "RiskLimits",
    "RiskReason",
    "RouteDecision",
    "Router",
    "StatusRequest",
    "TimeInForce",
    "VarReport",
    "VenueFees",
    "VenueOrder",
    "deleveraging_intents",
    "engage_kill_switch",
    "portfolio_var",
    "read_journal",
    "reconcile",
]
