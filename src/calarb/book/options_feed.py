"""An engine feed for an options venue: ITTO 4.0 message bytes in, top-of-book changes out.

`OptionsBookFeed` reads like `ItchBookFeed` (`on_message_bytes`, `symbol_filter`, `messages`,
`errors`, `decode_errors`): a live venue whose feed is ITTO (a run file's `[venues.feed]
protocol = "itto"`, `calarb.trading.venue_feed`) decodes with it and hands each new top to
`TradingEngine.on_market_data`. Decoding is `calarb.itch.options_codec`, the book
`calarb.book.options_book.OptionsQuoteBook` (best bid and offer per option, no L3 depth;
`tops` holds each option's latest top).

Hostile input never raises: a message that cannot be decoded or applied (bad length or type,
unknown option, a reference never added) is skipped, counted in `errors` by kind and its
first lines, each naming the message's number and the reason, kept in `decode_errors`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from calarb.book.options_book import OptionsQuoteBook
from calarb.core.events import TopOfBook
from calarb.itch.errors import ItchDecodeError
from calarb.itch.options_codec import decode_options_message

_MAX_KEPT_ERRORS = 100


class OptionsBookFeed:
    """ITTO messages (one MoldUDP64 message block at a time) -> top of book per option.

    `symbols`: emit tops only for these OCC symbols (None: every listed option)."""

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        self.symbol_filter = frozenset(symbols) if symbols is not None else None
        self.book = OptionsQuoteBook()
        self.tops: dict[str, TopOfBook] = {}
        """OCC symbol -> its latest top of book (symbols in the filter)."""
        self.messages = 0
        self.errors: Counter[str] = Counter()
        """Error kind -> count: 'decode_error' (bytes), 'book_error' (a message the book
        cannot apply)."""
        self.decode_errors: list[str] = []
        """The first error lines (up to 100)."""

    def on_message_bytes(self, payload: bytes | bytearray | memoryview) -> TopOfBook | None:
        """Apply one ITTO message (no length prefix); its top of book when it changed one."""
        self.messages += 1
        try:
            message = decode_options_message(payload, 0, len(payload))
        except ItchDecodeError as error:
            return self._refuse("decode_error", f"ITTO message {self.messages}: {error}")
        try:
            events = self.book.on_message(message)
        except ValueError as error:  # OptionsBookError, or a directory naming no option
            return self._refuse("book_error", f"ITTO message {self.messages}: {error}")
        wanted = self.symbol_filter
        for event in events:
            if type(event) is TopOfBook and (wanted is None or event.symbol in wanted):
                self.tops[event.symbol] = event
                return event  # one message changes one option's top at most
        return None

    def _refuse(self, kind: str, line: str) -> None:
        self.errors[kind] += 1
        if len(self.decode_errors) < _MAX_KEPT_ERRORS:
            self.decode_errors.append(line)
        return None
