"""The FIX session layer as a sans-I/O state machine.

`FixSession` takes bytes and times in (`on_bytes(data, now_ns)`, `poll(now_ns)`) and gives
events back and bytes to send (`data_to_send()`). It never opens a socket and never reads a
clock itself: timers run on the monotonic `now_ns` passed in, and SendingTime comes from the
`Clock` it was given. A transport (`calarb.fix.transport`) moves the bytes.

Rules implemented (FIX 4.2 / 4.4 session protocol):

- Logon: CompIDs and BeginString must match the session; HeartBtInt is taken from the
  initiator's Logon; ResetSeqNumFlag(141)=Y resets both sequence numbers; Username(553) and
  Password(554) go to an authentication hook that may refuse the Logon (Logout with the
  reason, then disconnect). A Logon that fails SendingTime or CompID checks is answered by
  closing the connection.
- MsgSeqNum too high: the message is queued and a ResendRequest(2) asks for the gap (one
  outstanding request at a time); queued messages are processed once the gap is filled.
- MsgSeqNum too low without PossDupFlag(43)=Y: Logout "MsgSeqNum too low, expecting N but
  received M" and disconnect. With PossDupFlag=Y the message is ignored, after checking that
  OrigSendingTime(122) is present (else Reject, 371=122) and not later than SendingTime (else
  Reject "SendingTime accuracy problem" and Logout).
- SendingTime more than `max_latency_s` from our clock: Reject(373=10) and Logout.
- CompIDs that do not match on an established session: Reject(373=9) and Logout.
- ResendRequest: stored application messages are resent with PossDupFlag=Y and
  OrigSendingTime; every other number in the range (admin messages, numbers not stored) is
  covered by SequenceReset-GapFill. SequenceReset-Reset moves the expected number forward;
  a NewSeqNo lower than expected is rejected (373=5).
- Heartbeats every HeartBtInt when nothing was sent; a TestRequest after 1.2 x HeartBtInt of
  silence from the peer; disconnect after 2.4 x HeartBtInt.
- Logout handshake: a Logout is answered by a Logout and a disconnect; after sending a
  Logout we wait `logout_timeout_s` for the answer, then disconnect.
- Garbled messages (bad BodyLength, CheckSum, framing) are ignored without consuming a
  sequence number; before a Logon has been accepted, a garbled message closes the connection.
- Validation against a data dictionary answers with Reject(3) carrying RefSeqNum(45),
  RefTagID(371), RefMsgType(372), SessionRejectReason(373) and Text(58); an application
  message the application does not handle is answered by BusinessMessageReject(j) 380=3.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from calarb.core.clock import Clock
from calarb.fix.codec import (
    FixFramer,
    FixMessage,
    GarbledMessage,
    byte_sum,
    decode,
    encode_fields,
)
from calarb.fix.config import SessionSettings
from calarb.fix.dictionary import DataDictionary
from calarb.fix.errors import (
    BusinessMessageRejected,
    LogonRejected,
    MessageRejected,
    SessionRejectReason,
)
from calarb.fix.store import MemoryStore
from calarb.fix.timefmt import TimestampFormatter, parse_utc_timestamp

# Message types
LOGON, HEARTBEAT, TEST_REQUEST, RESEND_REQUEST = b"A", b"0", b"1", b"2"
REJECT, SEQUENCE_RESET, LOGOUT, BUSINESS_REJECT = b"3", b"4", b"5", b"j"
ADMIN_TYPES = frozenset(
    {LOGON, HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT}
)

# Header tags (FIX 4.2/4.4 standard header) used to split stored messages for resending.
HEADER_TAGS = frozenset(
    {8, 9, 35, 49, 56, 115, 128, 90, 91, 34, 50, 142, 57, 143, 116, 144, 129, 145, 43, 97, 52,
     122, 212, 213, 347, 369, 627, 628, 629, 630}
)  # fmt: skip
_REVERSE_ROUTE = ((115, 128), (128, 115), (116, 129), (129, 116), (144, 145), (145, 144))
_SECOND_NS = 1_000_000_000
_adler32 = zlib.adler32
_SHORT_PAYLOAD = 250  # BodyLength text + payload within 256 bytes: their sum fits Adler-32's


class Application(Protocol):
    def on_message(self, session: FixSession, message: FixMessage) -> None:
        """Called for every in-sequence application message, before the sequence number is
        consumed; may raise BusinessMessageRejected / UnsupportedMessageType."""


Authenticator = Callable[[str | None, str | None, FixMessage], None]
"""Called with Username, Password and the Logon; raise LogonRejected to refuse it."""


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedOn:
    next_sender_seq: int
    next_target_seq: int


@dataclass(frozen=True, slots=True)
class AppMessageReceived:
    message: FixMessage


@dataclass(frozen=True, slots=True)
class RejectSent:
    ref_seq_num: int | None
    reason: int
    tag: int | None
    text: str


@dataclass(frozen=True, slots=True)
class RejectReceived:
    message: FixMessage


@dataclass(frozen=True, slots=True)
class GarbledIgnored:
    reason: str


@dataclass(frozen=True, slots=True)
class ResendRequested:
    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The transport must flush `data_to_send()` and close the connection."""

    reason: str


SessionEvent = (
    LoggedOn
    | AppMessageReceived
    | RejectSent
    | RejectReceived
    | GarbledIgnored
    | ResendRequested
    | Disconnected
)


class FixSession:
    """One FIX session (a SenderCompID/TargetCompID pair on one BeginString)."""

    def __init__(
        self,
        settings: SessionSettings,
        clock: Clock,
        store: MemoryStore | None = None,
        dictionary: DataDictionary | None = None,
        application: Application | None = None,
        authenticate: Authenticator | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._monotonic_ns = clock.monotonic_ns
        self.store = store if store is not None else MemoryStore()
        self.dictionary = dictionary
        if dictionary is not None:
            dictionary.check_fields_have_values = settings.validate_fields_have_values
        self.application = application
        self.authenticate = authenticate
        self.initiator = settings.is_initiator
        self.begin_string = settings.begin_string.encode()
        self._fix42_or_later = settings.begin_string >= "FIX.4.2"
        self._sender = settings.sender_comp_id.encode()
        self._target = settings.target_comp_id.encode()
        self._timestamp = TimestampFormatter(millis=self._fix42_or_later)
        self.format_time = self._timestamp
        """Epoch ns -> this session's UTCTimestamp text (milliseconds from FIX 4.2 on)."""
        self._head = b"8=%s\x019=" % self.begin_string
        self._head_sum = sum(self._head)
        self._after_seq = b"\x0149=%s\x0152=" % self._sender
        self._after_time = b"\x0156=%s\x01" % self._target
        self._after_seq_sum = sum(self._after_seq)
        self._after_time_sum = sum(self._after_time)
        self._type_prefix: dict[bytes, tuple[bytes, int]] = {}
        self._outbound = bytearray()
        self._has_connected = False
        self._events: list[SessionEvent] = []
        self._framer = FixFramer(settings.max_message_size)
        self.connected = False
        self.connection: object | None = None  # the transport's handle, set by the transport
        self._reset_connection_state(0)

    # --- state ---------------------------------------------------------------------------

    def _reset_connection_state(self, now_ns: int) -> None:
        self.sent_logon = False
        self.received_logon = False
        self.sent_logout = False
        self.sent_reset = False
        self.received_reset = False
        self.heartbeat_ns = self.settings.heartbeat_interval_s * _SECOND_NS
        self.last_sent_ns = now_ns
        self.last_received_ns = now_ns
        self.connected_ns = now_ns
        self.logout_sent_ns = 0
        self.test_requests = 0
        self.resend_range: tuple[int, int] | None = None
        self._queue: dict[int, FixMessage] = {}
        self._disconnect_reason: str | None = None
        self._now = now_ns

    @property
    def logged_on(self) -> bool:
        return self.connected and self.sent_logon and self.received_logon

    @property
    def next_sender_seq(self) -> int:
        return self.store.next_sender_seq

    @property
    def next_target_seq(self) -> int:
        return self.store.next_target_seq

    def data_to_send(self) -> bytes:
        """Bytes for the peer. The store is flushed first: nothing leaves before it is journaled."""
        self.store.flush()
        if not self._outbound:
            return b""
        data = bytes(self._outbound)
        self._outbound.clear()
        return data

    def _take_events(self) -> list[SessionEvent]:
        events = self._events
        self._events = []
        return events

    # --- transport entry points --------------------------------------------------------

    def connection_made(self, now_ns: int) -> list[SessionEvent]:
        """A TCP connection is up. An initiator sends its Logon."""
        self.connected = True
        self._has_connected = True
        self._outbound.clear()  # nothing queued before this connection is for it
        self._framer = FixFramer(self.settings.max_message_size)
        self._reset_connection_state(now_ns)
        if self.initiator:
            if self.settings.reset_on_logon:
                self.store.reset()
            self._send_logon(reset=self.settings.reset_on_logon)
        return self._take_events()

    def connection_lost(self, now_ns: int) -> list[SessionEvent]:
        was_connected = self.connected
        self.connected = False
        if self.settings.reset_on_disconnect:
            self.store.reset()
        self._reset_connection_state(now_ns)
        self._outbound.clear()
        if was_connected:
            self._events.append(Disconnected("connection closed"))
        return self._take_events()

    def on_bytes(self, data: bytes, now_ns: int) -> list[SessionEvent]:
        """Bytes from the peer. Returns events; replies are in `data_to_send()`."""
        if not self.connected or self._disconnect_reason is not None:
            return self._take_events()
        self._now = now_ns
        framer = self._framer
        framer.feed(data)
        while self._disconnect_reason is None:
            frame = framer.next_frame()
            if frame is None:
                break
            if isinstance(frame, GarbledMessage):
                self._garbled(frame)
                continue
            try:
                message = decode(frame)
            except GarbledMessage as exc:
                self._garbled(exc)
                continue
            self._next(message, queued=False)
        return self._take_events()

    def poll(self, now_ns: int) -> list[SessionEvent]:
        """Run the timers: logon/logout timeouts, heartbeats, TestRequest, peer silence."""
        self._now = now_ns
        if not self.connected or self._disconnect_reason is not None:
            return self._take_events()
        if not self.received_logon:
            if now_ns - self.connected_ns >= self.settings.logon_timeout_s * _SECOND_NS:
                self._disconnect("timed out waiting for Logon")
            return self._take_events()
        if (
            self.sent_logout
            and now_ns - self.logout_sent_ns >= self.settings.logout_timeout_s * _SECOND_NS
        ):
            self._disconnect("timed out waiting for Logout response")
            return self._take_events()
        hb = self.heartbeat_ns
        if hb <= 0:
            return self._take_events()
        since_received = now_ns - self.last_received_ns
        if now_ns - self.last_sent_ns < hb and since_received < hb:
            return self._take_events()
        if since_received * 10 >= 24 * hb:
            self._disconnect("timed out waiting for heartbeat")
        elif since_received * 10 >= 12 * (self.test_requests + 1) * hb:
            self._send_admin(TEST_REQUEST, [(112, b"TEST")])
            self.test_requests += 1
        elif now_ns - self.last_sent_ns >= hb and self.test_requests == 0:
            self._send_admin(HEARTBEAT, [])
        return self._take_events()

    def next_deadline_ns(self) -> int | None:
        """When `poll` next has something to do (None: nothing scheduled)."""
        if not self.connected or self._disconnect_reason is not None:
            return None
        if not self.received_logon:
            return self.connected_ns + int(self.settings.logon_timeout_s * _SECOND_NS)
        deadlines = []
        if self.sent_logout:
            deadlines.append(self.logout_sent_ns + int(self.settings.logout_timeout_s * _SECOND_NS))
        hb = self.heartbeat_ns
        if hb > 0:
            deadlines.append(self.last_sent_ns + hb)
            deadlines.append(self.last_received_ns + 12 * (self.test_requests + 1) * hb // 10)
            deadlines.append(self.last_received_ns + 24 * hb // 10)
        return min(deadlines) if deadlines else None

    # --- application API -----------------------------------------------------------------

    def send(
        self, msg_type: bytes, body: list[tuple[int, bytes]], header: list[tuple[int, bytes]] = ()
    ) -> int:
        """Send a message (fields after the standard header); returns its MsgSeqNum."""
        self._now = self.clock.monotonic_ns()
        return self._emit(msg_type, encode_fields(body), header)

    def send_body(self, msg_type: bytes, body: bytes, sending_time: bytes | None = None) -> int:
        """Hot path: `body` is already encoded (tag=value SOH ...). `sending_time`: the
        SendingTime (52) text when the caller already formatted the current time with
        `format_time` (e.g. for TransactTime in the body), else the clock is read."""
        self._now = self._monotonic_ns()
        return self._emit(msg_type, body, (), None, True, sending_time)

    def logout(self, text: str | None = None) -> None:
        """Start the Logout handshake."""
        if self.connected and not self.sent_logout:
            self._send_logout(text)

    def reset_sequence_numbers(self) -> None:
        self.store.reset()

    # --- encoding ------------------------------------------------------------------------

    def _emit(
        self,
        msg_type: bytes,
        body: bytes,
        header: list[tuple[int, bytes]] | tuple = (),
        seq: int | None = None,
        persist: bool = True,
        sending_time: bytes | None = None,
    ) -> int:
        store = self.store
        if seq is None:
            seq = store.next_sender_seq
        prefix = self._type_prefix.get(msg_type)
        if prefix is None:
            text = b"35=%s\x0134=" % msg_type
            prefix = self._type_prefix[msg_type] = (text, sum(text))
        seq_text = b"%d" % seq
        if sending_time is None:
            sending_time = self._timestamp(self.clock.wall_ns())
        if header:
            fields = sorted(
                [
                    (34, seq_text),
                    (49, self._sender),
                    (52, sending_time),
                    (56, self._target),
                    *header,
                ]
            )
            std = b"35=%s\x01%s" % (msg_type, encode_fields(fields))
            payload = std + body
        else:
            payload = b"".join(
                (prefix[0], seq_text, self._after_seq, sending_time, self._after_time, body)
            )
        size = len(payload)
        length = b"%d\x01" % size
        if size <= _SHORT_PAYLOAD:  # one C call: Adler-32's low half is 1 + the exact sum
            total = self._head_sum - 1 + (_adler32(payload, _adler32(length)) & 0xFFFF)
        else:
            total = self._head_sum + byte_sum(length) + byte_sum(payload)
        raw = b"%s%s%s10=%03d\x01" % (self._head, length, payload, total & 0xFF)
        if self.received_logon or msg_type in ADMIN_TYPES or not self._has_connected:
            self._outbound += raw
        # else: an application message while not logged on is journaled (its MsgSeqNum is
        # used) but not sent; after the next Logon the peer sees the gap and asks for it, and
        # it is resent with PossDupFlag=Y, as QuickFIX does. It never goes out before Logon.
        # (A session never connected is used as a bare encoder: it always hands out bytes.)
        self.last_sent_ns = self._now
        if persist:
            if msg_type in ADMIN_TYPES or not self.settings.persist_messages:
                store.set_next_sender(seq + 1)
            else:
                store.save_message(seq, raw)
        return seq

    def _send_admin(self, msg_type: bytes, body: list[tuple[int, bytes]], header=()) -> int:
        return self._emit(msg_type, encode_fields(body), header)

    def _send_logon(self, reset: bool, heartbeat_s: int | None = None) -> None:
        body = [(98, b"0"), (108, b"%d" % (heartbeat_s or self.settings.heartbeat_interval_s))]
        if reset:
            body.append((141, b"Y"))
            self.sent_reset = True
        if self.initiator and self.settings.username:
            body.append((553, self.settings.username.encode()))
        if self.initiator and self.settings.password:
            body.append((554, self.settings.password.encode()))
        self._send_admin(LOGON, body)
        self.sent_logon = True

    def _send_logout(self, text: str | None = None) -> None:
        self._send_admin(LOGOUT, [(58, text.encode())] if text else [])
        self.sent_logout = True
        self.logout_sent_ns = self._now

    def _send_resend_request(self, received_seq: int) -> None:
        begin = self.store.next_target_seq
        end = 0 if self._fix42_or_later else 999999
        self._send_admin(RESEND_REQUEST, [(7, b"%d" % begin), (16, b"%d" % end)])
        self.resend_range = (begin, received_seq - 1)
        self._events.append(ResendRequested(begin, received_seq - 1))

    def _send_sequence_reset(self, seq: int, new_seq: int) -> None:
        now_text = self._timestamp(self.clock.wall_ns())
        self._emit(
            SEQUENCE_RESET,
            b"36=%d\x01123=Y\x01" % new_seq,
            [(43, b"Y"), (122, now_text)],
            seq=seq,
            persist=False,
        )

    def _send_reject(
        self, message: FixMessage, reason: SessionRejectReason, tag: int | None
    ) -> None:
        seq_text = message.get(34)
        msg_type = message.msg_type
        body: list[tuple[int, bytes]] = []
        if seq_text and seq_text.isdigit():
            body.append((45, b"%d" % int(seq_text)))
        text = reason.text
        if self._fix42_or_later:
            if msg_type:
                body.append((372, msg_type))
            if (
                self.settings.begin_string > "FIX.4.2"
                or reason <= SessionRejectReason.INVALID_MSGTYPE
            ):
                body.append((373, b"%d" % reason))
            if tag is not None:
                body.append((371, b"%d" % tag))
        elif tag is not None:
            text = f"{text} ({tag})"
        body.append((58, text.encode()))
        if (
            msg_type not in (LOGON, SEQUENCE_RESET)
            and seq_text
            and seq_text.isdigit()
            and int(seq_text) == self.store.next_target_seq
        ):
            self.store.set_next_target(self.store.next_target_seq + 1)
        body.sort()
        self._send_admin(REJECT, body, reverse_route(message))
        ref = int(seq_text) if seq_text and seq_text.isdigit() else None
        self._events.append(RejectSent(ref, int(reason), tag, text))

    def _send_business_reject(self, message: FixMessage, error: BusinessMessageRejected) -> None:
        seq_text = message.get(34) or b""
        body = [
            (45, seq_text),
            (58, error.text.encode()),
            (372, message.msg_type),
            (380, b"%d" % error.reason),
        ]
        if error.tag is not None:
            body.append((379, b"%d" % error.tag))
        if seq_text.isdigit() and int(seq_text) == self.store.next_target_seq:
            self.store.set_next_target(self.store.next_target_seq + 1)
        body.sort()
        self._send_admin(BUSINESS_REJECT, body, reverse_route(message))

    def _disconnect(self, reason: str) -> None:
        if self._disconnect_reason is None:
            self._disconnect_reason = reason
            self._events.append(Disconnected(reason))

    def _garbled(self, error: GarbledMessage) -> None:
        self._events.append(GarbledIgnored(error.reason))
        if not self.received_logon:
            self._disconnect(f"garbled message before Logon: {error.reason}")

    # --- inbound -------------------------------------------------------------------------

    def _next(self, message: FixMessage, queued: bool) -> None:
        if self._next_in_sequence_app(message):
            if not queued and self._queue:
                self._next_queued()
            return
        msg_type = message.msg_type
        try:
            for tag in (49, 56):
                if tag not in message:
                    raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, tag)
            if message.begin_string != self.begin_string:
                if msg_type == LOGOUT and self.received_logon:
                    self._next_logout(message)
                elif not self.received_logon:
                    self._disconnect("Incorrect BeginString on Logon")
                else:
                    self._send_logout("Incorrect BeginString")
                    self._increment_target()
                return
            if self.dictionary is not None:
                self.dictionary.validate(message)
            else:
                for tag in (34, 52):
                    if not message.get(tag):
                        raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, tag)
            handler = self._ADMIN_HANDLERS.get(msg_type)
            if handler is not None:
                handler(self, message)
            elif self._verify(message, True, True):
                self._deliver(message)
                self._increment_target()
        except (MessageRejected, BusinessMessageRejected, ValueError) as exc:
            self._rejected(message, msg_type, exc)
        if not queued:
            self._next_queued()

    def _rejected(
        self,
        message: FixMessage,
        msg_type: bytes,
        exc: MessageRejected | BusinessMessageRejected | ValueError,
    ) -> None:
        """The answer to a message the session or the application refused."""
        if isinstance(exc, BusinessMessageRejected):
            self._send_business_reject(message, exc)
        elif msg_type == LOGON:
            self._disconnect(f"invalid Logon: {exc}")
        elif isinstance(exc, MessageRejected):
            self._send_reject(message, exc.reason, exc.tag)
        else:  # a number that is not one, in a session-level field
            self._send_reject(message, SessionRejectReason.INCORRECT_DATA_FORMAT, None)

    def _next_in_sequence_app(self, message: FixMessage) -> bool:
        """Hot path: an application message that passes every session check, delivered with
        exactly the effects of the general path. Returns False, having changed nothing, for
        anything else (admin types, a gap, a wrong CompID or time, a dictionary error), which
        the general path then handles."""
        fields = message.by_text
        get = fields.get
        msg_type = get(b"35")
        seq_text = get(b"34")
        sent = get(b"52")
        if (
            not msg_type
            or msg_type in ADMIN_TYPES
            or not self.received_logon
            or not seq_text
            or not sent
            or get(b"49") != self._target
            or get(b"56") != self._sender
            or get(b"8") != self.begin_string
            or not seq_text.isdigit()
        ):
            return False
        store = self.store
        seq = int(seq_text)
        if seq != store.next_target_seq:
            return False
        if self.dictionary is not None:
            try:
                self.dictionary.validate(message)
            except (MessageRejected, ValueError):
                return False
        settings = self.settings
        if settings.check_latency:
            try:
                sent_ns = parse_utc_timestamp(sent)
            except ValueError:
                return False
            if abs(self.clock.wall_ns() - sent_ns) > settings.max_latency_s * _SECOND_NS:
                return False
        resend_range = self.resend_range
        if resend_range and seq >= resend_range[1]:
            self.resend_range = None
        self.last_received_ns = self._now
        self.test_requests = 0
        try:
            if self.application is not None:
                self.application.on_message(self, message)
            self._events.append(AppMessageReceived(message))
            store.set_next_target(seq + 1)
        except (MessageRejected, BusinessMessageRejected, ValueError) as exc:
            self._rejected(message, msg_type, exc)
        return True

    def _deliver(self, message: FixMessage) -> None:
        if self.application is not None:
            self.application.on_message(self, message)
        self._events.append(AppMessageReceived(message))

    def _increment_target(self) -> None:
        self.store.set_next_target(self.store.next_target_seq + 1)

    def _next_queued(self) -> None:
        queue = self._queue
        while queue and self._disconnect_reason is None and self.received_logon:
            message = queue.pop(self.store.next_target_seq, None)
            if message is None:
                # drop anything that fell below the expected number
                for seq in [s for s in queue if s < self.store.next_target_seq]:
                    del queue[seq]
                return
            if message.msg_type in (LOGON, RESEND_REQUEST):
                self._increment_target()
            else:
                self._next(message, queued=True)

    def _valid_logon_state(self, msg_type: bytes) -> bool:
        if (msg_type == LOGON and self.sent_reset) or self.received_reset:
            return True
        if (msg_type == LOGON) != self.received_logon:
            return True
        if msg_type == LOGOUT and self.sent_logon:
            return True
        if msg_type != LOGOUT and self.sent_logout:
            return True
        return msg_type in (SEQUENCE_RESET, REJECT)

    def _good_time(self, message: FixMessage) -> bool:
        if not self.settings.check_latency:
            return True
        try:
            sent = parse_utc_timestamp(message[52])
        except ValueError:
            return False
        return abs(self.clock.wall_ns() - sent) <= self.settings.max_latency_s * _SECOND_NS

    def _verify(self, message: FixMessage, check_high: bool, check_low: bool) -> bool:
        msg_type = message.msg_type
        if 52 not in message:
            raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, 52)
        seq = 0
        if check_high or check_low:
            seq_text = message.get(34)
            if not seq_text:
                raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, 34)
            seq = int(seq_text)
        if not self._valid_logon_state(msg_type):
            self._disconnect(
                f"MsgType {msg_type.decode(errors='replace')} is not valid in this logon state"
            )
            return False
        if not self._good_time(message):
            if msg_type == LOGON:
                self._disconnect("Logon SendingTime accuracy problem")
            else:
                self._send_reject(message, SessionRejectReason.SENDING_TIME_ACCURACY_PROBLEM, None)
                self._send_logout()
            return False
        if message[49] != self._target or message[56] != self._sender:
            if msg_type == LOGON:
                self._disconnect("Logon CompID problem")
            else:
                self._send_reject(message, SessionRejectReason.COMPID_PROBLEM, None)
                self._send_logout()
            return False
        expected = self.store.next_target_seq
        if check_high and seq > expected:
            self._target_too_high(message, seq)
            return False
        if check_low and seq < expected:
            self._target_too_low(message, seq, expected)
            return False
        if (check_high or check_low) and self.resend_range and seq >= self.resend_range[1]:
            self.resend_range = None
        self.last_received_ns = self._now
        self.test_requests = 0
        return True

    def _target_too_high(self, message: FixMessage, seq: int) -> None:
        self._queue[seq] = message
        if self.resend_range is not None and seq >= self.resend_range[0]:
            return  # a ResendRequest is already outstanding
        self._send_resend_request(seq)

    def _target_too_low(self, message: FixMessage, seq: int, expected: int) -> None:
        if message.get(43) != b"Y":
            text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
            self._send_logout(text)
            self._disconnect(text)
            return
        if message.msg_type != SEQUENCE_RESET:
            original = message.get(122)
            if original is None:
                self._send_reject(message, SessionRejectReason.REQUIRED_TAG_MISSING, 122)
                return
            try:
                too_late = parse_utc_timestamp(original) > parse_utc_timestamp(message[52])
            except ValueError:
                too_late = True
            if too_late:
                self._send_reject(message, SessionRejectReason.SENDING_TIME_ACCURACY_PROBLEM, None)
                self._send_logout()

    def _next_logon(self, message: FixMessage) -> None:
        received_reset = message.get(141) == b"Y"
        self.received_reset = received_reset
        if received_reset and not self.sent_reset:
            self.store.reset()
        if not self.initiator and self.settings.reset_on_logon:
            self.store.reset()
        if not self._verify(message, False, True):
            return
        if self.authenticate is not None and not self.initiator:
            user, password = message.get(553), message.get(554)
            try:
                self.authenticate(
                    user.decode() if user else None,
                    password.decode() if password else None,
                    message,
                )
            except LogonRejected as exc:
                self._send_logout(str(exc) or "Logon rejected")
                self._disconnect(f"Logon rejected: {exc}")
                return
        self.received_logon = True
        if not self.initiator or (received_reset and not self.sent_reset):
            heartbeat = message.get_int(108, 0) or 0
            self.heartbeat_ns = heartbeat * _SECOND_NS
            self._send_logon(reset=received_reset, heartbeat_s=heartbeat)
        self.sent_reset = False
        self.received_reset = False
        seq = int(message[34])
        if seq > self.store.next_target_seq and not received_reset:
            self._target_too_high(message, seq)
        else:
            self._increment_target()
        self._events.append(LoggedOn(self.store.next_sender_seq, self.store.next_target_seq))

    def _next_heartbeat(self, message: FixMessage) -> None:
        if self._verify(message, True, True):
            self._increment_target()

    def _next_test_request(self, message: FixMessage) -> None:
        if self._verify(message, True, True):
            test_id = message.get(112)
            self._send_admin(HEARTBEAT, [(112, test_id)] if test_id is not None else [])
            self._increment_target()

    def _next_reject(self, message: FixMessage) -> None:
        if self._verify(message, True, True):
            self._events.append(RejectReceived(message))
            self._increment_target()

    def _next_sequence_reset(self, message: FixMessage) -> None:
        gap_fill = message.get(123) == b"Y"
        if not self._verify(message, gap_fill, gap_fill):
            return
        new_seq_text = message.get(36)
        if new_seq_text is None:
            raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, 36)
        new_seq = int(new_seq_text)
        expected = self.store.next_target_seq
        if new_seq > expected:
            self.store.set_next_target(new_seq)
        elif new_seq < expected:
            self._send_reject(message, SessionRejectReason.VALUE_IS_INCORRECT, None)

    def _next_logout(self, message: FixMessage) -> None:
        if not self._verify(message, False, False):
            return
        reason = "Logout response received" if self.sent_logout else "Logout received"
        if not self.sent_logout:
            self._send_logout()
        self._increment_target()
        if self.settings.reset_on_logout:
            self.store.reset()
        self._disconnect(reason)

    def _next_resend_request(self, message: FixMessage) -> None:
        if not self._verify(message, False, False):
            return
        begin = int(message[7])
        end = int(message[16])
        next_sender = self.store.next_sender_seq
        if (self._fix42_or_later and end == 0) or end == 999999 or end >= next_sender:
            end = next_sender - 1
        if not self.settings.persist_messages:
            if begin <= end:
                self._send_sequence_reset(begin, min(end + 1, next_sender))
        else:
            stored = self.store.get_messages(begin, end)
            gap_start = 0
            for seq in range(begin, end + 1):
                raw = stored.get(seq)
                if raw is None:
                    gap_start = gap_start or seq
                    continue
                if gap_start:
                    self._send_sequence_reset(gap_start, seq)
                    gap_start = 0
                self._resend(raw)
            if gap_start:
                self._send_sequence_reset(gap_start, end + 1)
        seq = int(message[34])
        if seq == self.store.next_target_seq:
            self._increment_target()

    def _resend(self, raw: bytes) -> None:
        stored = decode(raw, verify=False)
        header = []
        body = []
        original_time = b""
        for tag, value in stored.fields[3:-1]:
            if tag in HEADER_TAGS:
                if tag == 52:
                    original_time = value
                elif tag not in (34, 49, 56, 43, 122):
                    header.append((tag, value))
            else:
                body.append((tag, value))
        header += [(43, b"Y"), (122, original_time)]
        self._emit(stored.msg_type, encode_fields(body), header, seq=int(stored[34]), persist=False)

    _ADMIN_HANDLERS: dict[bytes, Callable[[FixSession, FixMessage], None]] = {
        LOGON: _next_logon,
        HEARTBEAT: _next_heartbeat,
        TEST_REQUEST: _next_test_request,
        REJECT: _next_reject,
        SEQUENCE_RESET: _next_sequence_reset,
        LOGOUT: _next_logout,
        RESEND_REQUEST: _next_resend_request,
    }


def reverse_route(message: FixMessage) -> list[tuple[int, bytes]]:
    """Routing header fields for a reply: OnBehalfOf* <-> DeliverTo* (empty values dropped)."""
    route = []
    for source, target in _REVERSE_ROUTE:
        value = message.get(source)
        if value:
            route.append((target, value))
    return route


def split_header_body(
    message: FixMessage,
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """Header fields (other than 8, 9, 35) and body fields of a decoded message."""
    header, body = [], []
    for tag, value in message.fields:
        if tag in (8, 9, 35, 10):
            continue
        (header if tag in HEADER_TAGS else body).append((tag, value))
    return header, body
