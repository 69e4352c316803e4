"""Venue book events of option symbols -> ITTO 4.0 messages (sans-I/O).

The options counterpart of `ItchPublisher` (whose checks, clock and tracking numbers it
inherits): options are listed under their OCC symbols on the `MatchingEngine`, and each gets
an ITTO Option ID (1, 2, ... in listing order) announced by an Options Directory message.

=================  ==================================================================
OrderAdded         A (Add Order, long form)
Execution          E (Single Side Executed) on a displayed resting order, else P
                   (Options Trade, non-auction)
OrderCancelled     X (Order Cancel)
OrderDeleted       D (Single Side Delete)
OrderReplaced      U (Single Side Replace, long form)
TradingStatus      H (Trading Action): 'H' halted, 'T' trading
=================  ==================================================================

The day is framed by `start_of_day` (S 'O', an R and an H per option, S 'S', S 'Q', then an
O 'Y' per option) and `end_of_day` (S 'N', S 'E', S 'C'). Long forms are used throughout:
their Price(4) is calarb's own scale. `VenueMarketData` publishes it over MoldUDP64 exactly
as it does ITCH 5.0 (pass it as `publisher`).
"""

from __future__ import annotations

from collections.abc import Iterable

from calarb.core.option_contract import OptionContract, parse_occ_symbol
from calarb.itch.options_codec import OPTIONS_ENCODERS
from calarb.itch.options_messages import (
    AddOrderLong,
    OptionsDirectory,
    OptionsTrade,
    OrderCancel,
    SecurityOpen,
    SingleSideDelete,
    SingleSideExecuted,
    SingleSideReplaceLong,
    SystemEvent,
    TradingAction,
)
from calarb.itch.options_spec import (
    END_OF_MESSAGES,
    END_OF_NORMAL_HOURS,
    END_OF_SYSTEM_HOURS,
    START_OF_MESSAGES,
    START_OF_OPENING_PROCESS,
    START_OF_SYSTEM_HOURS,
)
from calarb.venue.itch_publisher import ItchPublisher, ItchPublishError
from calarb.venue.orders import (
    BookEvent,
    Execution,
    OrderAdded,
    OrderCancelled,
    OrderDeleted,
    OrderReplaced,
    TradingStatus,
)

ROOT_LENGTH = 6
UNDERLYING_LENGTH = 13
SOURCE = 1  # the Source field of the Options Directory


class OptionsItchPublisher(ItchPublisher):
    """Turns the book events of option symbols into ITTO 4.0 messages for one day.

    `symbols`: the OCC symbols to publish, in Option ID order; `underlying`: the name put in
    the directory's Underlying Symbol field (defaults to each contract's root).
    """

    ENCODERS = OPTIONS_ENCODERS

    def __init__(
        self, symbols: Iterable[str], *, midnight_ns: int = 0, underlying: str = ""
    ) -> None:
        self.midnight_ns = midnight_ns
        self.messages_built = 0
        self.contracts: dict[str, OptionContract] = {}
        self.option_ids: dict[str, int] = {}
        for symbol in symbols:
            try:
                contract = parse_occ_symbol(symbol)
            except ValueError as exc:
                raise ItchPublishError(f"cannot list {symbol!r} on ITTO: {exc}") from None
            if symbol in self.option_ids:
                raise ItchPublishError(f"option {symbol!r} is listed twice")
            if not 2000 <= contract.expiry.year <= 2255:
                raise ItchPublishError(f"{symbol}: expiry year does not fit ITTO's 1-byte year")
            self.contracts[symbol] = contract
            self.option_ids[symbol] = len(self.option_ids) + 1
        if len(underlying) > UNDERLYING_LENGTH:
            raise ItchPublishError(f"underlying {underlying!r} is longer than 13 characters")
        self.underlying = underlying
        # ItchPublisher's attributes that its helpers read
        self.locates = self.option_ids
        self.mpids = {}

    def carries(self, symbol: str) -> bool:
        return symbol in self.option_ids

    def start_of_day(self, timestamp_ns: int, halted: Iterable[str] = ()) -> list:
        halted = set(halted)
        unknown = halted - self.option_ids.keys()
        if unknown:
            raise ItchPublishError(f"halted option(s) {sorted(unknown)} are not listed")
        clock = self._clock(timestamp_ns, "start of day")
        messages: list = [self._system_event(clock, START_OF_MESSAGES)]
        for symbol, option_id in self.option_ids.items():
            c = self.contracts[symbol]
            messages.append(
                OptionsDirectory(
                    self._track(), clock, option_id, c.underlying, c.expiry.year - 2000,
                    c.expiry.month, c.expiry.day, c.strike, c.right, SOURCE,
                    self.underlying or c.underlying,
                    "N",  # closing type: normal
                    "Y",  # tradable
                    "E",  # minimum price variation: penny everywhere
                )
            )  # fmt: skip
        for symbol, option_id in self.option_ids.items():
            state = "H" if symbol in halted else "T"
            messages.append(TradingAction(self._track(), clock, option_id, state))
        messages.append(self._system_event(clock, START_OF_SYSTEM_HOURS))
        messages.append(self._system_event(clock, START_OF_OPENING_PROCESS))
        for option_id in self.option_ids.values():
            messages.append(SecurityOpen(self._track(), clock, option_id, "Y"))
        return messages

    def end_of_day(self, timestamp_ns: int) -> list:
        clock = self._clock(timestamp_ns, "end of day")
        return [
            self._system_event(clock, code)
            for code in (END_OF_NORMAL_HOURS, END_OF_SYSTEM_HOURS, END_OF_MESSAGES)
        ]

    def message_for(self, event: BookEvent):
        kind = type(event)
        option_id = self.option_ids.get(getattr(event, "symbol", None))
        if option_id is None:
            raise ItchPublishError(f"{event!r}: symbol is not an option listed on this feed")
        clock = self._clock(event.timestamp_ns, event)
        if kind is OrderAdded:
            self._check_shares(event.shares, event, "contracts")
            self._check_price(event.price, event)
            return AddOrderLong(
                self._track(),
                clock,
                event.order_id,
                event.side.code,
                option_id,
                event.price,
                event.shares,
            )
        if kind is Execution:
            self._check_shares(event.shares, event, "contracts")
            if event.resting_displayed:
                return SingleSideExecuted(
                    self._track(),
                    clock,
                    event.resting_order_id,
                    event.shares,
                    0,
                    event.match_number,
                )
            self._check_price(event.price, event)
            return OptionsTrade(
                self._track(), clock, event.aggressor_side.opposite.code, option_id, 0,
                event.match_number, event.price, event.shares,
            )  # fmt: skip
        if kind is OrderCancelled:
            self._check_shares(event.cancelled_shares, event, "cancelled_contracts")
            return OrderCancel(self._track(), clock, event.order_id, event.cancelled_shares)
        if kind is OrderDeleted:
            return SingleSideDelete(self._track(), clock, event.order_id)
        if kind is OrderReplaced:
            self._check_shares(event.shares, event, "contracts")
            self._check_price(event.price, event)
            return SingleSideReplaceLong(
                self._track(),
                clock,
                event.original_order_id,
                event.new_order_id,
                event.price,
                event.shares,
            )
        if kind is TradingStatus:
            return TradingAction(self._track(), clock, option_id, "H" if event.halted else "T")
        raise ItchPublishError(f"{event!r} is not a venue book event")

    def encode(self, events: Iterable[BookEvent]) -> list[bytes]:
        """The ITTO bytes (no length prefix: MoldUDP64 message blocks) of each event."""
        encoders = OPTIONS_ENCODERS
        out = []
        for event in events:
            message = self.message_for(event)
            out.append(encoders[message.message_type](message))
        return out

    def _system_event(self, clock: int, code: str):
        return SystemEvent(self._track(), clock, code)


def split_events(
    events: Iterable[BookEvent], publisher: OptionsItchPublisher
) -> tuple[list[BookEvent], list[BookEvent]]:
    """(events of the options this publisher carries, the others: the underlying's, for the
    venue's ITCH 5.0 feed), each in their original order."""
    options: list[BookEvent] = []
    others: list[BookEvent] = []
    carried = publisher.option_ids
    for event in events:
        (options if event.symbol in carried else others).append(event)
    return options, others
