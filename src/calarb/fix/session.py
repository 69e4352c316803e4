"""The FIX session layer as a sans-I/O state machine.

`FixSession` takes bytes and times in (`on_bytes(data, now_ns, wall_ns)`,
`poll(now_ns, wall_ns)`, `send(..., now_ns, wall_ns)`) and gives events back and bytes to send
(`data_to_send()`). It never opens a socket and never reads a clock: every call brings the
time, the monotonic `now_ns` for the timers and the epoch `wall_ns` for SendingTime and its
accuracy check. A transport (`calarb.fix.transport`) moves the bytes and keeps the connection.
Its lifecycle (awaiting Logon, logged on, Logout sent, ...) is the state machine of
`calarb.fix.state`; the envelope of every message (header, BodyLength, CheckSum) is written by
`calarb.fix.codec.Envelope`, the admin messages' bodies by `calarb.fix.admin`.

Rules implemented (FIX 4.2 / 4.4 session protocol):

- Logon: nothing changes before the Logon passes the checks that do not depend on sequence
  numbers: logon state, SendingTime, CompIDs, HeartBtInt (1 to 3600 s), Username(553) and
  Password(554) (the settings' Password, then the authentication hook). A refusal is a Logout
  with the reason that consumes and reveals no sequence number, then a disconnect. Then
  ResetSeqNumFlag(141)=Y resets both numbers and HeartBtInt is taken from the initiator's.
- MsgSeqNum too high: the message is queued and a ResendRequest(2) asks for the gap (one
  outstanding request at a time); queued messages are processed once the gap is filled.
- MsgSeqNum too low without PossDupFlag(43)=Y: Logout "MsgSeqNum too low, expecting N but
  received M" and disconnect. With PossDupFlag=Y the message is ignored, after checking that
  OrigSendingTime(122) is present (else Reject, 371=122) and not later than SendingTime (else
  Reject "SendingTime accuracy problem" and Logout).
- SendingTime more than `max_latency_s` from our clock: Reject(373=10, 371=52) and Logout;
  CompIDs that do not match on an established session: Reject(373=9, 371=49/56) and Logout.
- ResendRequest: stored application messages are resent with PossDupFlag=Y and
  OrigSendingTime; every other number in the range (admin messages, numbers not stored) is
  covered by SequenceReset-GapFill; served RESEND_CHUNK numbers at a time. SequenceReset-Reset
  moves the expected number forward; a NewSeqNo lower than expected is rejected (373=5).
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

from collections.abc import Callable
from typing import Protocol

from calarb.fix.admin import (
    ADMIN_REQUIRED,
    ADMIN_TYPES,
    HEARTBEAT,
    LOGON,
    LOGOUT,
    REJECT,
    RESEND_REQUEST,
    SEQUENCE_RESET,
    TEST_REQUEST,
)
from calarb.fix.codec import FixFramer, FixMessage, GarbledMessage, decode, encode_fields
from calarb.fix.config import SessionSettings
from calarb.fix.dictionary import DataDictionary
from calarb.fix.errors import (
    BusinessMessageRejected,
    MessageRejected,
    SessionRejectReason,
)
from calarb.fix.events import (
    AppMessageReceived,
    Disconnected,
    GarbledIgnored,
    LoggedOn,
    RejectReceived,
    SessionEvent,
)
from calarb.fix.logon_checks import credentials_problem, heartbeat_problem
from calarb.fix.outbound import SECOND_NS, OutboundSession
from calarb.fix.state import LOGOUT_PENDING, PEER_LOGGED_ON, SessionState, Trigger
from calarb.fix.store import MemoryStore
from calarb.fix.timefmt import parse_utc_timestamp

_LOGGED_ON = SessionState.LOGGED_ON
RESEND_CHUNK = 1_000
"""Sequence numbers of a ResendRequest served per turn of the event loop, at most: the range
is read from the store and written a chunk at a time (the transport waits for the peer to
drain its write buffer between chunks), never gathered whole."""
RESEND_CHUNK_BYTES = 64 * 1024
"""A chunk also ends at the resent message that brings it to this many bytes."""
_LOGOUT_SENT = SessionState.LOGOUT_SENT


class Application(Protocol):
    def on_message(self, session: FixSession, message: FixMessage) -> None:
        """Called for every in-sequence application message, before the sequence number is
        consumed; may raise BusinessMessageRejected / UnsupportedMessageType. A reply sent from
        here carries the time of the input: `session.now_ns`, `session.wall_ns`."""


Authenticator = Callable[[str | None, str | None, FixMessage], None]
"""Called with Username, Password and the Logon; raise LogonRejected to refuse it."""


class FixSession(OutboundSession):
    """One FIX session (a SenderCompID/TargetCompID pair on one BeginString): what it sends
    and when (`OutboundSession`), and here what it receives."""

    def __init__(
        self,
        settings: SessionSettings,
        store: MemoryStore | None = None,
        dictionary: DataDictionary | None = None,
        application: Application | None = None,
        authenticate: Authenticator | None = None,
    ) -> None:
        super().__init__(settings, store)
        self.dictionary = dictionary
        if dictionary is not None:
            dictionary.check_fields_have_values = settings.validate_fields_have_values
        self.application = application
        self.authenticate = authenticate
        self._framer = FixFramer(settings.max_message_size)
        self._resend_next, self._resend_end = 1, 0  # the range still to resend (none)

    # --- transport entry points --------------------------------------------------------

    def connection_made(self, now_ns: int, wall_ns: int) -> list[SessionEvent]:
        """A TCP connection is up. An initiator sends its Logon."""
        self._enter(Trigger.CONNECTION_MADE)
        self._outbound.clear()  # nothing queued before this connection is for it
        self._resend_next, self._resend_end = 1, 0
        self._framer = FixFramer(self.settings.max_message_size)
        self._reset_connection_data(now_ns)
        self.wall_ns = wall_ns
        if self.initiator:
            if self.settings.reset_on_logon:
                self.store.reset()
            self._send_logon(reset=self.settings.reset_on_logon)
        return self._take_events()

    def connection_lost(self, now_ns: int) -> list[SessionEvent]:
        """The connection went away. ResetOnDisconnect applies only to a connection whose
        Logon was accepted: a refused one changes nothing."""
        was_connected = self.connected
        was_logged_on = self.state in PEER_LOGGED_ON
        self._enter(Trigger.CONNECTION_LOST)
        self._resend_next, self._resend_end = 1, 0
        if self.settings.reset_on_disconnect and was_logged_on:
            self.store.reset()
        self._reset_connection_data(now_ns)
        self._outbound.clear()
        if was_connected:
            self._events.append(Disconnected("connection closed"))
        return self._take_events()

    def on_bytes(self, data: bytes, now_ns: int, wall_ns: int) -> list[SessionEvent]:
        """Bytes from the peer. Returns events; replies are in `data_to_send()`."""
        if self._closing():
            return self._take_events()
        self.now_ns = now_ns
        self.wall_ns = wall_ns
        framer = self._framer
        framer.feed(data)
        while self.disconnect_reason is None:
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
            self._next(message, False)
        return self._take_events()

    def _garbled(self, error: GarbledMessage) -> None:
        self._events.append(GarbledIgnored(error.reason))
        if self.state not in PEER_LOGGED_ON:
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
                self._wrong_begin_string(message)
                return
            if self.dictionary is not None:
                self.dictionary.validate(message)
            else:
                for tag in (34, 52, *ADMIN_REQUIRED.get(msg_type, ())):
                    if not message.get(tag):
                        raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, tag)
            handler = _ADMIN_HANDLERS.get(msg_type)
            if handler is not None:
                handler(self, message)
            elif self._verify(message, True, True):
                self._deliver(message)
                self._increment_target()
        except (MessageRejected, BusinessMessageRejected, ValueError) as exc:
            self._rejected(message, msg_type, exc)
        if not queued:
            self._next_queued()

    def _wrong_begin_string(self, message: FixMessage) -> None:
        """BeginString differs: a Logon is refused by closing, a Logout still ends the
        session, anything else is answered by a Logout."""
        if self.state not in PEER_LOGGED_ON:
            self._disconnect("Incorrect BeginString on Logon")
        elif message.msg_type == LOGOUT:
            self._next_logout(message)
        else:
            self._send_logout("Incorrect BeginString")
            self._increment_target()

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
            self._refuse_logon(f"invalid Logon: {exc}")
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
        state = self.state
        if (
            not msg_type
            or msg_type in ADMIN_TYPES
            or (state is not _LOGGED_ON and state is not _LOGOUT_SENT)
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
            if abs(self.wall_ns - sent_ns) > settings.max_latency_s * SECOND_NS:
                return False
        resend_range = self.resend_range
        if resend_range and seq >= resend_range[1]:
            self.resend_range = None
        self.last_received_ns = self.now_ns
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
        """Messages received ahead of a gap, in order, once the gap is filled."""
        queue = self._queue
        while queue and self.disconnect_reason is None and self.state in PEER_LOGGED_ON:
            message = queue.pop(self.store.next_target_seq, None)
            if message is None:
                # drop anything that fell below the expected number
                for seq in [s for s in queue if s < self.store.next_target_seq]:
                    del queue[seq]
                return
            if message.msg_type in (LOGON, RESEND_REQUEST):
                self._increment_target()
            else:
                self._next(message, True)

    # --- session-level checks ------------------------------------------------------------

    def _reset_logon_pending(self) -> bool:
        """Our Logon asked for a sequence reset (141=Y) and the peer's is not accepted yet."""
        return self.initiator and self.settings.reset_on_logon and self.state not in PEER_LOGGED_ON

    def _valid_logon_state(self, msg_type: bytes, reset_requested: bool) -> bool:
        """Whether `msg_type` may arrive now: a Logon before the peer is logged on, anything
        else after (a Logout once ours is out; SequenceReset and Reject always); a Logon
        asking for a reset whatever the state."""
        state = self.state
        peer_logged_on = state in PEER_LOGGED_ON
        if reset_requested or (msg_type == LOGON and self._reset_logon_pending()):
            return True
        if (msg_type == LOGON) != peer_logged_on:
            return True
        if msg_type == LOGOUT and (self.initiator or peer_logged_on):  # our Logon is out
            return True
        if msg_type != LOGOUT and state in LOGOUT_PENDING:
            return True
        return msg_type in (SEQUENCE_RESET, REJECT)

    def _good_time(self, message: FixMessage, wall_ns: int | None = None) -> bool:
        """SendingTime within `max_latency_s` of our wall time (the input's, or `wall_ns`)."""
        if not self.settings.check_latency:
            return True
        try:
            sent = parse_utc_timestamp(message[52])
        except ValueError:
            return False
        now = self.wall_ns if wall_ns is None else wall_ns
        return abs(now - sent) <= self.settings.max_latency_s * SECOND_NS

    def _verify(
        self,
        message: FixMessage,
        check_high: bool,
        check_low: bool,
        reset_requested: bool = False,
    ) -> bool:
        """The checks every message goes through before it acts: logon state, SendingTime,
        CompIDs, then MsgSeqNum (too high: queue and ask; too low: see `_target_too_low`).
        False when the message must not act (the answer has been given)."""
        msg_type = message.msg_type
        if 52 not in message:
            raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, 52)
        seq = 0
        if check_high or check_low:
            seq_text = message.get(34)
            if not seq_text:
                raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, 34)
            seq = int(seq_text)
        if not self._valid_logon_state(msg_type, reset_requested):
            self._disconnect(
                f"MsgType {msg_type.decode(errors='replace')} is not valid in this logon state"
            )
            return False
        if not self._good_time(message):
            self._refuse(message, SessionRejectReason.SENDING_TIME_ACCURACY_PROBLEM, 52)
            return False
        if message[49] != self._target or message[56] != self._sender:
            tag = 49 if message[49] != self._target else 56
            self._refuse(message, SessionRejectReason.COMPID_PROBLEM, tag)
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
        self.last_received_ns = self.now_ns
        self.test_requests = 0
        return True

    def _refuse(self, message: FixMessage, reason: SessionRejectReason, tag: int) -> None:
        """A Logon is refused by a Logout; any other message by a Reject naming the tag, then a
        Logout whose Text gives the reason."""
        if message.msg_type == LOGON:
            self._refuse_logon(reason.text)
        else:
            self._send_reject(message, reason, tag)
            self._send_logout(reason.text)

    def _target_too_high(self, message: FixMessage, seq: int) -> None:
        """A gap: keep the message for later and ask for the missing ones (once)."""
        self._queue[seq] = message
        if self.resend_range is not None and seq >= self.resend_range[0]:
            return  # a ResendRequest is already outstanding
        self._send_resend_request(seq)

    def _target_too_low(self, message: FixMessage, seq: int, expected: int) -> None:
        """Too low without PossDupFlag=Y ends the session; a possible duplicate is ignored
        once its OrigSendingTime checks out."""
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
                reason = SessionRejectReason.SENDING_TIME_ACCURACY_PROBLEM
                self._send_reject(message, reason, 122)
                self._send_logout(reason.text)

    # --- admin messages received -----------------------------------------------------------

    def _next_logon(self, message: FixMessage) -> None:
        """A Logon changes nothing (sequence numbers, ResetSeqNumFlag, state) before it has
        passed every check that does not depend on sequence numbers: logon state,
        SendingTime, CompIDs, HeartBtInt and the credentials. A refusal is a Logout whose Text
        says why, with no sequence number of ours consumed and none of theirs revealed."""
        reset_requested = message.get(141) == b"Y"
        reset_sent = self._reset_logon_pending()
        if not self._acceptable_logon(message, reset_requested):
            return
        if reset_requested and not reset_sent:
            self.store.reset()
        if not self.initiator and self.settings.reset_on_logon:
            self.store.reset()
        if not self._verify(message, False, True, reset_requested):
            return
        self._enter(Trigger.PEER_LOGON_ACCEPTED)
        if not self.initiator or (reset_requested and not reset_sent):
            heartbeat = message.get_int(108, 0) or 0
            self.heartbeat_ns = heartbeat * SECOND_NS
            self._send_logon(reset=reset_requested, heartbeat_s=heartbeat)
        seq = int(message[34])
        if seq > self.store.next_target_seq and not reset_requested:
            self._target_too_high(message, seq)
        else:
            self._increment_target()
        self._events.append(LoggedOn(self.store.next_sender_seq, self.store.next_target_seq))

    def _acceptable_logon(self, message: FixMessage, reset_requested: bool) -> bool:
        """The checks a Logon passes before it may change anything; False once refused."""
        if 52 not in message:
            raise MessageRejected(SessionRejectReason.REQUIRED_TAG_MISSING, 52)
        if not self._valid_logon_state(LOGON, reset_requested):
            self._disconnect("Logon is not valid in this logon state")
            return False
        problem = self._logon_problem(message, reset_requested, self.wall_ns)
        if problem is not None:
            self._refuse_logon(problem)
            return False
        return True

    def _logon_problem(
        self, message: FixMessage, reset_requested: bool, wall_ns: int
    ) -> str | None:
        """Why a Logon must be refused by the checks that need no sequence number and no
        logon state (SendingTime, CompIDs, HeartBtInt, credentials); None: it passes.
        Sends and changes nothing."""
        if not self._good_time(message, wall_ns):
            return "SendingTime accuracy problem"
        if message[49] != self._target or message[56] != self._sender:
            return "CompID problem"
        if not self.initiator or (reset_requested and not self._reset_logon_pending()):
            problem = heartbeat_problem(self.settings, message)
            if problem is not None:
                return problem
        if self.initiator:
            return None
        return credentials_problem(self.settings, self.authenticate, message)

    def _refuse_logon(self, reason: str) -> None:
        """Logout with the reason, then disconnect. The Logout does not consume a sequence
        number: an unauthenticated peer changes nothing on the session."""
        if not self.initiator and self.state not in PEER_LOGGED_ON:
            self._emit(
                LOGOUT, encode_fields([(58, reason.encode())]), self._timestamp(self.wall_ns),
                (), self.store.next_sender_seq, False,
            )  # fmt: skip
        else:
            self._send_logout(reason)
        self._disconnect(f"Logon refused: {reason}")

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
        """GapFill is sequenced like any message; Reset mode moves the expected number
        forward whatever its MsgSeqNum, and refuses to move it back (373=5)."""
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
            self._send_reject(message, SessionRejectReason.VALUE_IS_INCORRECT, 36)

    def _next_logout(self, message: FixMessage) -> None:
        """Their Logout: answered (unless it answers ours), then disconnect."""
        if not self._verify(message, False, False):
            return
        ours_was_out = self.state in LOGOUT_PENDING
        reason = "Logout response received" if ours_was_out else "Logout received"
        if not ours_was_out:
            self._send_logout()
        self._increment_target()
        if self.settings.reset_on_logout:
            self.store.reset()
        self._disconnect(reason)

    def _next_resend_request(self, message: FixMessage) -> None:
        """Served RESEND_CHUNK numbers at a time: the first chunk now, the rest by
        `continue_resend` (a new request replaces one still being served)."""
        if not self._verify(message, False, False):
            return
        begin = max(1, int(message[7]))
        end = int(message[16])
        next_sender = self.store.next_sender_seq
        if (self._fix42_or_later and end == 0) or end == 999999 or end >= next_sender:
            end = next_sender - 1
        if self.settings.persist_messages:
            self._resend_next, self._resend_end = begin, end
            self._resend_chunk()
        elif begin <= end:
            self._send_sequence_reset(begin, min(end + 1, next_sender))
        seq = int(message[34])
        if seq == self.store.next_target_seq:
            self._increment_target()

    @property
    def resending(self) -> bool:
        """A ResendRequest is partly served: `continue_resend` has more to send."""
        return self._resend_next <= self._resend_end

    def continue_resend(self, now_ns: int, wall_ns: int) -> None:
        """The next chunk of the range being resent (bytes in `data_to_send()`); the range
        is dropped unless the session is still logged on."""
        if self.state is not _LOGGED_ON:
            self._resend_next, self._resend_end = 1, 0
            return
        self.now_ns, self.wall_ns = now_ns, wall_ns
        self._resend_chunk()

    def _resend_chunk(self) -> None:
        """The next RESEND_CHUNK numbers (or RESEND_CHUNK_BYTES) of the range: stored
        application messages again, every other number (admin messages, numbers not stored)
        covered by SequenceReset-GapFill (a gap running on past the chunk gets one per
        chunk)."""
        begin = self._resend_next
        end = min(self._resend_end, begin + RESEND_CHUNK - 1)
        self._resend_next = end + 1
        stored = self.store.get_messages(begin, end)
        outbound = self._outbound
        full = len(outbound) + RESEND_CHUNK_BYTES
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
            if len(outbound) >= full:
                self._resend_next = seq + 1
                return
        if gap_start:
            self._send_sequence_reset(gap_start, end + 1)


_ADMIN_HANDLERS: dict[bytes, Callable[[FixSession, FixMessage], None]] = {
    LOGON: FixSession._next_logon,
    HEARTBEAT: FixSession._next_heartbeat,
    TEST_REQUEST: FixSession._next_test_request,
    REJECT: FixSession._next_reject,
    SEQUENCE_RESET: FixSession._next_sequence_reset,
    LOGOUT: FixSession._next_logout,
    RESEND_REQUEST: FixSession._next_resend_request,
}
