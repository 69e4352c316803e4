"""asyncio TCP transports around `FixSession`: an acceptor routing many sessions by CompIDs,
and an initiator that logs on when connected and reconnects with exponential backoff.

The transports only move bytes, read the clock and run timers (each connection is a
`calarb.fix.connection.SessionConnection`); every protocol decision is the session's. They
also keep the connection of each session (`FixAcceptor.connection_for`,
`FixInitiator.connection`): the session itself knows only its state.
TLS uses the standard `ssl` module (settings SocketCertificateFile / SocketPrivateKeyFile /
SocketCAFile). `install_uvloop()` switches the event loop policy when uvloop is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from calarb.core.clock import Clock, LiveClock
from calarb.fix.config import SUPPORTED_BEGIN_STRINGS, SessionSettings
from calarb.fix.connection import SessionConnection, TransportStats
from calarb.fix.dictionary import DataDictionary
from calarb.fix.events import Disconnected, LoggedOn, SessionEvent
from calarb.fix.session import Application, Authenticator, FixSession
from calarb.fix.store import FileStore, MemoryStore

log = logging.getLogger("calarb.fix")


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


class FixAcceptor:
    """Accepts connections on one port and routes each to its session by CompIDs.

    Sessions are keyed by (BeginString, our SenderCompID, their SenderCompID); a session
    that already has a live connection refuses a second one (duplicate identity), unless
    that connection's peer has been silent longer than its HeartBtInt and the new Logon is
    authenticated: then the new connection takes the session over (a half-open peer must
    not lock the real client out; `calarb.fix.logon_checks.takeover_refusal`).
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
