"""asyncio TCP transports around `FixSession`: an acceptor routing many sessions by CompIDs,
and an initiator that logs on when connected and reconnects with exponential backoff.

The transports only move bytes, read the clock and run timers; every protocol decision is
the session's. They also keep the connection of each session (`FixAcceptor.connection_for`,
`FixInitiator.connection`): the session itself knows only its state.
TLS uses the standard `ssl` module (settings SocketCertificateFile / SocketPrivateKeyFile /
SocketCAFile). `install_uvloop()` switches the event loop policy when uvloop is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from calarb.core.clock import Clock, LiveClock
from calarb.fix.codec import FixFramer, FixMessage, GarbledMessage, decode
from calarb.fix.config import SUPPORTED_BEGIN_STRINGS, SessionSettings
from calarb.fix.dictionary import DataDictionary
from calarb.fix.events import Disconnected, LoggedOn, SessionEvent
from calarb.fix.limits import MAX_LOGON_SIZE, MAX_MESSAGE_SIZE, MAX_WRITE_BUFFER, READ_BUDGET
from calarb.fix.session import Application, Authenticator, FixSession
from calarb.fix.state import SessionState
from calarb.fix.store import FileStore, MemoryStore

log = logging.getLogger("calarb.fix")
RESEND_DRAIN_POLL_S = 0.005
"""How often a ResendRequest being served looks whether the peer drained its buffer."""


def install_uvloop() -> bool:
    """Use uvloop's event loop when it is installed; returns whether it is."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def open_store(settings: SessionSettings) -> MemoryStore:
    """A FileStore under FileStorePath (one journal per session), else a MemoryStore."""
    if not settings.file_store_path:
        return MemoryStore(settings.store_window)
    name = "-".join(settings.session_key).replace("/", "_") + ".journal"
    path = Path(settings.file_store_path) / name
    return FileStore(path, fsync=settings.fsync, window=settings.store_window)


def _identity(message: FixMessage) -> str:
    """BeginString, SenderCompID and TargetCompID of a message, for a log line (bounded)."""
    parts = (message.begin_string, message.get(49) or b"-", message.get(56) or b"-")
    return "/".join(part.decode("latin-1")[:32] for part in parts)


_DICTIONARY_CACHE: dict[str, DataDictionary] = {}


def load_dictionary(path: str | None) -> DataDictionary | None:
    """Load (once per process) a QuickFIX XML data dictionary; a copy per session."""
    if not path:
        return None
    resolved = Path(path)
    if not resolved.exists():
        raise FileNotFoundError(f"data dictionary {path} not found")
    key = str(resolved.resolve())
    if key not in _DICTIONARY_CACHE:
        _DICTIONARY_CACHE[key] = DataDictionary.from_xml(resolved)
    base = _DICTIONARY_CACHE[key]
    copy = DataDictionary(
        base.begin_string, base.field_defs, base.header, base.trailer, base.messages
    )
    return copy


def server_ssl_context(settings: SessionSettings) -> ssl.SSLContext | None:
    if not settings.tls_certificate:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_certificate, settings.tls_private_key)
    return context


def client_ssl_context(settings: SessionSettings) -> ssl.SSLContext | None:
    if not settings.tls_ca_file:
        return None
    return ssl.create_default_context(cafile=settings.tls_ca_file)


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
    longer than their HeartBtInt (a half-open peer; `FixSession.takeover_refusal`)."""
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
            refusal = session.takeover_refusal(message, clock.monotonic_ns(), clock.wall_ns())
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
        is `FixSession.takeover_refusal`: this peer has been silent longer than its
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


class FixAcceptor:
    """Accepts connections on one port and routes each to its session by CompIDs.

    Sessions are keyed by (BeginString, our SenderCompID, their SenderCompID); a session
    that already has a live connection refuses a second one (duplicate identity), unless
    that connection's peer has been silent longer than its HeartBtInt and the new Logon is
    authenticated: then the new connection takes the session over (a half-open peer must
    not lock the real client out; `FixSession.takeover_refusal`).
    """

    def __init__(
        self,
        settings: list[SessionSettings],
        application_factory: Callable[[SessionSettings], Application | None],
        clock: Clock | None = None,
        authenticate: Authenticator | None = None,
        on_event: Callable[[FixSession, SessionEvent], None] | None = None,
    ) -> None:
        self.clock = clock or LiveClock()
        self.on_event = on_event
        self.sessions: dict[tuple[str, str, str], FixSession] = {}
        self.connections: dict[FixSession, SessionConnection] = {}
        self.skipped: dict[tuple[str, str, str], str] = {}
        self.stats = TransportStats()
        for entry in settings:
            if entry.begin_string not in SUPPORTED_BEGIN_STRINGS:
                self.skipped[entry.session_key] = (
                    f"BeginString {entry.begin_string} is not supported"
                )
                continue
            session = FixSession(
                entry,
                store=open_store(entry),
                dictionary=load_dictionary(entry.data_dictionary),
                application=application_factory(entry),
                authenticate=authenticate,
            )
            self.sessions[entry.session_key] = session
        if not self.sessions:
            raise ValueError("no session with a supported BeginString (FIX.4.2, FIX.4.4)")
        self.settings = next(iter(self.sessions.values())).settings
        self.server: asyncio.base_events.Server | None = None

    def connection_for(self, session: FixSession) -> SessionConnection | None:
        """The live connection of `session` (None while it has none)."""
        return self.connections.get(session)

    def route(self, message) -> FixSession | None:
        key = (
            message.begin_string.decode("latin-1"),
            (message.get(56) or b"").decode("latin-1"),
            (message.get(49) or b"").decode("latin-1"),
        )
        return self.sessions.get(key)

    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SessionConnection(
                self.clock, self.connections, router=self.route, on_event=self.on_event,
                max_message_size=self.settings.max_message_size,
                write_buffer_limit=self.settings.write_buffer_limit, stats=self.stats,
            ),
            host,
            self.settings.port if port is None else port,
            ssl=server_ssl_context(self.settings),
            reuse_address=True,
        )  # fmt: skip
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for connection in list(self.connections.values()):
            connection._close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for session in self.sessions.values():
            session.store.close()


class FixInitiator:
    """Connects, logs on, and reconnects with exponential backoff until stopped."""

    def __init__(
        self,
        settings: SessionSettings,
        application: Application | None = None,
        clock: Clock | None = None,
        store: MemoryStore | None = None,
        on_event: Callable[[FixSession, SessionEvent], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or LiveClock()
        self.session = FixSession(
            settings,
            store=store if store is not None else open_store(settings),
            dictionary=load_dictionary(settings.data_dictionary),
            application=application,
        )
        self._connections: dict[FixSession, SessionConnection] = {}
        self._user_on_event = on_event
        self._logged_on = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self.connections = 0
        self.stats = TransportStats()

    def _on_event(self, session: FixSession, event: SessionEvent) -> None:
        if isinstance(event, LoggedOn):
            self._logged_on.set()
        elif isinstance(event, Disconnected):
            self._logged_on.clear()
        if self._user_on_event is not None:
            self._user_on_event(session, event)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.settings.reconnect_interval_s
        while not self._stopping:
            try:
                _, connection = await loop.create_connection(
                    lambda: SessionConnection(
                        self.clock,
                        self._connections,
                        self.session,
                        on_event=self._on_event,
                        max_message_size=self.settings.max_message_size,
                        write_buffer_limit=self.settings.write_buffer_limit,
                        stats=self.stats,
                    ),  # fmt: skip
                    self.settings.host,
                    self.settings.port,
                    ssl=client_ssl_context(self.settings),
                )
            except OSError as exc:
                log.info("connect to %s:%s failed: %s", self.settings.host, self.settings.port, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max_interval_s)
                continue
            self.connections += 1
            await connection.closed
            if self.session.store.next_target_seq > 1:
                delay = self.settings.reconnect_interval_s  # we got somewhere: reset the backoff
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max_interval_s)

    async def wait_logged_on(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._logged_on.wait(), timeout)

    @property
    def connection(self) -> SessionConnection | None:
        """The live connection (None between connections)."""
        return self._connections.get(self.session)

    def send(self, msg_type: bytes, body: list[tuple[int, bytes]]) -> int:
        clock = self.clock
        seq = self.session.send(msg_type, body, clock.monotonic_ns(), clock.wall_ns())
        self.flush()
        return seq

    def send_body(self, msg_type: bytes, body: bytes) -> int:
        clock = self.clock
        seq = self.session.send_body(msg_type, body, clock.monotonic_ns(), clock.wall_ns())
        self.flush()
        return seq

    def flush(self) -> None:
        connection = self.connection
        if connection is not None:
            connection.flush()

    def drop_connection(self) -> None:
        """Close the TCP connection without a Logout (tests reconnect and resend)."""
        connection = self.connection
        if connection is not None:
            connection._close()

    async def stop(self, timeout: float = 5.0) -> None:
        """Logout, wait for the answer (or the timeout), stop reconnecting."""
        self._stopping = True
        connection = self.connection
        if connection is not None and self.session.logged_on:
            self.session.logout(self.clock.monotonic_ns(), self.clock.wall_ns())
            connection.flush()
            connection._schedule()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(connection.closed), timeout)
        connection = self.connection
        if connection is not None:
            connection._close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.session.store.close()
