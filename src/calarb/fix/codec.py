"""FIX tag=value codec: framing a byte stream, decoding and encoding single messages.

A message on the wire is ``8=BeginString|9=BodyLength|35=MsgType|...|10=CheckSum|`` with SOH
(0x01) as the field separator. BodyLength counts the bytes after the ``9=`` field up to and
including the SOH before ``10=``; CheckSum is the sum of every byte before ``10=`` modulo 256,
written as three digits.

Values stay ``bytes`` here: conversion to ints, prices and times happens in the typed message
layer (`calarb.fix.messages`) so that a message can be echoed or resent byte-for-byte.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator

import cython

SOH = b"\x01"

BEGIN_STRING = 8
BODY_LENGTH = 9
MSG_TYPE = 35
CHECK_SUM = 10

# Length field -> the raw data field whose value may contain SOH (FIX 4.2/4.4 "data" pairs).
DATA_FIELDS: dict[int, int] = {
    90: 91,  # SecureDataLen -> SecureData
    93: 89,  # SignatureLength -> Signature
    95: 96,  # RawDataLength -> RawData
    212: 213,  # XmlDataLen -> XmlData
    348: 349,  # EncodedIssuerLen -> EncodedIssuer
    350: 351,  # EncodedSecurityDescLen
    352: 353,  # EncodedListExecInstLen
    354: 355,  # EncodedTextLen -> EncodedText
    356: 357,  # EncodedSubjectLen
    358: 359,  # EncodedHeadlineLen
    360: 361,  # EncodedAllocTextLen
    362: 363,  # EncodedUnderlyingIssuerLen
    364: 365,  # EncodedUnderlyingSecurityDescLen
    445: 446,  # EncodedListStatusTextLen
}
_DATA_MARKER = re.compile(b"(?:^|\x01)(?:%s)=" % b"|".join(b"%d" % t for t in DATA_FIELDS))
_DATA_LENGTH_TAGS = frozenset(DATA_FIELDS)
_TAG_TEXT: list[bytes] = [b"%d" % tag for tag in range(10000)]
# Tags the fast decode path accepts (1 at their index): 1..9999 that are not data lengths.
_ORDINARY_TAG = bytes(0 if tag == 0 or tag in DATA_FIELDS else 1 for tag in range(10000))
_TAG_KEYS: dict[bytes, int] = {b"%d=" % tag: tag for tag in range(1, 10000)}
# "tag=" -> the shared `_TAG_TEXT` key, for the tags `_ORDINARY_TAG` admits (interpreted scan).
_ORDINARY_KEYS: dict[bytes, bytes] = {
    b"%d=" % tag: _TAG_TEXT[tag] for tag in range(1, 10000) if _ORDINARY_TAG[tag]
}

DEFAULT_MAX_MESSAGE_SIZE = 1 << 20


class GarbledMessage(ValueError):
    """A frame that is not a well-formed FIX message; the session ignores it.

    `offset` is the byte offset in the frame (or stream buffer) where the problem was found.
    """

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(f"garbled message at byte {offset}: {reason}")
        self.reason = reason
        self.offset = offset


_adler32 = zlib.adler32
_EXACT_CHUNK = 256  # 255 * 256 + 1 < 65521: Adler-32's low half is then the exact byte sum + 1


def byte_sum(data: bytes | bytearray | memoryview) -> int:
    """The sum of the bytes of `data`, computed in C.

    Adler-32's low 16 bits are ``1 + sum(bytes) mod 65521``; for at most 256 bytes the sum
    cannot reach 65521, so it is exact. Longer data is summed in chunks of 256 bytes.
    """
    size = len(data)
    if size <= _EXACT_CHUNK:
        return (_adler32(data) & 0xFFFF) - 1
    view = memoryview(data)
    total = 0
    for start in range(0, size, _EXACT_CHUNK):
        total += (_adler32(view[start : start + _EXACT_CHUNK]) & 0xFFFF) - 1
    return total


def checksum(data: bytes | bytearray | memoryview) -> int:
    """FIX CheckSum(10): the byte sum modulo 256."""
    return byte_sum(data) & 0xFF


def parse_tag(text: bytes) -> int:
    """A tag number: optional '-' then ASCII digits (negative tags are kept to be rejected)."""
    if text.isdigit() or (text[:1] == b"-" and text[1:].isdigit()):
        return int(text)
    raise ValueError(f"tag {text!r} is not a number")


class FixMessage:
    """A decoded message: its fields in wire order, with first-occurrence lookup by tag.

    `fields` holds every field, including 8, 9, 35 and 10 when the message came off the
    wire. Repeated tags (groups, or a faulty peer) are all kept in order.
    """

    def __init__(
        self,
        fields: list[tuple[int, bytes]] | None,
        raw: bytes = b"",
        by_text: dict[bytes, bytes] | None = None,
    ) -> None:
        """`fields`, or `by_text` (tag text -> value, no repeated tags) and `raw` to split on
        demand. `by_text` maps the tag as written (b"35") to its first value."""
        self._fields = fields
        self.raw = raw
        if by_text is None:
            assert fields is not None
            by_text = {}
            for tag, value in reversed(fields):
                by_text[b"%d" % tag] = value
        self.by_text = by_text

    @property
    def fields(self) -> list[tuple[int, bytes]]:
        """Every field in wire order (split from `raw` the first time it is asked for)."""
        if self._fields is None:
            self._fields = _split_fields(self.raw)
        return self._fields

    def get(self, tag: int, default: bytes | None = None) -> bytes | None:
        text = _TAG_TEXT[tag] if 0 < tag < 10000 else b"%d" % tag
        return self.by_text.get(text, default)

    def __getitem__(self, tag: int) -> bytes:
        text = _TAG_TEXT[tag] if 0 < tag < 10000 else b"%d" % tag
        try:
            return self.by_text[text]
        except KeyError:
            raise KeyError(f"tag {tag} is not in the message") from None

    def __contains__(self, tag: int) -> bool:
        return (_TAG_TEXT[tag] if 0 < tag < 10000 else b"%d" % tag) in self.by_text

    def get_int(self, tag: int, default: int | None = None) -> int | None:
        value = self.get(tag)
        if value is None:
            return default
        return int(value)

    @property
    def msg_type(self) -> bytes:
        return self.by_text.get(b"35", b"")

    @property
    def begin_string(self) -> bytes:
        return self.by_text.get(b"8", b"")

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self.fields)

    def __repr__(self) -> str:
        text = "|".join(f"{tag}={value.decode('latin-1')}" for tag, value in self.fields)
        return f"FixMessage({text})"


_new_message = FixMessage.__new__


def _split_fields(raw: bytes) -> list[tuple[int, bytes]]:
    """Split a whole frame into (tag, value) pairs, honouring length-prefixed data fields."""
    if _DATA_MARKER.search(raw) is not None:
        return _split_fields_with_data(raw)
    parts = raw.split(SOH)
    if parts.pop():
        raise GarbledMessage("message does not end with SOH", len(raw))
    try:
        keys = _TAG_KEYS
        return [(keys[tag + sep], value) for tag, sep, value in [p.partition(b"=") for p in parts]]
    except KeyError:
        pass  # an unusual tag (0, negative, > 9999, not a number) or no '=': name it
    fields = []
    offset = 0
    for part in parts:
        tag_text, sep, value = part.partition(b"=")
        if not sep:
            raise GarbledMessage(f"field {part[:20]!r} has no '='", offset)
        try:
            fields.append((parse_tag(tag_text), value))
        except ValueError as exc:
            raise GarbledMessage(str(exc), offset) from None
        offset += len(part) + 1
    return fields


def _split_fields_with_data(raw: bytes) -> list[tuple[int, bytes]]:
    fields: list[tuple[int, bytes]] = []
    pos = 0
    end = len(raw)
    data_length: dict[int, int] = {}
    while pos < end:
        eq = raw.find(b"=", pos)
        if eq < 0:
            raise GarbledMessage("field has no '='", pos)
        try:
            tag = parse_tag(raw[pos:eq])
        except ValueError as exc:
            raise GarbledMessage(str(exc), pos) from None
        if tag in data_length:
            stop = eq + 1 + data_length.pop(tag)
            if raw[stop : stop + 1] != SOH:
                raise GarbledMessage(f"data field {tag} is not followed by SOH at its length", eq)
        else:
            stop = raw.find(SOH, eq + 1)
            if stop < 0:
                raise GarbledMessage("message does not end with SOH", end)
        value = raw[eq + 1 : stop]
        fields.append((tag, value))
        if tag in DATA_FIELDS:
            if not value.isdigit():
                raise GarbledMessage(f"data length field {tag} is not a number", eq + 1)
            data_length[DATA_FIELDS[tag]] = int(value)
        pos = stop + 1
    return fields


@cython.boundscheck(False)  # safe: every read stops at the SOH that ends the frame
@cython.wraparound(False)
def _scan(raw: bytes) -> list | None:
    """The fast decode path's split of a frame into `[by_text, begin, length_text, sum_text,
    first three tags and last tag]`, or None when it does not apply: each field is
    ``tag=value SOH`` with a canonical tag 1..9999 (no leading zero) that is not a data
    length, no '=' in a value, no repeated tag, at least four fields. The keys are the
    shared `_TAG_TEXT` bytes (their hashes are computed once). One pass over the bytes."""
    size = len(raw)
    if size < 2 or raw[size - 1] != 1:
        return None
    if not cython.compiled:
        # Interpreted, the byte loop below costs a bytecode per byte: the same rules, checked
        # with C string methods. A '=' count equal to the field count, with each field's
        # "tag=" a key of `_ORDINARY_KEYS` (one '=' each), leaves no '=' in a value.
        parts = raw[:-1].split(b"\x01")
        count = len(parts)
        if count < 4 or raw.count(b"=") != count:
            return None
        fields = [part.partition(b"=") for part in parts]
        try:
            by_text = {_ORDINARY_KEYS[t + s]: v for t, s, v in fields}
        except KeyError:
            return None
        if len(by_text) != count:
            return None
        tag_of = _TAG_KEYS
        first, second, third, last = fields[0], fields[1], fields[2], fields[-1]
        return [
            by_text, first[2], second[2], last[2],
            [tag_of[first[0] + b"="], tag_of[second[0] + b"="], tag_of[third[0] + b"="]],
            tag_of[last[0] + b"="],
        ]  # fmt: skip
    tag_texts = _TAG_TEXT
    ordinary = _ORDINARY_TAG
    by_text = {}
    count = 0
    pos = 0
    first_tags = [0, 0, 0]
    first_values = [b"", b""]
    tag = 0
    value = b""
    while pos < size:
        byte = raw[pos]
        if byte < 49 or byte > 57:  # a tag starts with 1-9
            return None
        tag = byte - 48
        pos += 1
        while True:  # the '=' is before the end: the frame ends with SOH
            byte = raw[pos]
            pos += 1
            if byte == 61:  # '='
                break
            if byte < 48 or byte > 57 or tag >= 1000:
                return None
            tag = tag * 10 + byte - 48
        if not ordinary[tag]:
            return None
        start = pos
        while True:
            byte = raw[pos]
            if byte == 1:
                break
            if byte == 61:
                return None
            pos += 1
        value = raw[start:pos]
        pos += 1
        by_text[tag_texts[tag]] = value
        if count < 3:
            first_tags[count] = tag
            if count < 2:
                first_values[count] = value
        count += 1
    if count < 4 or len(by_text) != count:
        return None
    return [by_text, first_values[0], first_values[1], value, first_tags, tag]


def decode(raw: bytes, *, verify: bool = True) -> FixMessage:
    """Decode one whole frame. Raises GarbledMessage naming the reason and byte offset.

    Checks (when `verify`): the first three fields are 8, 9, 35; BodyLength matches; the last
    field is a three-digit CheckSum equal to the byte sum.
    """
    if type(raw) is not bytes:
        raw = bytes(raw)
    # Fast path (`_scan`): one '=' per field, every tag an ordinary number, no repeated tag,
    # no raw data field.
    scanned = _scan(raw)
    if scanned is not None:
        by_text = scanned[0]
        if verify:
            begin = scanned[1]
            length_text = scanned[2]
            sum_text = scanned[3]
            first_tags = scanned[4]
            last_tag = scanned[5]
            trailer_start = len(raw) - len(sum_text) - 4
            if not (
                first_tags[0] == BEGIN_STRING
                and first_tags[1] == BODY_LENGTH
                and first_tags[2] == MSG_TYPE
                and last_tag == CHECK_SUM
                and length_text.isdigit()
                and int(length_text) == trailer_start - len(begin) - len(length_text) - 6
                and len(sum_text) == 3
                and sum_text.isdigit()
                and trailer_start <= _EXACT_CHUNK
                and int(sum_text) == ((_adler32(raw[:trailer_start]) & 0xFFFF) - 1) & 0xFF
            ):  # something is wrong (or the message is long): name it, or accept it
                tags = (
                    BEGIN_STRING if first_tags[0] == BEGIN_STRING else -1,
                    BODY_LENGTH if first_tags[1] == BODY_LENGTH else -1,
                    MSG_TYPE if first_tags[2] == MSG_TYPE else -1,
                    CHECK_SUM if last_tag == CHECK_SUM else -1,
                )
                _check_frame(raw, tags, begin, length_text, sum_text)
        message = _new_message(FixMessage)
        message._fields = None
        message.raw = raw
        message.by_text = by_text
        return message
    split = _split_fields(raw)
    if verify:
        if len(split) < 4:
            raise GarbledMessage("fewer than four fields", 0)
        tags = (split[0][0], split[1][0], split[2][0], split[-1][0])
        _check_frame(raw, tags, split[0][1], split[1][1], split[-1][1])
    return FixMessage(split, raw)


def _check_frame(
    raw: bytes, tags: tuple[int, int, int, int], begin: bytes, length_text: bytes, sum_text: bytes
) -> None:
    """First fields 8, 9, 35; last field 10; BodyLength and CheckSum right."""
    if tags[0] != BEGIN_STRING or tags[1] != BODY_LENGTH:
        raise GarbledMessage("message does not start with 8= and 9=", 0)
    if tags[2] != MSG_TYPE:
        raise GarbledMessage("MsgType(35) is not the third field", 0)
    if tags[3] != CHECK_SUM:
        raise GarbledMessage("CheckSum(10) is not the last field", len(raw))
    body_start = len(begin) + len(length_text) + 6
    trailer_start = len(raw) - len(sum_text) - 4
    if not length_text.isdigit() or int(length_text) != trailer_start - body_start:
        raise GarbledMessage(
            f"BodyLength(9)={length_text!r} but the body has {trailer_start - body_start} bytes",
            body_start,
        )
    if len(sum_text) != 3 or not sum_text.isdigit():
        raise GarbledMessage(f"CheckSum(10)={sum_text!r} is not three digits", trailer_start)
    expected = (
        (_adler32(raw[:trailer_start]) & 0xFFFF) - 1
        if trailer_start <= _EXACT_CHUNK
        else byte_sum(memoryview(raw)[:trailer_start])
    ) & 0xFF
    if int(sum_text) != expected:
        raise GarbledMessage(
            f"CheckSum(10)={sum_text.decode()} but the bytes sum to {expected:03d}", trailer_start
        )


def encode_fields(fields: Iterable[tuple[int, bytes]]) -> bytes:
    """Fields as tag=value SOH bytes, no framing."""
    return b"".join(b"%d=%s\x01" % (tag, value) for tag, value in fields)


def frame(begin_string: bytes, body: bytes) -> bytes:
    """Wrap `body` (everything from 35= on) with BeginString, BodyLength and CheckSum."""
    head = b"8=%s\x019=%d\x01" % (begin_string, len(body))
    total = (byte_sum(head) + byte_sum(body)) & 0xFF
    return b"%s%s10=%03d\x01" % (head, body, total)


def encode(begin_string: bytes, fields: Iterable[tuple[int, bytes]]) -> bytes:
    """Encode a message whose `fields` start with 35 (MsgType) and exclude 8, 9 and 10."""
    return frame(begin_string, encode_fields(fields))


_LENGTH_TEXT = tuple(b"%d\x01" % size for size in range(1024))  # BodyLength (9) values + SOH
_CHECKSUM_FIELD = tuple(b"10=%03d\x01" % total for total in range(256))  # the whole trailer


def _piece_sum(data: bytes) -> int:
    """The byte sum of a short piece of an outgoing frame: a C loop when compiled (no call),
    Adler-32 (`byte_sum`) when interpreted."""
    if cython.compiled:
        return bytes_sum(data)  # noqa: F821 (codec.pxd, compiled only)
    return byte_sum(data)


class Envelope:
    """The standard header and trailer of one session's outgoing messages.

    `wrap` writes BeginString, BodyLength, MsgType, MsgSeqNum, SenderCompID, SendingTime,
    TargetCompID and CheckSum around an encoded body. Without extra header fields the frame
    is one join of pieces prepared once (their byte sums too), the sequence number, the
    SendingTime and the body: the checksum adds the sums of the three that change (in C when
    compiled), BodyLength and the trailer come from tables.
    """

    def __init__(self, begin_string: bytes, sender_comp_id: bytes, target_comp_id: bytes):
        self.begin_string = begin_string
        self._sender = sender_comp_id
        self._target = target_comp_id
        self._head = b"8=%s\x019=" % begin_string
        self._after_seq = b"\x0149=%s\x0152=" % sender_comp_id
        self._after_time = b"\x0156=%s\x01" % target_comp_id
        # the constant pieces' sums: head, after the sequence number and after SendingTime
        self._head_sum = sum(self._head) + sum(self._after_seq) + sum(self._after_time)
        self._fixed_size = len(self._after_seq) + len(self._after_time)
        self._type_prefix: dict[bytes, tuple[bytes, int]] = {}  # type -> (35=..34=, its sum)

    def wrap(
        self,
        msg_type: bytes,
        seq: int,
        sending_time: bytes,
        body: bytes,
        header: Iterable[tuple[int, bytes]] = (),
    ) -> bytes:
        """One framed message. `header`: extra header fields (PossDupFlag, routing, ...),
        written with the standard ones in tag order."""
        seq_text = f"{seq}".encode("ascii")
        if header:
            fields = sorted(
                [(34, seq_text), (49, self._sender), (52, sending_time), (56, self._target),
                 *header]
            )  # fmt: skip
            return frame(
                self.begin_string, b"35=%s\x01%s%s" % (msg_type, encode_fields(fields), body)
            )
        typed = self._type_prefix.get(msg_type)
        if typed is None:
            prefix = b"35=%s\x0134=" % msg_type
            typed = self._type_prefix[msg_type] = (prefix, sum(prefix))
        prefix, prefix_sum = typed
        size = len(prefix) + len(seq_text) + self._fixed_size + len(sending_time) + len(body)
        length = _LENGTH_TEXT[size] if size < 1024 else b"%d\x01" % size
        total = (
            self._head_sum
            + prefix_sum
            + _piece_sum(length)
            + _piece_sum(seq_text)
            + _piece_sum(sending_time)
            + _piece_sum(body)
        )
        return b"".join(
            (
                self._head, length, prefix, seq_text, self._after_seq, sending_time,
                self._after_time, body, _CHECKSUM_FIELD[total & 0xFF],
            )
        )  # fmt: skip


class FixFramer:
    """Cut a TCP byte stream into candidate frames.

    Framing follows BodyLength, then looks for the ``SOH 10=`` trailer from there on, so that
    a frame with a wrong BodyLength is still cut at its trailer and later rejected as garbled
    by `decode` instead of desynchronising the stream. Bytes that cannot start a message are
    skipped. `next_frame` returns bytes, a GarbledMessage describing skipped input, or None
    when more bytes are needed.
    """

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self.max_message_size = max_message_size

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def take_rest(self) -> bytes:
        """Remove and return the bytes not yet framed."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _skip_to_next_start(self, origin: int, reason: str) -> GarbledMessage:
        buffer = self._buffer
        nxt = buffer.find(b"8=", origin + 1)
        if nxt < 0:
            keep = 1 if buffer[-1:] == b"8" else 0
            del buffer[: len(buffer) - keep]
        else:
            del buffer[:nxt]
        return GarbledMessage(reason, 0)

    def next_frame(self) -> bytes | GarbledMessage | None:
        buffer = self._buffer
        if not buffer:
            return None
        if not buffer.startswith(b"8="):
            start = buffer.find(b"8=")
            if start < 0:
                keep = 1 if buffer[-1:] == b"8" else 0
                skipped = len(buffer) - keep
                if not skipped:
                    return None
                del buffer[:skipped]
                return GarbledMessage(f"{skipped} bytes before any BeginString(8) skipped")
            del buffer[:start]
            return GarbledMessage(f"{start} bytes before BeginString(8) skipped")
        first = buffer.find(SOH)
        if first < 0:
            if len(buffer) > 32:
                return self._skip_to_next_start(0, "BeginString(8) is not terminated")
            return None
        if len(buffer) < first + 3:
            return None
        if buffer[first + 1 : first + 3] != b"9=":
            return self._skip_to_next_start(0, "BodyLength(9) is not the second field")
        second = buffer.find(SOH, first + 3)
        if second < 0:
            if len(buffer) - first > 16:
                return self._skip_to_next_start(0, "BodyLength(9) is not terminated")
            return None
        length_text = bytes(buffer[first + 3 : second])
        if not length_text.isdigit():
            return self._skip_to_next_start(0, f"BodyLength(9)={length_text!r} is not a number")
        length = int(length_text)
        if length > self.max_message_size:
            return self._skip_to_next_start(
                0, f"BodyLength(9)={length} exceeds the limit of {self.max_message_size} bytes"
            )
        body_end = second + 1 + length
        if len(buffer) < body_end:
            return None
        trailer = buffer.find(b"\x0110=", body_end - 1)
        if trailer < 0:
            if len(buffer) > body_end + self.max_message_size:
                return self._skip_to_next_start(0, "no CheckSum(10) trailer found")
            return None
        stop = buffer.find(SOH, trailer + 4)
        if stop < 0:
            if len(buffer) - trailer > 16:
                return self._skip_to_next_start(0, "CheckSum(10) is not terminated")
            return None
        data = bytes(buffer[: stop + 1])
        del buffer[: stop + 1]
        return data
