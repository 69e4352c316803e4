"""The pairs strategy's vocabulary: its parameters (`PairStrategyConfig` and its choices),
the transitions a pair goes through, the actions it returns (`CancelOrder`, `OrderIntent`) and
its per-pair counters. The decisions themselves are in `calarb.trading.strategy`, whose
docstring explains every parameter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

from calarb.model.signal import SignalRules
from calarb.trading.orders import OrderIntent, OrderPurpose


class Sizing(enum.StrEnum):
    SHARES = "shares"
    NOTIONAL = "notional"


class OrderStyle(enum.StrEnum):
    LIMIT = "limit"
    IOC = "ioc"


class PriceReference(enum.StrEnum):
    FAR = "far"
    NEAR = "near"


class LeggingAction(enum.StrEnum):
    REPRICE = "reprice"
    HEDGE = "hedge"
    UNWIND = "unwind"


class Transition(enum.StrEnum):
    """A pair's move between positions; its orders carry it as their `OrderPurpose`."""

    ENTRY = "entry"
    EXIT = "exit"
    UNWIND = "unwind"


_PURPOSE_OF = {transition: OrderPurpose(transition.value) for transition in Transition}


@dataclass(frozen=True)
class PairStrategyConfig:
    """Trading parameters of one pair (times in ns, prices in 1/10,000 units)."""

    leg_a: str
    leg_b: str
    rules: SignalRules = field(default_factory=SignalRules)
    sizing: Sizing = Sizing.SHARES
    size: int = 100
    order_style: OrderStyle = OrderStyle.IOC
    price_reference: PriceReference = PriceReference.FAR
    limit_offset_ticks: int = 0
    hedge_offset_ticks: int = 2
    tick_size: int = 100
    lot_size: int = 1
    cooldown_ns: int = 0
    leg_timeout_ns: int = 1_000_000_000
    legging_action: LeggingAction = LeggingAction.HEDGE
    max_reprices: int = 2
    min_observations: int = 0

    def __post_init__(self) -> None:
        where = f"pair {self.leg_a}/{self.leg_b}"
        if self.leg_a == self.leg_b:
            raise ValueError(f"{where}: the legs must differ")
        if self.size <= 0 or self.tick_size <= 0 or self.lot_size <= 0:
            raise ValueError(f"{where}: size, tick_size and lot_size must be positive")
        if self.cooldown_ns < 0 or self.leg_timeout_ns <= 0 or self.max_reprices < 0:
            raise ValueError(f"{where}: cooldown >= 0, leg_timeout > 0, max_reprices >= 0")
        for name, kind in (
            ("sizing", Sizing),
            ("order_style", OrderStyle),
            ("price_reference", PriceReference),
            ("legging_action", LeggingAction),
        ):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                choices = [member.value for member in kind]
                raise ValueError(f"{where}: {name} {value!r} is not one of {choices}") from None

    @property
    def name(self) -> str:
        return f"{self.leg_a}/{self.leg_b}"


class CancelOrder(NamedTuple):
    """Cancel every open child of a parent order."""

    parent_id: str
    reason: str


StrategyAction = OrderIntent | CancelOrder


class PairCounters:
    __slots__ = (
        "signals",
        "entries",
        "exits",
        "stops",
        "entries_abandoned",
        "entries_skipped",
        "legging_events",
        "reprices",
        "hedges",
        "unwinds",
        "retries",
        "orders",
        "fills",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


IDLE_FOREVER = 1 << 62
"""`timer_idle_until` when no time alone can make the timer act."""
