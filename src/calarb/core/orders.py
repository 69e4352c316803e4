"""The order vocabulary every layer shares: FIX 4.4 codes as enums.

The venue's matching engine, the trading core (OMS, risk) and the FIX layer all speak of
order types, time in force, execution types and order statuses; the enum values are the
FIX codes of tags 40, 59, 150, 39, 434 and 851, so mapping to and from the wire is a lookup.
"""

from __future__ import annotations

import enum


class OrdType(enum.StrEnum):
    """FIX OrdType (40)."""

    MARKET = "1"
    LIMIT = "2"


class TimeInForce(enum.StrEnum):
    """FIX TimeInForce (59)."""

    DAY = "0"
    IOC = "3"
    FOK = "4"


class ExecType(enum.StrEnum):
    """FIX ExecType (150), FIX 4.4 codes."""

    NEW = "0"
    DONE_FOR_DAY = "3"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"
    TRADE = "F"
    ORDER_STATUS = "I"


class OrdStatus(enum.StrEnum):
    """FIX OrdStatus (39)."""

    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    DONE_FOR_DAY = "3"
    CANCELED = "4"
    REPLACED = "5"  # FIX 4.2 only; treated like the order's live status
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"


TERMINAL_STATUSES = frozenset(
    {
        OrdStatus.FILLED,
        OrdStatus.DONE_FOR_DAY,
        OrdStatus.CANCELED,
        OrdStatus.REJECTED,
        OrdStatus.EXPIRED,
    }
)
"""Statuses after which an order can no longer trade."""


class CancelRejectResponseTo(enum.StrEnum):
    """FIX CxlRejResponseTo (434)."""

    CANCEL = "1"
    REPLACE = "2"


class Liquidity(enum.StrEnum):
    """FIX LastLiquidityInd (851): whether a fill added or removed liquidity."""

    UNKNOWN = ""
    ADDED = "1"
    REMOVED = "2"


class OrderPurpose(enum.StrEnum):
    """Why an order is sent. The engine and reports tell orders apart by this, never by the
    text of their ClOrdIDs. The strategy's purposes are its transitions
    (`calarb.trading.strategy.Transition`); the risk gate's close positions."""

    MANUAL = "manual"  # none of the below: an operator, a test, a caller of the OMS
    ENTRY = "entry"  # a pair's entry, its legging repairs (reprice, hedge) included
    EXIT = "exit"  # a pair's exit: exit signal, stop, maximum holding time
    UNWIND = "unwind"  # a pair gives back an entry that legged or was abandoned
    FLATTEN = "flatten"  # the kill switch closes every position
    DELEVERAGE = "deleverage"  # positions back inside post-trade limits (`deleveraging_intents`)
