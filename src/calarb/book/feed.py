"""The streaming fast path: ITCH bytes straight into order books.

`ItchBookFeed` is sans-I/O: length-prefixed ITCH bytes in (any chunking, as in ITCH files),
top-of-book events out; or one un-prefixed message at a time (what the MoldUDP64 receiver
delivers). It never builds message objects for the order messages: it reads only the fields
the book needs, at their offsets from `calarb.itch.spec` (compiled: C reads of a typed
memoryview), and those go to the one `OrderBook` operation of the message's kind
(`add`, `execute_order`, `cancel_order`, `delete_order`, `replace_order`), which makes the
whole change and says whether the top of book may have moved; only then is the timestamp read
and the top polled. Anything invalid raises the specific `BookError`, which is counted. So
the books end exactly as `BookBuilder` leaves them on the same input (a test checks that),
only faster.

Stock directory (R) and trading action (H) messages go through `calarb.itch.codec.decode`;
every other type is skipped after its length is checked.
"""

from __future__ import annotations

from array import array
from collections import Counter
from struct import Struct

import cython

from calarb.book.order_book import BookError, OrderBook
from calarb.core.events import TopOfBook
from calarb.itch.codec import LENGTHS_BY_BYTE, decode
from calarb.itch.errors import ItchDecodeError
from calarb.itch.spec import HEADER_LENGTH, MESSAGE_SPECS


def _offset(type_code: str, name: str, size: int) -> int:
    """The offset of a field from its message's type byte (checked to be `size` bytes)."""
    for field in MESSAGE_SPECS[type_code].fields:
        if field.name == name:
            if field.size != size:
                raise ValueError(f"{type_code}.{name} is {field.size} bytes, not {size}")
            return field.offset
    raise KeyError(f"{type_code} has no field {name}")


def _shared_offset(type_codes: str, name: str, size: int) -> int:
    """The offset of a field that sits at the same place in each of `type_codes`."""
    offsets = {_offset(type_code, name, size) for type_code in type_codes}
    if len(offsets) != 1:
        raise ValueError(f"{name} is not at one offset in {type_codes}: {sorted(offsets)}")
    return offsets.pop()


# Where the fields the book needs sit, from the message's type byte (calarb.itch.spec). One
# offset serves several types: F is A plus an attribution, C is E plus printable and price,
# X has E's first fields (its cancelled shares where E has its executed shares).
_LOCATE = _shared_offset("AFECXDU", "stock_locate", 2)
_REF = _shared_offset("AFECXD", "order_reference_number", 8)
_ADD_SIDE = _shared_offset("AF", "buy_sell_indicator", 1)
_ADD_SHARES = _shared_offset("AF", "shares", 4)
_ADD_PRICE = _shared_offset("AF", "price", 4)
_REDUCE_SHARES = _shared_offset("EC", "executed_shares", 4)
if _offset("X", "cancelled_shares", 4) != _REDUCE_SHARES:
    raise ValueError("X's cancelled shares are not where E's executed shares are")
_OLD_REF = _offset("U", "original_order_reference_number", 8)
_NEW_REF = _offset("U", "new_order_reference_number", 8)
_REPLACE_SHARES = _offset("U", "shares", 4)
_REPLACE_PRICE = _offset("U", "price", 4)
_STAMP = HEADER_LENGTH - 6  # the 6-byte timestamp ends the header


@cython.boundscheck(False)  # every caller checked the message's whole length first
@cython.wraparound(False)
def _uint(view, pos: int, size: int) -> int:
    """The big-endian unsigned integer of `size` (<= 8) bytes at `pos` of `view`.

    Compiled, a C loop over a typed memoryview; interpreted, one precompiled `struct` read
    (cheaper there than a Python loop or `int.from_bytes` of a slice): the same read."""
    if cython.compiled:
        value = 0
        for index in range(pos, pos + size):
            value = value << 8 | view[index]
        return value
    if size == 6:
        high, low = _READ_6(view, pos)
        return high << 32 | low
    return _READERS[size](view, pos)[0]


# Interpreted reads by field size (`_uint`): 2, 4 and 8 bytes; 6 is 2 + 4.
_READERS = {2: Struct(">H").unpack_from, 4: Struct(">I").unpack_from, 8: Struct(">Q").unpack_from}
_READ_6 = Struct(">HI").unpack_from


_PREFIX = 2  # bytes of a frame's length prefix

# Type byte -> expected length; -1 for bytes that are no ITCH message type.
_LENGTHS = array("i", [-1] * 256)
for _byte, _length in LENGTHS_BY_BYTE.items():
    _LENGTHS[_byte] = _length

_SIDE_BY_BYTE = array("i", [0] * 256)
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

    @cython.boundscheck(False)  # every read is inside a frame whose whole length was checked
    @cython.wraparound(False)
    def _run(self, buf, base: int, events: list[TopOfBook], single: bool = False) -> int:
        """Apply every whole message in `buf`; return the offset of the first byte not
        consumed (the start of an incomplete message). `base` is buf[0]'s stream offset.
        `single`: `buf` is one whole message without a length prefix (no copy is made to
        prefix it). Each order message is one `OrderBook` call, which raises the `BookError`
        that is counted."""
        view = buf  # compiled: a typed memoryview of the bytes (feed.pxd)
        by_locate = self._by_locate
        lengths = _LENGTHS
        sides = _SIDE_BY_BYTE
        emit = self.emit_events
        end = len(view)
        # A frame (prefix and at least its type byte) starts before `limit`. `start` is the
        # offset of the message's type byte.
        limit = end if single else end - _PREFIX
        pos = 0
        count = 0
        while pos < limit:
            if single:
                start = 0
                length = pos = end
            else:
                length = view[pos] << 8 | view[pos + 1]
                start = pos + _PREFIX
                pos = start + length
                if pos > end:  # the message is not whole yet
                    pos = start - _PREFIX
                    break
            kind = view[start]
            count += 1
            if lengths[kind] != length:  # also catches a zero length: no type has length 0
                self._framing_error(buf, base, start, length)
                continue
            try:
                if kind == 65 or kind == 70:  # A, F: add order
                    locate = view[start + _LOCATE] << 8 | view[start + _LOCATE + 1]
                    book = by_locate[locate]
                    if book is None:
                        self._no_book(locate)
                        continue
                    touched = book.add(  # side 0: refused
                        _uint(view, start + _REF, 8),
                        sides[view[start + _ADD_SIDE]],
                        _uint(view, start + _ADD_PRICE, 4),
                        _uint(view, start + _ADD_SHARES, 4),
                    )
                elif kind == 68:  # D: delete
                    locate = view[start + _LOCATE] << 8 | view[start + _LOCATE + 1]
                    book = by_locate[locate]
                    if book is None:
                        self._no_book(locate)
                        continue
                    touched = book.delete_order(_uint(view, start + _REF, 8))
                elif kind == 85:  # U: replace
                    locate = view[start + _LOCATE] << 8 | view[start + _LOCATE + 1]
                    book = by_locate[locate]
                    if book is None:
                        self._no_book(locate)
                        continue
                    touched = book.replace_order(
                        _uint(view, start + _OLD_REF, 8),
                        _uint(view, start + _NEW_REF, 8),
                        _uint(view, start + _REPLACE_SHARES, 4),
                        _uint(view, start + _REPLACE_PRICE, 4),
                    )
                elif kind == 69 or kind == 67 or kind == 88:  # E, C: executed; X: cancel
                    locate = view[start + _LOCATE] << 8 | view[start + _LOCATE + 1]
                    book = by_locate[locate]
                    if book is None:
                        self._no_book(locate)
                        continue
                    if kind == 88:
                        touched = book.cancel_order(
                            _uint(view, start + _REF, 8), _uint(view, start + _REDUCE_SHARES, 4)
                        )
                    else:
                        touched = book.execute_order(
                            _uint(view, start + _REF, 8), _uint(view, start + _REDUCE_SHARES, 4)
                        )
                elif kind == 82:  # R: stock directory
                    self._on_stock_directory(buf, start)
                    continue
                elif kind == 72:  # H: trading action
                    self._on_trading_action(buf, start)
                    continue
                else:
                    continue
            except BookError as exc:
                self.errors[type(exc).__name__] += 1
                continue
            except ItchDecodeError as exc:  # from decoding R or H
                offset = base + start - _PREFIX
                self._decode_error(ItchDecodeError(offset, exc.message_type, exc.reason))
                continue
            if emit and touched:  # only a change at or above a side's best moves the top
                event = book.poll_top_change(_uint(view, start + _STAMP, 6))
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
