"""One TCP connection carrying one FIX session (`SessionConnection`, an asyncio Protocol) and
the counts and rate-limited WARNING lines of what the transports refused (`TransportStats`).

The connection moves bytes between its socket and its session, runs the session's timers,
routes an acceptor's first message to its session by CompIDs (refusing what is not a Logon for
a known, free session, or taking a session over from a half-open peer), reads at most
READ_BUDGET bytes per turn of the loop, cuts off a peer over its write-buffer high-water mark,
and serves a ResendRequest chunk by chunk. `calarb.fix.transport` builds acceptors and
initiators on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from calarb.core.clock import Clock
from calarb.fix.codec import FixFramer, FixMessage, GarbledMessage, decode
from calarb.fix.events import Disconnected, LoggedOn, SessionEvent
from calarb.fix.limits import MAX_LOGON_SIZE, MAX_MESSAGE_SIZE, MAX_WRITE_BUFFER, READ_BUDGET
from calarb.fix.logon_checks import takeover_refusal
from calarb.fix.session import FixSession
from calarb.fix.state import SessionState

log = logging.getLogger("calarb.fix")
RESEND_DRAIN_POLL_S = 0.005
"""How often a ResendRequest being served looks whether the peer drained its buffer."""


def _identity(message: FixMessage) -> str:
    """BeginString, SenderCompID and TargetCompID of a message, for a log line (bounded)."""
    parts = (message.begin_string, message.get(49) or b"-", message.get(56) or b"-")
    return "/".join(part.decode("latin-1")[:32] for part in parts)


@dataclass
class TransportStats:
    """What a transport refused or cut off, and the WARNING lines that say so (with the peer's
    address): at most `log_burst` per `log_window_s`, the rest counted and reported in one
    line when the window turns, so a flood of bad connections cannot flood the log."""

    log_burst: int = 20
    log_window_s: float = 10.0
    connections_refused: int = 0
    """Connections closed before a Logon reached a session (garbage, unknown CompIDs, ...)."""
    logons_refused: int = 0
    """Logons a session refused (credentials, SendingTime, HeartBtInt, ...)."""
    slow_consumers_disconnected: int = 0
    """Peers that stopped reading: their write buffer went over the high-water mark."""
    sessions_taken_over: int = 0
    """Connections replaced by an authenticated Logon for their session after a silence
    longer than their HeartBtInt (a half-open peer; `calarb.fix.logon_checks.takeover_refusal`)."""
    lines_suppressed: int = 0
    """Refusal lines not logged (over the rate limit), over the whole run."""
    _window_start_ns: int | None = None
    _logged_in_window: int = 0
    _suppressed_in_window: int = 0

    def warn(self, now_ns: int, text: str, *args: object) -> None:
        """`log.warning(text, *args)` within the rate limit."""
        window_ns = int(self.log_window_s * 1e9)
        if self._window_start_ns is None or now_ns - self._window_start_ns >= window_ns:
            if self._suppressed_in_window:
                log.warning("%d more FIX refusals not logged in the last %.0f s",
                            self._suppressed_in_window, self.log_window_s)  # fmt: skip
            self._window_start_ns = now_ns
            self._logged_in_window = self._suppressed_in_window = 0
        if self._logged_in_window < self.log_burst:
            self._logged_in_window += 1
            log.warning(text, *args)
        else:
            self._suppressed_in_window += 1
            self.lines_suppressed += 1


class SessionConnection(asyncio.Protocol):
    """One TCP connection carrying one session (bound at once, or on the first message).

    `connections` is its owner's session -> live connection map: bound, the connection
    enters it; lost, it leaves it. What the peer does not read waits in the transport's write
    buffer; over `write_buffer_limit` bytes the peer is sent a Logout saying why and the
    connection is aborted (its buffer dropped), so one peer that does not read can neither
    grow the process without bound nor hold the loop for the others."""

    def __init__(
        self,
        clock: Clock,
        connections: dict[FixSession, SessionConnection],
        session: FixSession | None = None,
        router: Callable[[bytes], FixSession | None] | None = None,
        on_event: Callable[[FixSession, SessionEvent], None] | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        write_buffer_limit: int = MAX_WRITE_BUFFER,
        stats: TransportStats | None = None,
    ) -> None:
        self.clock = clock
        self.connections = connections
        self.session = session
        self._router = router
        self._on_event = on_event
        self._pending = FixFramer(min(max_message_size, MAX_LOGON_SIZE))  # before a session
        self.write_buffer_limit = write_buffer_limit
        self.stats = stats if stats is not None else TransportStats()
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self._logged_on = False
        self._backlog = bytearray()  # read but not yet handled (see data_received)
        self._backlog_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_steady = False  # armed while logged on with no Logout sent
        self._resend_scheduled = False  # a `_continue_resend` is due
        self.closed = asyncio.get_running_loop().create_future()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"
        # pause_writing() is called once the buffer goes over the limit: the overflow signal
        transport.set_write_buffer_limits(high=self.write_buffer_limit)  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.session is not None:
            self._bind(self.session)
        else:  # acceptor: a peer that never sends a Logon is dropped
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(10.0, self._close)

    def data_received(self, data: bytes) -> None:
        """Bytes from the peer. At most `READ_BUDGET` bytes are handled per turn of the event
        loop: a larger read is cut, reading pauses, and the rest follows on the next turns,
        so a peer that floods cannot hold the loop against the other sessions."""
        if len(data) > READ_BUDGET or self._backlog:
            self._backlog += data
            if not self._backlog_scheduled:
                self._backlog_scheduled = True
                self.transport.pause_reading()  # type: ignore[union-attr]
                asyncio.get_running_loop().call_soon(self._next_chunk)
            return
        self._received(data)

    def _next_chunk(self) -> None:
        backlog = self._backlog
        transport = self.transport
        if transport is None or transport.is_closing():
            backlog.clear()
            self._backlog_scheduled = False
            return
        chunk = bytes(backlog[:READ_BUDGET])
        del backlog[:READ_BUDGET]
        if backlog:
            asyncio.get_running_loop().call_soon(self._next_chunk)
        else:
            self._backlog_scheduled = False
            transport.resume_reading()
        self._received(chunk)

    def _received(self, data: bytes) -> None:
        session = self.session
        if session is None:
            session = self._route(data)
            if session is None:
                return
            data = self._first_bytes
        clock = self.clock
        try:
            events = session.on_bytes(data, clock.monotonic_ns(), clock.wall_ns())
        except Exception as exc:  # a fault of ours on hostile bytes: drop the peer, say why
            name = "/".join(session.settings.session_key)
            log.error("FIX %s from %s: input not handled (%r), disconnecting",
                      name, self.peer, exc)  # fmt: skip
            self._close()
            return
        self._handle(events)

    def pause_writing(self) -> None:
        """The peer is not reading: more than `write_buffer_limit` bytes wait for it."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        waiting = transport.get_write_buffer_size()
        reason = f"write buffer over {self.write_buffer_limit} bytes ({waiting}): peer not reading"
        self.stats.slow_consumers_disconnected += 1
        session = self.session
        name = "/".join(session.settings.session_key) if session is not None else "-"
        now_ns = self.clock.monotonic_ns()
        self.stats.warn(now_ns, "FIX %s from %s disconnected: %s", name, self.peer, reason)
        if session is not None and session.logged_on:
            clock = self.clock
            session.logout(clock.monotonic_ns(), clock.wall_ns(), reason)
            data = session.data_to_send()
            if data:
                transport.write(data)  # queued last: read only if the peer catches up at once
        transport.abort()

    def resume_writing(self) -> None:
        pass  # never paused: an overflowing connection is aborted

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        session = self.session
        if session is not None and self.connections.get(session) is self:
            events = session.connection_lost(self.clock.monotonic_ns())
            del self.connections[session]
            for event in events:
                if self._on_event:
                    self._on_event(session, event)
        if not self.closed.done():
            self.closed.set_result(None)

    # routing (acceptor)
    def _route(self, data: bytes) -> FixSession | None:
        self._pending.feed(data)
        frame = self._pending.next_frame()
        if frame is None:
            return None
        if isinstance(frame, GarbledMessage):
            self._refuse(f"first bytes do not frame: {frame}")
            return None
        try:
            message = decode(frame)
        except GarbledMessage as exc:
            self._refuse(f"first message garbled: {exc}")
            return None
        session = self._router(message) if self._router else None
        if session is None:
            self._refuse(f"no session for {_identity(message)}")
            return None
        if message.msg_type != b"A":
            shown = message.msg_type.decode("latin-1")[:8]
            self._refuse(
                f"first message is MsgType {shown!r}, not a Logon, for {_identity(message)}"
            )
            return None
        previous = self.connections.get(session)
        if (
            previous is not None
            and previous.transport is not None
            and previous.transport.is_closing()
        ):
            # Its close is under way (the peer saw it and reconnected before the loop ran its
            # connection_lost): finish it now, so the session is free for this connection.
            previous.connection_lost(None)
        previous = self.connections.get(session)
        if previous is not None:
            clock = self.clock
            refusal = takeover_refusal(session, message, clock.monotonic_ns(), clock.wall_ns())
            if refusal is not None:
                name = "/".join(session.settings.session_key)
                self._refuse(f"session {name} is already connected: {refusal}")
                return None
            previous.replace_by(self.peer)
        self._first_bytes = frame + self._pending.take_rest()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._bind(session)
        return session

    def replace_by(self, peer: str) -> None:
        """An authenticated Logon from `peer` takes this connection's session over (the rule
        is `calarb.fix.logon_checks.takeover_refusal`: this peer has been silent longer than its
        HeartBtInt). Logout saying why, abort (a half-open peer never drains its buffer), and
        free the session now, so the new connection can bind it; one WARNING line."""
        session = self.session
        transport = self.transport
        if session is None or transport is None:
            return
        clock = self.clock
        now_ns = clock.monotonic_ns()
        silent_s = (now_ns - session.last_received_ns) / 1e9
        self.stats.sessions_taken_over += 1
        log.warning(
            "FIX %s: connection from %s silent for %.1f s (HeartBtInt %g s), replaced by an "
            "authenticated Logon from %s", "/".join(session.settings.session_key), self.peer,
            silent_s, session.heartbeat_ns / 1e9, peer,
        )  # fmt: skip
        if session.logged_on and not transport.is_closing():
            session.logout(now_ns, clock.wall_ns(), "session taken over by a new connection")
            data = session.data_to_send()
            if data:
                transport.write(data)
        transport.abort()
        self.connection_lost(None)  # the loop's own call later finds the session rebound

    def _refuse(self, reason: str) -> None:
        """Close a connection that never reached a session, saying why and from where."""
        self.stats.connections_refused += 1
        text = "FIX connection from %s refused before Logon: %s"
        self.stats.warn(self.clock.monotonic_ns(), text, self.peer, reason)
        self._close()

    def _bind(self, session: FixSession) -> None:
        self.session = session
        self.connections[session] = self
        self._handle(session.connection_made(self.clock.monotonic_ns(), self.clock.wall_ns()))

    # output and timers
    def flush(self) -> None:
        session = self.session
        if session is None or self.transport is None:
            return
        data = session.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def _handle(self, events: list[SessionEvent]) -> None:
        session = self.session
        assert session is not None
        self.flush()
        close = False
        on_event = self._on_event
        for event in events:
            kind = type(event)
            if kind is Disconnected:
                close = True
                if not self._logged_on and session.settings.connection_type == "acceptor":
                    self.stats.logons_refused += 1
                    self.stats.warn(
                        self.clock.monotonic_ns(),
                        "FIX Logon for %s from %s refused: %s",
                        "/".join(session.settings.session_key), self.peer, event.reason,
                    )  # fmt: skip
            elif kind is LoggedOn:
                self._logged_on = True
            if on_event is not None:
                on_event(session, event)
        self.flush()  # whatever the event handlers sent
        if close:
            self._close()
        else:
            self._schedule()
            if session.resending and not self._resend_scheduled:
                self._resend_scheduled = True
                asyncio.get_running_loop().call_soon(self._continue_resend)

    def _continue_resend(self) -> None:
        """The next chunk of a ResendRequest, on a later turn of the loop (the other
        sessions run between chunks) and only once the peer has drained its write buffer
        below half the high-water mark (checked again every RESEND_DRAIN_POLL_S): a big range
        neither sits in memory whole nor trips the slow-consumer cut-off."""
        self._resend_scheduled = False
        session, transport = self.session, self.transport
        if session is None or transport is None or transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        if transport.get_write_buffer_size() > self.write_buffer_limit // 2:
            self._resend_scheduled = True
            loop.call_later(RESEND_DRAIN_POLL_S, self._continue_resend)
            return
        clock = self.clock
        session.continue_resend(clock.monotonic_ns(), clock.wall_ns())
        self.flush()
        if session.resending:
            self._resend_scheduled = True
            loop.call_soon(self._continue_resend)

    def _schedule(self) -> None:
        """Arm the timer for the session's next deadline. An armed timer that fires no later
        than that is kept (firing early costs one idle poll), so the common case of a message
        moving the heartbeat deadline later does not touch the event loop's timer heap.

        While the session is logged on and no Logout was sent, its deadlines only move later
        (a message sent or received pushes them out; only `poll`, which re-arms, sends a
        TestRequest), so a timer armed in that state is kept without recomputing."""
        session = self.session
        if session is None or self.transport is None or self.transport.is_closing():
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        steady = session.state is SessionState.LOGGED_ON
        if steady and self._timer is not None and self._timer_steady:
            return
        deadline = session.next_deadline_ns()
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, (deadline - self.clock.monotonic_ns()) / 1e9) + 0.0005
        if self._timer is not None:
            if self._timer.when() <= when:
                self._timer_steady = self._timer_steady and steady
                return
            self._timer.cancel()
        self._timer = loop.call_at(when, self._on_timer)
        self._timer_steady = steady

    def _on_timer(self) -> None:
        self._timer = None
        if self.session is not None:
            clock = self.clock
            self._handle(self.session.poll(clock.monotonic_ns(), clock.wall_ns()))

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
