"""FIX field values and the generic typed-message codec every message module uses.

Each typed message is a NamedTuple with a class attribute `msg_type` and a field table
`FIELDS` of (attribute, tag, kind, required). `to_body(message)` encodes the body;
`from_message` builds the typed message from a decoded `FixMessage`, raising
`MessageRejected` naming the tag for a missing required field or a malformed value.

Prices are integers in 1/10,000 units (calarb.core.types) in the application; they become
decimal text only here, at the FIX edge. Quantities are integer shares. Times are epoch
nanoseconds (UTC).
"""

from __future__ import annotations

from typing import NamedTuple

from calarb.core.types import Side, price_from_str
from calarb.fix.codec import FixMessage
from calarb.fix.errors import MessageRejected
from calarb.fix.errors import SessionRejectReason as R
from calarb.fix.timefmt import TimestampFormatter, parse_utc_timestamp

_timestamp = TimestampFormatter()


def format_price(price: int) -> bytes:
    """Integer 1/10,000 units to FIX decimal text: 1234500 -> b'123.45'."""
    sign = b"-" if price < 0 else b""
    whole, fraction = divmod(abs(price), 10_000)
    if not fraction:
        return b"%s%d" % (sign, whole)
    return (b"%s%d.%04d" % (sign, whole, fraction)).rstrip(b"0")


_PLACES_SCALE = (10_000, 1_000, 100, 10, 1)


def parse_price(text: bytes) -> int:
    """FIX decimal text to integer 1/10,000 units, exactly; ValueError naming the text."""
    whole, _, fraction = text.partition(b".")
    places = len(fraction)
    if places <= 4 and whole.isdigit() and (not places or fraction.isdigit()):
        return int(whole + fraction) * _PLACES_SCALE[places]  # ASCII digits: no sign, no 'e'
    return price_from_str(text.decode("ascii"))  # signs, exponents, more places, errors


SIDE_TEXT = {Side.BUY: b"1", Side.SELL: b"2"}


def side_to_fix(side: Side | str) -> bytes:
    """Side (54): '1' buy, '2' sell; a code given as text (an unsupported side a venue
    echoes in its reject) is written as it is."""
    text = SIDE_TEXT.get(side)
    return text if text is not None else side.encode()


_SIDE_CODES = {b"1": Side.BUY, b"2": Side.SELL}


def side_from_fix(text: bytes) -> Side:
    """Side (54) to `Side`; ValueError for a code other than 1/2 (or ITCH's B/S)."""
    side = _SIDE_CODES.get(text)
    return side if side is not None else Side.from_code(text)


_ENCODERS = {
    "str": lambda v: v.encode() if isinstance(v, str) else v,
    "char": lambda v: v.encode() if isinstance(v, str) else v,
    "int": lambda v: b"%d" % v,
    "qty": lambda v: b"%d" % v,
    "price": format_price,
    "amt": format_price,
    "side": side_to_fix,
    "bool": lambda v: b"Y" if v else b"N",
    "time": lambda v: _timestamp(v),
}


def decode_qty(text: bytes) -> int:
    """Qty text to whole shares: digits, or a decimal with no fraction."""
    if text.isdigit():
        return int(text)
    value = price_from_str(text.decode("ascii"))
    if value % 10_000:
        raise ValueError(f"quantity {text!r} is not a whole number")
    return value // 10_000


_DECODERS = {
    "str": lambda v: v.decode("latin-1"),
    "char": lambda v: v.decode("latin-1"),
    "int": int,
    "qty": decode_qty,
    "price": parse_price,
    "amt": parse_price,
    "side": side_from_fix,
    "bool": lambda v: v == b"Y",
    "time": parse_utc_timestamp,
}


def to_body(message: NamedTuple) -> bytes:
    """The body (fields after the standard header) of a typed message."""
    return encode_fields(message, type(message).FIELDS)


def field_writers(cls: type, attributes: tuple[str, ...]) -> tuple:
    """(position, b"tag=", value encoder) for the named fields of a typed message, in tag
    order: what `write_fields` needs to write them without per-field lookups."""
    return tuple(
        (cls._fields.index(attribute), b"%d=" % tag, _ENCODERS[kind])
        for attribute, tag, kind, _required in cls.FIELDS
        if attribute in attributes
    )


def write_fields(message: tuple, writers: tuple) -> bytes:
    """The fields of `message` that `writers` (from `field_writers`) name and are not None."""
    parts = []
    for position, prefix, encode in writers:
        value = message[position]
        if value is not None:
            parts.append(prefix + encode(value) + b"\x01")
    return b"".join(parts)


def encode_fields(message: NamedTuple, fields: tuple) -> bytes:
    """The given (attribute, tag, kind, required) fields of `message` that are not None."""
    parts = []
    for attribute, tag, kind, _required in fields:
        value = getattr(message, attribute)
        if value is None:
            continue
        parts.append(b"%d=%s\x01" % (tag, _ENCODERS[kind](value)))
    return b"".join(parts)


def from_message(cls: type, message: FixMessage):
    """Build a typed message from a decoded one; MessageRejected names a bad or missing tag."""
    values = {}
    for attribute, tag, kind, required in cls.FIELDS:
        text = message.get(tag)
        if text is None:
            if required:
                raise MessageRejected(R.REQUIRED_TAG_MISSING, tag)
            values[attribute] = None
            continue
        try:
            values[attribute] = _DECODERS[kind](text)
        except ValueError as exc:
            raise MessageRejected(R.INCORRECT_DATA_FORMAT, tag, str(exc)) from None
    return cls(**values)
