"""The half of a FIX session that speaks on its own: the lifecycle state, the envelope and
journal of every message sent, the admin messages, and the timers (heartbeats, TestRequest,
logon and logout timeouts). `calarb.fix.session.FixSession` adds the half that listens.

Nothing here reads a clock: `now_ns` (monotonic, timers) and `wall_ns` (epoch, SendingTime)
come with every call and stay on the session while it is handled.
"""

from __future__ import annotations

from calarb.fix.admin import (
    ADMIN_TYPES,
    BUSINESS_REJECT,
    HEARTBEAT,
    LOGON,
    LOGOUT,
    REJECT,
    RESEND_REQUEST,
    SEQUENCE_RESET,
    TEST_REQUEST,
    business_reject_body,
    gap_fill_body,
    logon_body,
    reject_body,
    resend_parts,
    resend_request_body,
    reverse_route,
)
from calarb.fix.codec import Envelope, FixMessage, encode_fields
from calarb.fix.config import SessionSettings
from calarb.fix.errors import BusinessMessageRejected, SessionRejectReason
from calarb.fix.events import Disconnected, RejectSent, ResendRequested, SessionEvent
from calarb.fix.state import (
    CONNECTED,
    LOGOUT_PENDING,
    PEER_LOGGED_ON,
    Role,
    SessionState,
    Trigger,
    next_state,
)
from calarb.fix.store import MemoryStore
from calarb.fix.timefmt import TimestampFormatter

SECOND_NS = 1_000_000_000
_UNCONNECTED = SessionState.UNCONNECTED
_LOGGED_ON = SessionState.LOGGED_ON
_LOGOUT_SENT = SessionState.LOGOUT_SENT


class OutboundSession:
    """The lifecycle `state` (`calarb.fix.state.SessionState`), what we send and when.
    `now_ns` and `wall_ns` are the time brought by the call being handled."""

    def __init__(self, settings: SessionSettings, store: MemoryStore | None = None) -> None:
        self.settings = settings
        self.store = store if store is not None else MemoryStore()
        self.initiator = settings.is_initiator
        self.role = Role.INITIATOR if self.initiator else Role.ACCEPTOR
        self.state = SessionState.UNCONNECTED
        self.begin_string = settings.begin_string.encode()
        self._fix42_or_later = settings.begin_string >= "FIX.4.2"
        self._sender = settings.sender_comp_id.encode()
        self._target = settings.target_comp_id.encode()
        self._timestamp = TimestampFormatter(millis=self._fix42_or_later)
        self.format_time = self._timestamp
        """Epoch ns -> this session's UTCTimestamp text (milliseconds from FIX 4.2 on)."""
        self._envelope = Envelope(self.begin_string, self._sender, self._target)
        self._outbound = bytearray()
        self._events: list[SessionEvent] = []
        self.now_ns = 0
        self.wall_ns = 0
        self._reset_connection_data(0)

    # --- state ---------------------------------------------------------------------------

    def _reset_connection_data(self, now_ns: int) -> None:
        """What one connection accumulates: timers, the outstanding ResendRequest, the queue
        of messages received ahead of a gap, a decided disconnect."""
        self.heartbeat_ns = self.settings.heartbeat_interval_s * SECOND_NS
        self.last_sent_ns = now_ns
        self.last_received_ns = now_ns
        self.connected_ns = now_ns
        self.logout_sent_ns = 0
        self.test_requests = 0
        """TestRequests sent since the peer last spoke."""
        self.resend_range: tuple[int, int] | None = None
        """The outstanding ResendRequest's (begin, end), until a message reaches its end."""
        self._queue: dict[int, FixMessage] = {}
        self.disconnect_reason: str | None = None
        self.now_ns = now_ns

    def _enter(self, trigger: Trigger) -> None:
        self.state = next_state(self.role, self.state, trigger)

    @property
    def connected(self) -> bool:
        return self.state in CONNECTED

    @property
    def logged_on(self) -> bool:
        """Both Logons exchanged (a Logout may be under way)."""
        state = self.state
        return state is _LOGGED_ON or state is _LOGOUT_SENT

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

    def _closing(self) -> bool:
        """Nothing more is read: not connected, or a disconnect was decided."""
        return self.disconnect_reason is not None or self.state not in CONNECTED

    def poll(self, now_ns: int, wall_ns: int) -> list[SessionEvent]:
        """Run the timers: logon/logout timeouts, heartbeats, TestRequest, peer silence."""
        self.now_ns = now_ns
        self.wall_ns = wall_ns
        if self._closing():
            return self._take_events()
        if self.state not in PEER_LOGGED_ON:
            if now_ns - self.connected_ns >= self.settings.logon_timeout_s * SECOND_NS:
                self._disconnect("timed out waiting for Logon")
        elif self.state is _LOGOUT_SENT and self._logout_timed_out(now_ns):
            self._disconnect("timed out waiting for Logout response")
        else:
            self._heartbeat_timers(now_ns)
        return self._take_events()

    def _logout_timed_out(self, now_ns: int) -> bool:
        return now_ns - self.logout_sent_ns >= self.settings.logout_timeout_s * SECOND_NS

    def _heartbeat_timers(self, now_ns: int) -> None:
        """Heartbeat after HeartBtInt without sending; TestRequest after 1.2 x HeartBtInt of
        the peer's silence (again at 2.4 x); disconnect after 2.4 x."""
        hb = self.heartbeat_ns
        if hb <= 0:
            return
        since_received = now_ns - self.last_received_ns
        if now_ns - self.last_sent_ns < hb and since_received < hb:
            return
        if since_received * 10 >= 24 * hb:
            self._disconnect("timed out waiting for heartbeat")
        elif since_received * 10 >= 12 * (self.test_requests + 1) * hb:
            self._send_admin(TEST_REQUEST, [(112, b"TEST")])
            self.test_requests += 1
        elif now_ns - self.last_sent_ns >= hb and self.test_requests == 0:
            self._send_admin(HEARTBEAT, [])

    def next_deadline_ns(self) -> int | None:
        """When `poll` next has something to do (None: nothing scheduled)."""
        if self._closing():
            return None
        if self.state not in PEER_LOGGED_ON:
            return self.connected_ns + int(self.settings.logon_timeout_s * SECOND_NS)
        deadlines = []
        if self.state is _LOGOUT_SENT:
            deadlines.append(self.logout_sent_ns + int(self.settings.logout_timeout_s * SECOND_NS))
        hb = self.heartbeat_ns
        if hb > 0:
            deadlines.append(self.last_sent_ns + hb)
            deadlines.append(self.last_received_ns + 12 * (self.test_requests + 1) * hb // 10)
            deadlines.append(self.last_received_ns + 24 * hb // 10)
        return min(deadlines) if deadlines else None

    # --- application API -----------------------------------------------------------------

    def send(
        self,
        msg_type: bytes,
        body: list[tuple[int, bytes]],
        now_ns: int,
        wall_ns: int,
        header: list[tuple[int, bytes]] | tuple = (),
    ) -> int:
        """Send a message (fields after the standard header); returns its MsgSeqNum."""
        self.now_ns = now_ns
        self.wall_ns = wall_ns
        return self._emit(msg_type, encode_fields(body), self._timestamp(wall_ns), header)

    def send_body(
        self,
        msg_type: bytes,
        body: bytes,
        now_ns: int,
        wall_ns: int,
        sending_time: bytes | None = None,
    ) -> int:
        """Hot path: `body` is already encoded (tag=value SOH ...). `sending_time`: `wall_ns`
        as SendingTime (52) text when the caller already formatted it with `format_time`
        (e.g. for TransactTime in the body)."""
        self.now_ns = now_ns
        self.wall_ns = wall_ns
        if sending_time is None:
            sending_time = self._timestamp.format(wall_ns)
        return self._emit(msg_type, body, sending_time)

    def logout(self, now_ns: int, wall_ns: int, text: str | None = None) -> None:
        """Start the Logout handshake."""
        if self.connected and self.state not in LOGOUT_PENDING:
            self.now_ns = now_ns
            self.wall_ns = wall_ns
            self._send_logout(text)

    def reset_sequence_numbers(self) -> None:
        self.store.reset()

    # --- outbound ------------------------------------------------------------------------

    def _emit(
        self,
        msg_type: bytes,
        body: bytes,
        sending_time: bytes,
        header: list[tuple[int, bytes]] | tuple = (),
        seq: int | None = None,
        persist: bool = True,
    ) -> int:
        """Frame, queue for the peer and journal one message (a resend: `seq`, not persisted).

        An application message while the peer is not logged on is journaled (its MsgSeqNum
        is used) but not sent; after the next Logon the peer sees the gap and asks for it,
        and it is resent with PossDupFlag=Y, as QuickFIX does. It never goes out before
        Logon. (A session never connected is a bare encoder: it always hands out bytes.)"""
        store = self.store
        if seq is None:
            seq = store.next_sender_seq
        raw = self._envelope.wrap(msg_type, seq, sending_time, body, header)
        state = self.state
        if (
            state is _LOGGED_ON
            or msg_type in ADMIN_TYPES
            or state is _LOGOUT_SENT
            or state is _UNCONNECTED
        ):
            self._outbound += raw
        self.last_sent_ns = self.now_ns
        if persist:
            if msg_type in ADMIN_TYPES or not self.settings.persist_messages:
                store.set_next_sender(seq + 1)
            else:
                store.save_message(seq, raw)
        return seq

    def _send_admin(self, msg_type: bytes, body: list[tuple[int, bytes]], header=()) -> int:
        return self._emit(msg_type, encode_fields(body), self._timestamp(self.wall_ns), header)

    def _send_logon(self, reset: bool, heartbeat_s: int | None = None) -> None:
        settings = self.settings
        credentials = (settings.username, settings.password) if self.initiator else (None, None)
        body = logon_body(heartbeat_s or settings.heartbeat_interval_s, reset, *credentials)
        self._send_admin(LOGON, body)

    def _send_logout(self, text: str | None = None) -> None:
        self._send_admin(LOGOUT, [(58, text.encode())] if text else [])
        self._enter(Trigger.LOGOUT_SENT)
        self.logout_sent_ns = self.now_ns

    def _send_resend_request(self, received_seq: int) -> None:
        begin = self.store.next_target_seq
        self._send_admin(RESEND_REQUEST, resend_request_body(begin, self._fix42_or_later))
        self.resend_range = (begin, received_seq - 1)
        self._events.append(ResendRequested(begin, received_seq - 1))

    def _send_sequence_reset(self, seq: int, new_seq: int) -> None:
        """SequenceReset-GapFill sent as MsgSeqNum `seq` (PossDupFlag=Y, not journaled)."""
        now_text = self._timestamp(self.wall_ns)
        header = [(43, b"Y"), (122, now_text)]
        self._emit(SEQUENCE_RESET, gap_fill_body(new_seq), now_text, header, seq, False)

    def _resend(self, raw: bytes) -> None:
        """A stored application message again, with PossDupFlag=Y and OrigSendingTime."""
        msg_type, seq, header, body = resend_parts(raw)
        now_text = self._timestamp(self.wall_ns)
        self._emit(msg_type, encode_fields(body), now_text, header, seq, False)

    def _consume_if_expected(self, seq_text: bytes | None) -> None:
        """A refused message that was the expected one still uses up its number."""
        if seq_text and seq_text.isdigit() and int(seq_text) == self.store.next_target_seq:
            self._increment_target()

    def _send_reject(
        self, message: FixMessage, reason: SessionRejectReason, tag: int | None
    ) -> None:
        body, text = reject_body(message, reason, tag, self.settings.begin_string)
        seq_text = message.get(34)
        if message.msg_type not in (LOGON, SEQUENCE_RESET):
            self._consume_if_expected(seq_text)
        self._send_admin(REJECT, body, reverse_route(message))
        ref = int(seq_text) if seq_text and seq_text.isdigit() else None
        self._events.append(RejectSent(ref, int(reason), tag, text))

    def _send_business_reject(self, message: FixMessage, error: BusinessMessageRejected) -> None:
        body = business_reject_body(message, error)
        self._consume_if_expected(message.get(34))
        self._send_admin(BUSINESS_REJECT, body, reverse_route(message))

    def _disconnect(self, reason: str) -> None:
        if self.disconnect_reason is None:
            self.disconnect_reason = reason
            self._events.append(Disconnected(reason))
