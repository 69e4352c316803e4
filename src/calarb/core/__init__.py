"""Value types, events and clocks shared by every layer of calarb."""

from calarb.core.clock import Clock, LiveClock, SimulatedClock
from calarb.core.events import BookLevel, TopOfBook, TradeEvent
from calarb.core.types import (
    PRICE_SCALE,
    Instrument,
    Side,
    format_price,
    price_from_float,
    price_from_str,
    price_to_float,
)

__all__ = [
    "PRICE_SCALE",
    "BookLevel",
    "Clock",
    "Instrument",
    "LiveClock",
    "Side",
    "SimulatedClock",
    "TopOfBook",
    "TradeEvent",
    "format_price",
    "price_from_float",
    "price_from_str",
    "price_to_float",
]
