"""The venue gateway's state and codes: participants, counters, FIX reject codes, settings.

Split from `calarb.venue.gateway` (which re-exports these names): what the gateway keeps per
participant (`ParticipantState`), its counters (`GatewayStats`), the FIX OrdRejReason (103)
and CxlRejReason (102) codes with the maps from the venue's reasons, and the acceptor's
session settings (`acceptor_settings`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from calarb.core.order_events import ExecutionReport
from calarb.fix.config import SessionSettings
from calarb.fix.session import FixSession
from calarb.venue.config import ParticipantConfig, ParticipantLimits
from calarb.venue.orders import CancelReason, RejectReason

BEGIN_STRING = "FIX.4.4"


class GatewayRejectReason(enum.Enum):
    """Why the gateway refused a request before it reached the engine."""

    DUPLICATE_CLORDID = "duplicate ClOrdID"
    LIMIT = "participant limit"
    UNSUPPORTED = "unsupported side, order type or time in force"
    MISMATCH = "symbol or side differs from the order's"
    TOO_LATE = "order is no longer live"
    UNKNOWN_ORDER = "unknown order"


class OrdRejReason(enum.IntEnum):
    """FIX OrdRejReason (103), the codes used here."""

    BROKER_OPTION = 0
    UNKNOWN_SYMBOL = 1
    EXCHANGE_CLOSED = 2
    ORDER_EXCEEDS_LIMIT = 3
    TOO_LATE_TO_ENTER = 4
    UNKNOWN_ORDER = 5
    DUPLICATE_ORDER = 6
    UNSUPPORTED_ORDER_CHARACTERISTIC = 11
    INCORRECT_QUANTITY = 13
    OTHER = 99  # FIX 4.4 has no "invalid price increment" (18 came with FIX 5.0)


class CxlRejReason(enum.IntEnum):
    """FIX CxlRejReason (102), the codes used here."""

    TOO_LATE_TO_CANCEL = 0
    UNKNOWN_ORDER = 1
    BROKER_OPTION = 2
    DUPLICATE_CLORDID = 6
    OTHER = 99


AnyReason = RejectReason | GatewayRejectReason | CancelReason

ORD_REJ_REASON: dict[AnyReason, OrdRejReason] = {
    RejectReason.UNKNOWN_SYMBOL: OrdRejReason.UNKNOWN_SYMBOL,
    RejectReason.BAD_PRICE: OrdRejReason.OTHER,
    RejectReason.BAD_QUANTITY: OrdRejReason.INCORRECT_QUANTITY,
    RejectReason.HALTED: OrdRejReason.EXCHANGE_CLOSED,
    RejectReason.BAD_ORDER: OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
    RejectReason.UNKNOWN_ORDER: OrdRejReason.UNKNOWN_ORDER,
    RejectReason.TOO_LATE: OrdRejReason.TOO_LATE_TO_ENTER,
    GatewayRejectReason.DUPLICATE_CLORDID: OrdRejReason.DUPLICATE_ORDER,
    GatewayRejectReason.LIMIT: OrdRejReason.ORDER_EXCEEDS_LIMIT,
    GatewayRejectReason.UNSUPPORTED: OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
    GatewayRejectReason.UNKNOWN_ORDER: OrdRejReason.UNKNOWN_ORDER,
}
CXL_REJ_REASON: dict[AnyReason, CxlRejReason] = {
    RejectReason.UNKNOWN_ORDER: CxlRejReason.UNKNOWN_ORDER,
    RejectReason.TOO_LATE: CxlRejReason.TOO_LATE_TO_CANCEL,
    GatewayRejectReason.TOO_LATE: CxlRejReason.TOO_LATE_TO_CANCEL,
    GatewayRejectReason.UNKNOWN_ORDER: CxlRejReason.UNKNOWN_ORDER,
    GatewayRejectReason.DUPLICATE_CLORDID: CxlRejReason.DUPLICATE_CLORDID,
    RejectReason.HALTED: CxlRejReason.BROKER_OPTION,
    GatewayRejectReason.LIMIT: CxlRejReason.BROKER_OPTION,
}


# --- participants ---------------------------------------------------------------------------


class ParticipantState:
    """What the gateway knows of one participant: its session, its orders by ClOrdID."""

    __slots__ = ("config", "session", "live", "last_report", "successor", "cl_ord_ids", "held")

    def __init__(self, config: ParticipantConfig) -> None:
        self.config = config
        self.session: FixSession | None = None
        self.live: dict[str, int] = {}
        """ClOrdID -> venue order id, for orders on the book (or being entered)."""
        self.last_report: dict[str, ExecutionReport] = {}
        """ClOrdID -> the latest report that carried it."""
        self.successor: dict[str, str] = {}
        """ClOrdID -> the ClOrdID that replaced or cancelled it (the order's chain)."""
        self.cl_ord_ids: set[str] = set()
        """Every ClOrdID this participant used today (duplicate detection)."""
        self.held: list[tuple[bytes, bytes]] = []
        """(MsgType, body) waiting for the next Logon."""

    @property
    def comp_id(self) -> str:
        return self.config.comp_id

    def latest_report(self, cl_ord_id: str) -> ExecutionReport | None:
        """The order's latest report, given any ClOrdID it has had."""
        successor = self.successor
        while cl_ord_id in successor:
            cl_ord_id = successor[cl_ord_id]
        return self.last_report.get(cl_ord_id)

    @property
    def limits(self) -> ParticipantLimits:
        return self.config.limits

    @property
    def logged_on(self) -> bool:
        return self.session is not None and self.session.logged_on


class GatewayStats:
    __slots__ = ("requests", "rejects", "cancel_rejects", "reports_sent", "reports_held")

    def __init__(self) -> None:
        self.requests = 0
        self.rejects = 0
        self.cancel_rejects = 0
        self.reports_sent = 0
        self.reports_held = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


def acceptor_settings(
    venue_comp_id: str,
    participants: Iterable[ParticipantConfig],
    port: int,
    store_dir: str | None = None,
) -> list[SessionSettings]:
    """FIX acceptor settings: one FIX 4.4 session per participant on `port`."""
    return [
        SessionSettings(
            begin_string=BEGIN_STRING,
            sender_comp_id=venue_comp_id,
            target_comp_id=participant.comp_id,
            connection_type="acceptor",
            heartbeat_interval_s=participant.heartbeat_interval_s,
            port=port,
            reset_on_logon=participant.reset_on_logon,
            file_store_path=store_dir,
        )
        for participant in participants
    ]
