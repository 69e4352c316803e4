"""Venue book events -> ITCH 5.0 messages (sans-I/O: records in, messages and bytes out).

One `BookEvent` of the matching engine becomes exactly one ITCH message:

=================  ==================================================================
OrderAdded         A (Add Order), or F with the participant's MPID when it has one
Execution          E (Order Executed) on the displayed resting order; P (Trade,
                   non-cross) when the resting order is non-displayed: reference 0
                   (a hidden order's reference is not disclosed), side of the resting
                   order, price and match number
OrderCancelled     X (Order Cancel)
OrderDeleted       D (Order Delete)
OrderReplaced      U (Order Replace)
TradingStatus      H (Stock Trading Action): state 'H' halted, 'T' trading
=================  ==================================================================

C (executed with price) is never needed: the engine always trades at the resting order's
price. The session frame is `start_of_day` (S 'O', an R and an H per symbol, S 'S', S 'Q')
and `end_of_day` (S 'M', S 'E', S 'C').

Timestamps are the event times minus `midnight_ns` (ITCH counts nanoseconds since
midnight); tracking numbers count the messages this publisher produced, modulo 2**16.
Symbols without a locate code (0) get the lowest free ones in listing order. Values that do
not fit ITCH fields (shares and Price(4) are 4-byte unsigned, a timestamp must fall within
the day, a symbol has 8 characters) raise `ItchPublishError` naming the event and field;
the venue should refuse such orders at its gateway (see `MAX_SHARES`, `MAX_PRICE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from calarb.book.order_book import OrderBook
from calarb.core.types import Instrument, Side, format_price
from calarb.itch.codec import ENCODERS
from calarb.itch.errors import ItchEncodeError
from calarb.itch.messages import (
    AddOrder,
    AddOrderMpid,
    ItchMessage,
    OrderCancel,
    OrderDelete,
    OrderExecuted,
    OrderReplace,
    StockDirectory,
    StockTradingAction,
    SystemEvent,
    Trade,
)
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import (
    BookEvent,
    Execution,
    OrderAdded,
    OrderCancelled,
    OrderDeleted,
    OrderReplaced,
    TradingStatus,
)

NS_PER_DAY = 86_400 * 1_000_000_000
MAX_SHARES = 2**32 - 1
"""Largest share count an ITCH 4-byte Shares field holds."""
MAX_PRICE = 2**32 - 1
"""Largest Price(4) ITCH carries: 429,496.7295 in integer 1/10,000 units."""
MAX_LOCATE = 2**16 - 1
SYMBOL_LENGTH = 8
MPID_LENGTH = 4
REASON_LENGTH = 4

# System event codes (ITCH 5.0, 1.1).
START_OF_MESSAGES = "O"
START_OF_SYSTEM_HOURS = "S"
START_OF_MARKET_HOURS = "Q"
END_OF_MARKET_HOURS = "M"
END_OF_SYSTEM_HOURS = "E"
END_OF_MESSAGES = "C"

HALTED = "H"
TRADING = "T"

_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


class ItchPublishError(ItchEncodeError):
    """A venue event (or set-up value) that ITCH 5.0 cannot carry."""


def midnight_utc_ns(epoch_ns: int) -> int:
    """The UTC midnight at or before `epoch_ns` (for a venue whose events carry wall time)."""
    return epoch_ns - epoch_ns % NS_PER_DAY


def assign_locates(instruments: Iterable[Instrument]) -> dict[str, int]:
    """Symbol -> stock locate code: an instrument's own code when it has one (non-zero), else
    the lowest code not yet taken, in listing order. Duplicates and bad symbols raise."""
    listed = list(instruments)
    locates: dict[str, int] = {}
    taken: dict[int, str] = {}
    for instrument in listed:
        symbol = instrument.symbol
        if not symbol or len(symbol) > SYMBOL_LENGTH or not symbol.isascii():
            raise ItchPublishError(
                f"symbol {symbol!r} does not fit ITCH's {SYMBOL_LENGTH}-character ASCII Stock field"
            )
        if symbol in locates:
            raise ItchPublishError(f"symbol {symbol!r} is listed twice")
        locates[symbol] = instrument.locate
        if instrument.locate:
            if not 0 < instrument.locate <= MAX_LOCATE:
                raise ItchPublishError(
                    f"{symbol}: locate code {instrument.locate} is outside 1..{MAX_LOCATE}"
                )
            other = taken.setdefault(instrument.locate, symbol)
            if other != symbol:
                raise ItchPublishError(
                    f"locate code {instrument.locate} is given to both {other} and {symbol}"
                )
    candidate = 1
    for symbol, locate in locates.items():
        if locate:
            continue
        while candidate in taken:
            candidate += 1
        if candidate > MAX_LOCATE:
            raise ItchPublishError(f"more than {MAX_LOCATE} symbols: no locate code left")
        locates[symbol] = candidate
        taken[candidate] = symbol
    return locates


class ItchPublisher:
    """Turns a venue's book events into ITCH 5.0 messages for one trading day.

    `ENCODERS` (type letter -> encode) is the feed's codec: `VenueMarketData` encodes with
    its publisher's, so another ITCH-family feed (ITTO, `OptionsItchPublisher`) rides the
    same MoldUDP64 service.

    `instruments`: the venue's listings (`MatchingEngine.instruments` or a list).
    `midnight_ns`: the midnight of the trading day on the event clock (0 when event times
    already count from midnight, as in a synthetic market starting at 0; `midnight_utc_ns`
    for wall-clock times). `mpids`: participant -> MPID (up to 4 characters); adds by those
    participants are published as F with that attribution, all others as A.
    `market_category`: the Stock Directory's Market Category letter.
    """

    ENCODERS = ENCODERS

    def __init__(
        self,
        instruments: Iterable[Instrument] | Mapping[str, Instrument],
        *,
        midnight_ns: int = 0,
        mpids: Mapping[str, str] | None = None,
        market_category: str = "Q",
    ) -> None:
        listed = list(instruments.values() if isinstance(instruments, Mapping) else instruments)
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in listed}
        self.locates: dict[str, int] = assign_locates(listed)
        """Symbol -> stock locate code used on the feed."""
        self.midnight_ns = midnight_ns
        self.market_category = market_category
        self.mpids: dict[str, str] = dict(mpids or {})
        for participant, mpid in self.mpids.items():
            if not mpid or len(mpid) > MPID_LENGTH or not mpid.isascii():
                raise ItchPublishError(
                    f"participant {participant!r}: MPID {mpid!r} is not 1-{MPID_LENGTH} ASCII "
                    "characters"
                )
        self.messages_built = 0
        """Messages produced so far (the last tracking number is this modulo 2**16)."""

    # --- session frame -----------------------------------------------------------------------

    def start_of_day(self, timestamp_ns: int, halted: Iterable[str] = ()) -> list[ItchMessage]:
        """Start of messages, the stock directory, each symbol's trading state (halted for
        the symbols in `halted`), start of system hours, start of market hours."""
        halted = set(halted)
        unknown = halted - self.locates.keys()
        if unknown:
            raise ItchPublishError(f"halted symbol(s) {sorted(unknown)} are not listed")
        clock = self._clock(timestamp_ns, "start of day")
        messages: list[ItchMessage] = [self._system_event(clock, START_OF_MESSAGES)]
        for symbol, locate in self.locates.items():
            messages.append(
                StockDirectory(
                    locate, self._track(), clock, symbol, self.market_category,
                    "N",  # financial status: normal
                    self.instruments[symbol].round_lot,
                    "N",  # round lots only: no (any lot multiple trades)
                    "C",  # issue classification: common stock
                    "Z",  # issue sub-type: not applicable
                    "P",  # authenticity: live/production
                    "N",  # short sale threshold: not restricted
                    "N",  # IPO flag
                    " ",  # LULD reference price tier: not available
                    "N",  # ETP flag
                    0,  # ETP leverage factor
                    "N",  # inverse indicator
                )
            )  # fmt: skip
        for symbol, locate in self.locates.items():
            state = HALTED if symbol in halted else TRADING
            messages.append(
                StockTradingAction(locate, self._track(), clock, symbol, state, " ", "")
            )
        messages.append(self._system_event(clock, START_OF_SYSTEM_HOURS))
        messages.append(self._system_event(clock, START_OF_MARKET_HOURS))
        return messages

    def end_of_day(self, timestamp_ns: int) -> list[ItchMessage]:
        """End of market hours, end of system hours, end of messages."""
        clock = self._clock(timestamp_ns, "end of day")
        return [
            self._system_event(clock, code)
            for code in (END_OF_MARKET_HOURS, END_OF_SYSTEM_HOURS, END_OF_MESSAGES)
        ]

    # --- book events -------------------------------------------------------------------------

    def message_for(self, event: BookEvent) -> ItchMessage:
        """The one ITCH message for a book event (checked against the field sizes first, so
        a refused event consumes no tracking number)."""
        kind = type(event)
        symbol = getattr(event, "symbol", None)
        locate = self.locates.get(symbol)
        if locate is None:
            raise ItchPublishError(f"{event!r}: symbol {symbol!r} is not listed")
        clock = self._clock(event.timestamp_ns, event)
        if kind is OrderAdded:
            self._check_shares(event.shares, event, "shares")
            self._check_price(event.price, event)
            mpid = self.mpids.get(event.participant)
            side = event.side.code
            if mpid is None:
                return _new(
                    AddOrder,
                    (locate, self._track(), clock, event.order_id, side, event.shares,
                     event.symbol, event.price),
                )  # fmt: skip
            return _new(
                AddOrderMpid,
                (locate, self._track(), clock, event.order_id, side, event.shares,
                 event.symbol, event.price, mpid),
            )  # fmt: skip
        if kind is Execution:
            self._check_shares(event.shares, event, "shares")
            if event.resting_displayed:
                return _new(
                    OrderExecuted,
                    (locate, self._track(), clock, event.resting_order_id, event.shares,
                     event.match_number),
                )  # fmt: skip
            self._check_price(event.price, event)
            return _new(
                Trade,
                (locate, self._track(), clock, 0, event.aggressor_side.opposite.code,
                 event.shares, event.symbol, event.price, event.match_number),
            )  # fmt: skip
        if kind is OrderCancelled:
            self._check_shares(event.cancelled_shares, event, "cancelled_shares")
            return _new(
                OrderCancel,
                (locate, self._track(), clock, event.order_id, event.cancelled_shares),
            )
        if kind is OrderDeleted:
            return _new(OrderDelete, (locate, self._track(), clock, event.order_id))
        if kind is OrderReplaced:
            self._check_shares(event.shares, event, "shares")
            self._check_price(event.price, event)
            return _new(
                OrderReplace,
                (locate, self._track(), clock, event.original_order_id, event.new_order_id,
                 event.shares, event.price),
            )  # fmt: skip
        if kind is TradingStatus:
            reason = event.reason if _fits_reason(event.reason) else ""
            state = HALTED if event.halted else TRADING
            return StockTradingAction(
                locate, self._track(), clock, event.symbol, state, " ", reason
            )
        raise ItchPublishError(f"{event!r} is not a venue book event")

    def messages_for(self, events: Iterable[BookEvent]) -> list[ItchMessage]:
        return [self.message_for(event) for event in events]

    def encode(self, events: Iterable[BookEvent]) -> list[bytes]:
        """The ITCH bytes (no length prefix: MoldUDP64 message blocks) of each event."""
        encoders = ENCODERS
        message_for = self.message_for
        out = []
        for event in events:
            message = message_for(event)
            out.append(encoders[message.message_type](message))
        return out

    # --- internals ---------------------------------------------------------------------------

    def _track(self) -> int:
        self.messages_built += 1
        return self.messages_built & 0xFFFF

    def _system_event(self, clock: int, code: str) -> SystemEvent:
        return SystemEvent(0, self._track(), clock, code)

    def _clock(self, timestamp_ns: int, what: object) -> int:
        since_midnight = timestamp_ns - self.midnight_ns
        if not 0 <= since_midnight < NS_PER_DAY:
            raise ItchPublishError(
                f"{what!r}: time {timestamp_ns} ns is {since_midnight} ns from midnight "
                f"{self.midnight_ns}; ITCH timestamps lie within one day (start a new day's "
                "publisher or set midnight_ns)"
            )
        return since_midnight

    @staticmethod
    def _check_shares(shares: int, event: BookEvent, field: str) -> None:
        if not 0 < shares <= MAX_SHARES:
            raise ItchPublishError(
                f"{event!r}: {field} {shares} does not fit ITCH's 4-byte Shares field "
                f"(1..{MAX_SHARES})"
            )

    @staticmethod
    def _check_price(price: int, event: BookEvent) -> None:
        if not 0 < price <= MAX_PRICE:
            raise ItchPublishError(
                f"{event!r}: price {price} ({format_price(price)}) does not fit ITCH's 4-byte "
                f"Price(4) field (max {format_price(MAX_PRICE)})"
            )


def _fits_reason(reason: str) -> bool:
    """Whether a halt reason is an ITCH reason code (up to 4 ASCII characters); free text
    is published as blanks."""
    return len(reason) <= REASON_LENGTH and reason.isascii()


def book_differences(engine: MatchingEngine, books: Mapping[str, OrderBook]) -> list[str]:
    """How books rebuilt from this feed (`ItchBookFeed.books`) differ from the engine's
    displayed books: per symbol, the price levels (price, shares, order count) of each side,
    every displayed resting order (reference, side, price, shares) and the trading state.
    An empty list means the client holds exactly the venue's books."""
    differences = []
    for symbol in engine.instruments:
        book = books.get(symbol)
        if book is None:
            differences.append(f"{symbol}: no book on the client")
            continue
        for side in (Side.BUY, Side.SELL):
            venue_levels = engine.depth(symbol, side)
            client_levels = book.levels(side)
            if venue_levels != client_levels:
                differences.append(
                    f"{symbol} {side.name}: venue levels {venue_levels}, client {client_levels}"
                )
        venue_orders = {
            state.order_id: (state.side, state.price, state.leaves)
            for side in (Side.BUY, Side.SELL)
            for state in engine.resting_orders(symbol, side)
            if state.displayed
        }
        client_orders = {
            order.ref: (order.side, order.price, order.shares) for order in book.orders()
        }
        if venue_orders != client_orders:
            wrong = sorted(
                ref
                for ref in venue_orders.keys() | client_orders.keys()
                if venue_orders.get(ref) != client_orders.get(ref)
            )
            differences.append(f"{symbol}: orders differ at references {wrong[:20]}")
        state = HALTED if engine.is_halted(symbol) else TRADING
        if book.trading_state != state:
            differences.append(f"{symbol}: venue state {state!r}, client {book.trading_state!r}")
    return differences
