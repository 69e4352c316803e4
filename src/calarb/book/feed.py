"""The streaming fast path: ITCH bytes straight into order books.

`ItchBookFeed` is sans-I/O: length-prefixed ITCH bytes in (any chunking, as in ITCH files),
top-of-book events out; or one un-prefixed message at a time (what the MoldUDP64 receiver
delivers). It never builds message objects for the order messages: each type has a
precompiled `struct` that unpacks only the fields the book needs (offsets from
`calarb.itch.spec`), and those go to the one `OrderBook` operation of the message's kind
(`add`, `execute_order`, `cancel_order`, `delete_order`, `replace_order`), which makes the
whole change and says whether the top of book may have moved; only then is the timestamp read
and the top polled. Anything invalid raises the specific `BookError`, which is counted. So
the books end exactly as `BookBuilder` leaves them on the same input (a test checks that),
only faster.

Stock directory (R) and trading action (H) messages go through `calarb.itch.codec.decode`;
every other type is skipped after its length is checked.
"""

from __future__ import annotations

import struct
from collections import Counter

from calarb.book.order_book import BookError, OrderBook
from calarb.core.events import TopOfBook
from calarb.itch.codec import LENGTHS_BY_BYTE, decode
from calarb.itch.errors import ItchDecodeError
from calarb.itch.spec import HEADER_LENGTH, MESSAGE_SPECS

_UINT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_BOOK_FIELDS = ("stock_locate", "order_reference_number")


def _field_struct(type_code: str, names: tuple[str, ...], head: int) -> struct.Struct:
    """A Struct reading only `names` (in wire order) of one message type that starts `head`
    bytes after the offset it is given (2 in a length-prefixed frame, 0 for a bare message);
    those bytes, the type byte and the bytes in between are skipped as pad bytes. One-letter
    alpha fields come out as their byte value."""
    fields = {field.name: field for field in MESSAGE_SPECS[type_code].fields}
    parts = [">"]
    cursor = -head
    for name in names:
        field = fields[name]
        if field.offset < cursor:
            raise ValueError(f"{type_code}: field {name} is not after the previous one")
        if field.offset > cursor:
            parts.append(f"{field.offset - cursor}x")
        if field.kind == "alpha":
            parts.append("B" if field.size == 1 else f"{field.size}s")
        elif field.kind == "timestamp":
            raise ValueError("timestamps are read separately, only for events")
        else:
            parts.append(_UINT_CODES[field.size])
        cursor = field.offset + field.size
    return struct.Struct("".join(parts))


_ADD_FIELDS = (*_BOOK_FIELDS, "buy_sell_indicator", "shares", "price")
_REDUCE_FIELDS = (*_BOOK_FIELDS, "executed_shares")
_REPLACE_FIELDS = (
    "stock_locate",
    "original_order_reference_number",
    "new_order_reference_number",
    "shares",
    "price",
)
# One struct serves two types when the fields the book needs sit at the same offsets:
# F is A plus an attribution, C is E plus printable and price, X has E's first fields.
assert _field_struct("F", _ADD_FIELDS, 0).format == _field_struct("A", _ADD_FIELDS, 0).format
assert _field_struct("C", _REDUCE_FIELDS, 0).format == _field_struct("E", _REDUCE_FIELDS, 0).format
assert (
    _field_struct("X", (*_BOOK_FIELDS, "cancelled_shares"), 0).format
    == _field_struct("E", _REDUCE_FIELDS, 0).format
)
_TIMESTAMP_MASK = (1 << 48) - 1


def _unpackers(head: int) -> tuple:
    """The `unpack_from` of the add, execute/cancel, delete and replace fields and of the
    timestamp (under `_TIMESTAMP_MASK`), for messages `head` bytes after the offset given."""
    return (
        _field_struct("A", _ADD_FIELDS, head).unpack_from,
        _field_struct("E", _REDUCE_FIELDS, head).unpack_from,
        _field_struct("D", _BOOK_FIELDS, head).unpack_from,
        _field_struct("U", _REPLACE_FIELDS, head).unpack_from,
        # the 8 bytes that end with the 6-byte timestamp (the header's last field)
        struct.Struct(f">{head + HEADER_LENGTH - 8}xQ").unpack_from,
    )


_PREFIX = 2  # bytes of a frame's length prefix
_IN_FRAME = _unpackers(_PREFIX)
_IN_MESSAGE = _unpackers(0)
_FRAME_HEAD = struct.Struct(">HB").unpack_from
"""A frame's length prefix and type byte: one call, cheaper than three byte reads and the
int operations that join them."""

# Type byte -> expected length; -1 for bytes that are no ITCH message type.
_LENGTHS = [-1] * 256
for _byte, _length in LENGTHS_BY_BYTE.items():
    _LENGTHS[_byte] = _length

_SIDE_BY_BYTE = [0] * 256
_SIDE_BY_BYTE[ord("B")] = 1
_SIDE_BY_BYTE[ord("S")] = -1

_MAX_KEPT_DECODE_ERRORS = 100


class ItchBookFeed:
    """Length-prefixed ITCH bytes (or single messages) -> L3 books and top-of-book events.

    `symbols`: keep books only for these (None: every symbol in the stock directory).
    `emit_events`: False for pure replay (no TopOfBook is built; `feed` returns []).
    Framing errors (unknown type, length that disagrees with the type) skip the bad message,
    are counted in `errors['decode_error']` and kept in `decode_errors`; with `strict` the
    first one of a `feed` call is also raised once the whole chunk is applied (that call's
    events are then lost, the books are not).
    """

    def __init__(
        self,
        symbols: set[str] | frozenset[str] | list[str] | None = None,
        emit_events: bool = True,
        strict: bool = False,
    ) -> None:
        self.symbol_filter = frozenset(symbols) if symbols is not None else None
        self.emit_events = emit_events
        self.strict = strict
        self.books: dict[str, OrderBook] = {}
        """Symbol -> its book."""
        self._by_locate: list[OrderBook | None] = [None] * 65536
        self._known_locates: set[int] = set()
        self._pending = b""
        self._stream_offset = 0  # stream offset of the first byte not yet consumed
        self.messages = 0
        """Messages processed (all types)."""
        self.errors: Counter[str] = Counter()
        """Error name -> count: book errors by exception class name, 'unknown_locate',
        'decode_error'."""
        self.decode_errors: list[ItchDecodeError] = []
        """The first framing errors (up to 100), each naming its byte offset and type."""
        self._first_new_error: ItchDecodeError | None = None

    def book(self, symbol: str) -> OrderBook:
        """The book of `symbol`; KeyError if its stock directory message has not been seen."""
        return self.books[symbol]

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete message held until the next `feed`."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[TopOfBook]:
        """Consume ITCH bytes with 2-byte big-endian length prefixes, in any chunking."""
        if self._pending:
            buf = self._pending + data
            base = self._stream_offset - len(self._pending)
        else:
            buf = data
            base = self._stream_offset
        events: list[TopOfBook] = []
        consumed = self._run(buf, base, events)
        self._pending = bytes(buf[consumed:])
        self._stream_offset = base + len(buf)
        self._raise_if_strict()
        return events

    def on_message_bytes(self, payload: bytes | bytearray | memoryview) -> TopOfBook | None:
        """Apply one message without a length prefix (a MoldUDP64 message block's body)."""
        events: list[TopOfBook] = []
        if not 0 < len(payload) <= 0xFFFF:
            self._decode_error(ItchDecodeError(0, None, f"message of {len(payload)} bytes"))
        else:
            # base 2: error offsets are those of the same message behind a length prefix
            self._run(payload, 2, events, True)
        if self._first_new_error is not None:
            self._raise_if_strict()
        return events[0] if events else None

    def close(self) -> None:
        """End of stream: leftover bytes of an incomplete message are an error."""
        if self._pending:
            offset = self._stream_offset - len(self._pending)
            pending, self._pending = self._pending, b""
            type_code = chr(pending[2]) if len(pending) > 2 else None
            self._decode_error(
                ItchDecodeError(
                    offset, type_code, f"truncated: stream ends {len(pending)} bytes into a message"
                )
            )
            self._raise_if_strict()

    # ------------------------------------------------------------------ internals

    def _raise_if_strict(self) -> None:
        error, self._first_new_error = self._first_new_error, None
        if error is not None and self.strict:
            raise error

    def _decode_error(self, error: ItchDecodeError) -> None:
        if self._first_new_error is None:
            self._first_new_error = error
        self.errors["decode_error"] += 1
        if len(self.decode_errors) < _MAX_KEPT_DECODE_ERRORS:
            self.decode_errors.append(error)

    def _on_stock_directory(self, buf, start: int) -> None:
        message = decode(buf, start)
        symbol = message.stock
        locate = message.stock_locate
        self._known_locates.add(locate)
        if self.symbol_filter is not None and symbol not in self.symbol_filter:
            self._by_locate[locate] = None
            return
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = OrderBook(symbol)
        self._by_locate[locate] = book

    def _on_trading_action(self, buf, start: int) -> None:
        message = decode(buf, start)
        book = self._by_locate[message.stock_locate]
        if book is not None:
            book.trading_state = message.trading_state
        elif message.stock_locate not in self._known_locates:
            self.errors["unknown_locate"] += 1

    def _no_book(self, locate: int) -> None:
        if locate not in self._known_locates:
            self.errors["unknown_locate"] += 1

    def _run(self, buf, base: int, events: list[TopOfBook], single: bool = False) -> int:
        """Apply every whole message in `buf`; return the offset of the first byte not
        consumed (the start of an incomplete message). `base` is buf[0]'s stream offset.
        `single`: `buf` is one whole message without a length prefix (no copy is made to
        prefix it). Each order message is one `OrderBook` call, which raises the `BookError`
        that is counted."""
        by_locate = self._by_locate
        lengths = _LENGTHS
        sides = _SIDE_BY_BYTE
        unpack_add, unpack_reduce, unpack_delete, unpack_replace, unpack_stamp = (
            _IN_MESSAGE if single else _IN_FRAME
        )
        unpack_head = _FRAME_HEAD
        emit = self.emit_events
        end = len(buf)
        # A frame (prefix and at least its type byte) starts before `limit`. `start` is where
        # the unpackers are applied: the frame's start, or 0 for a single bare message.
        if single:
            head = 0
            limit = end
        else:
            head = _PREFIX
            limit = end - _PREFIX
        pos = 0
        count = 0
        while pos < limit:
            if single:
                start = 0
                length = pos = end
                kind = buf[0]
            else:
                length, kind = unpack_head(buf, pos)
                start = pos
                pos += length + 2  # the prefix
                if pos > end:  # the message is not whole yet
                    pos = start
                    break
            count += 1
            if lengths[kind] != length:  # also catches a zero length: no type has length 0
                self._framing_error(buf, base, start + head, length)
                continue
            try:
                if kind == 65 or kind == 70:  # A, F: add order
                    locate, ref, side_byte, shares, price = unpack_add(buf, start)
                    book = by_locate[locate]
                    if book is None:
                        self._no_book(locate)
                        continue
                    touched = book.add(ref, sides[side_byte], price, shares)  # side 0: refused
                elif kind == 68:  # D: delete
                    locate, ref = unpack_delete(buf, start)
                    book = by_locate[locate]
                    if book is None:
                        self._no_book(locate)
                        continue
                    touched = book.delete_order(ref)
                elif kind == 85:  # U: replace
                    locate, ref, new_ref, shares, price = unpack_replace(buf, start)
                    book = by_locate[locate]
                    if book is None:
                        self._no_book(locate)
                        continue
                    touched = book.replace_order(ref, new_ref, shares, price)
                elif kind == 69 or kind == 67 or kind == 88:  # E, C: executed; X: cancel
                    locate, ref, shares = unpack_reduce(buf, start)
                    book = by_locate[locate]
                    if book is None:
                        self._no_book(locate)
                        continue
                    if kind == 88:
                        touched = book.cancel_order(ref, shares)
                    else:
                        touched = book.execute_order(ref, shares)
                elif kind == 82:  # R: stock directory
                    self._on_stock_directory(buf, start + head)
                    continue
                elif kind == 72:  # H: trading action
                    self._on_trading_action(buf, start + head)
                    continue
                else:
                    continue
            except BookError as exc:
                self.errors[type(exc).__name__] += 1
                continue
            except ItchDecodeError as exc:  # from decoding R or H
                offset = base + start + head - _PREFIX
                self._decode_error(ItchDecodeError(offset, exc.message_type, exc.reason))
                continue
            if emit and touched:  # only a change at or above a side's best moves the top
                event = book.poll_top_change(unpack_stamp(buf, start)[0] & _TIMESTAMP_MASK)
                if event is not None:
                    events.append(event)
        self.messages += count
        return pos

    def _framing_error(self, buf, base: int, start: int, length: int) -> None:
        """`start`: the offset of the message's type byte in `buf`."""
        offset = base + start - _PREFIX
        if not length:
            self._decode_error(ItchDecodeError(offset, None, "zero length prefix"))
            return
        kind = buf[start]
        expected = _LENGTHS[kind]
        if expected < 0:
            error = ItchDecodeError(offset, chr(kind), f"unknown message type byte 0x{kind:02x}")
        else:
            error = ItchDecodeError(
                offset, chr(kind), f"length {length} disagrees with the type's length {expected}"
            )
        self._decode_error(error)
