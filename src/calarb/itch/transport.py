"""Asyncio adapters for MoldUDP64 on loopback: multicast publisher and subscriber, and the
unicast re-request (retransmission) server. The protocol logic is in `calarb.itch.moldudp64`;
these classes only move bytes between sockets and those cores, and read the clock.

The subscriber reads its multicast socket itself (a reader callback on the loop, `recvmsg`
until the socket is empty) and stamps each datagram with the kernel's receive time
(`SO_TIMESTAMPNS`). That stamp is CLOCK_REALTIME; the engine's stamps are monotonic. Each
datagram's arrival on the monotonic clock is therefore `monotonic_now - (realtime_now -
kernel_stamp)`: both clocks are read right after the datagram is read and only the age of the
datagram (a difference of two realtime readings) crosses from one clock to the other, so a
step of the realtime clock between runs does not matter. Where the platform has no
`SO_TIMESTAMPNS` (or the subscriber's clock is simulated) the stamp is the read time.

Multicast stays on 127.0.0.1: the publisher sets IP_MULTICAST_IF to 127.0.0.1 with TTL 1 and
loopback on; the subscriber joins the group on interface 127.0.0.1 and binds the group address
(so it receives that group only) and accepts datagrams only from its configured sources: one
source is enforced by connecting the socket to it (the kernel drops every other sender; port 0
means any port of that address), several by source-specific memberships (by address). Requests go out of a second socket bound to 127.0.0.1 and
connected to the server, which answers unicast to it. `LossyLink` injects seeded, repeatable
drops, reordering and duplicates on the publisher side for tests and the demo.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import sys
from array import array
from collections.abc import Callable, Iterable
from time import time_ns

from calarb.core.clock import Clock, LiveClock
from calarb.itch.lossy_link import LinkStats, LossyLink  # noqa: F401  (re-exported)
from calarb.itch.mold_health import FeedHealth, RateLimit
from calarb.itch.moldudp64 import MoldReceiver, MoldSender, RetransmissionServer

LOOPBACK = "127.0.0.1"
DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024

log = logging.getLogger(__name__)

DEMO_GROUP_PREFIX = "239.255"
"""Administratively scoped (site-local) multicast: never routed beyond the host here."""

Address = tuple[str, int]

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
"""Linux's SO_TIMESTAMPNS (SCM_TIMESTAMPNS has the same number); Python 3.11 lacks the name."""
_TIMESPEC = struct.Struct("@ll")  # struct timespec: seconds, nanoseconds (native longs)
_ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0
_DATAGRAM_BUFFER = 65_536
_MAX_DATAGRAMS_PER_WAKEUP = 64
_AGE_SAMPLES = 1 << 16
MSG_TRUNC = getattr(socket, "MSG_TRUNC", 0)
"""A reader callback drains at most this many datagrams, so the FIX sockets get their turn."""


def multicast_publisher_socket(
    interface: str = LOOPBACK, ttl: int = 1, source_port: int = 0
) -> socket.socket:
    """A UDP socket that sends multicast out of `interface`, looped back, TTL <= 1, from
    `interface:source_port` (0: any free port) so subscribers can accept only that source."""
    if not 0 <= ttl <= 1:
        raise ValueError(f"multicast TTL {ttl} would leave the host; use 0 or 1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        sock.bind((interface, source_port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def multicast_subscriber_socket(
    group: str, port: int, interface: str = LOOPBACK, receive_buffer: int = DEFAULT_RECEIVE_BUFFER
) -> socket.socket:
    """A UDP socket bound to `group:port` (SO_REUSEADDR/PORT) that joined `group` on
    `interface`. The receive buffer is raised as far as the system allows."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.bind((group, port))
        membership = socket.inet_aton(group) + socket.inet_aton(interface)
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        except OSError as error:
            raise OSError(
                error.errno,
                f"cannot join multicast group {group} on interface {interface}: {error}",
            ) from error
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


IP_ADD_SOURCE_MEMBERSHIP = getattr(socket, "IP_ADD_SOURCE_MEMBERSHIP", 39)
DEFAULT_SOURCES = (LOOPBACK,)
"""Where market data may come from unless configured: the venue's own loopback address."""


def parse_source(source: str) -> Address:
    """ "127.0.0.1" (any port) or "127.0.0.1:5000" -> (address, port); ValueError naming it."""
    host, _, port_text = source.partition(":")
    try:
        socket.inet_aton(host)
        port = int(port_text) if port_text else 0
    except (OSError, ValueError):
        raise ValueError(f"market data source {source!r} is not an IPv4 address[:port]") from None
    if not 0 <= port <= 65535 or host.count(".") != 3:
        raise ValueError(f"market data source {source!r} is not an IPv4 address[:port]")
    return host, port


def restrict_sources(sock: socket.socket, group: str, interface: str, sources: Iterable[str]) -> None:
    """Let the kernel drop datagrams of `sock` from any sender but `sources`: one source by
    connecting to it, several by source-specific memberships (address only, so no port)."""
    addresses = [parse_source(source) for source in sources]
    if not addresses:
        raise ValueError("no market data source configured: every sender would be accepted")
    if len(addresses) == 1:
        sock.connect(addresses[0])
        return
    if any(port for _, port in addresses):
        raise ValueError("a source port can only be checked with a single source")
    sock.setsockopt(
        socket.IPPROTO_IP,
        socket.IP_DROP_MEMBERSHIP,
        socket.inet_aton(group) + socket.inet_aton(interface),
    )
    for host, _ in addresses:
        membership = socket.inet_aton(group) + socket.inet_aton(interface) + socket.inet_aton(host)
        sock.setsockopt(socket.IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, membership)


def enable_kernel_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each datagram of `sock` on arrival (SO_TIMESTAMPNS); False
    where the platform cannot (then the read time stands in)."""
    if SO_TIMESTAMPNS is None or not _ANCILLARY_SPACE or not hasattr(sock, "recvmsg"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def kernel_stamp_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The SCM_TIMESTAMPNS stamp (realtime ns) in `recvmsg` ancillary data, 0 if absent."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return seconds * 1_000_000_000 + nanoseconds
    return 0


class _DatagramSink(asyncio.DatagramProtocol):
    """Passes each datagram to a function; errors from the socket (such as "connection
    refused" when a request meets no server) are counted and logged at most every 10 s."""

    def __init__(self, on_datagram: Callable[[bytes, Address], None], name: str) -> None:
        self._on_datagram = on_datagram
        self._name = name
        self.errors = 0
        self._limit = RateLimit(10_000_000_000)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.errors += 1
        if self._limit.allow(time_ns()):
            log.warning("%s: socket error %s (%d so far)", self._name, exc, self.errors)


class MoldPublisher:
    """Sends a MoldSender's packets to a multicast group on loopback, optionally through a
    LossyLink, and flushes / heartbeats on a timer once `start_heartbeats` is called."""

    def __init__(
        self,
        sender: MoldSender,
        transport: asyncio.DatagramTransport,
        group: str,
        port: int,
        link: LossyLink | None,
    ) -> None:
        self.sender = sender
        self.destination: Address = (group, port)
        self.link = link
        self.packets_sent = 0
        self.bytes_sent = 0
        self._transport = transport
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._sent_since_tick = False

    @classmethod
    async def create(
        cls,
        sender: MoldSender,
        group: str,
        port: int,
        *,
        interface: str = LOOPBACK,
        ttl: int = 1,
        link: LossyLink | None = None,
        source_port: int = 0,
    ) -> MoldPublisher:
        loop = asyncio.get_running_loop()
        sock = multicast_publisher_socket(interface, ttl, source_port)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _DatagramSink(lambda data, addr: None, "mold publisher"), sock=sock
        )
        return cls(sender, transport, group, port, link)

    @property
    def source(self) -> Address:
        """The address and port this publisher's datagrams come from."""
        return self._transport.get_extra_info("sockname")[:2]

    def send_packets(self, packets: Iterable[bytes]) -> None:
        """Put packets on the wire (through the link, if any)."""
        for packet in packets:
            self._send_raw(self.link.process(packet) if self.link is not None else (packet,))
            self._sent_since_tick = True

    def publish(self, message: bytes) -> None:
        """Add one message; a packet goes out when one fills."""
        self.send_packets(self.sender.add(message))

    async def publish_all(self, messages: Iterable[bytes], *, yield_every: int = 1) -> None:
        """Publish messages, yielding to the event loop every `yield_every` packets so that
        receivers in the same process keep up (and socket buffers do not overflow)."""
        since_yield = 0
        add = self.sender.add
        for message in messages:
            packets = add(message)
            if packets:
                self.send_packets(packets)
                since_yield += 1
                if since_yield >= yield_every:
                    since_yield = 0
                    await asyncio.sleep(0)
        self.flush()

    def flush(self) -> None:
        self.send_packets(self.sender.flush())

    def heartbeat(self) -> None:
        """Flush pending messages and send a heartbeat (end of session once ended)."""
        self.send_packets(self.sender.heartbeat())

    def start_heartbeats(self, interval_s: float = 1.0) -> None:
        """Every `interval_s`: flush pending messages; if nothing went out, a heartbeat."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval_s)
                if self.sender.pending_messages:
                    self.flush()
                elif not self._sent_since_tick:
                    self.heartbeat()
                self._sent_since_tick = False

        if self._heartbeat_task is None:
            self._heartbeat_task = asyncio.get_running_loop().create_task(beat())

    async def end_session(self, *, repeat: int = 3, interval_s: float = 0.01) -> None:
        """Flush and send the end of session `repeat` times (a lost one must not hide it)."""
        self.send_packets(self.sender.end_of_session())
        for _ in range(repeat - 1):
            await asyncio.sleep(interval_s)
            self.heartbeat()
        if self.link is not None:
            self._send_raw(self.link.flush())

    def _send_raw(self, datagrams: Iterable[bytes]) -> None:
        for datagram in datagrams:
            self._transport.sendto(datagram, self.destination)
            self.packets_sent += 1
            self.bytes_sent += len(datagram)

    def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        self._transport.close()


class RetransmissionEndpoint:
    """A UDP socket on loopback answering MoldUDP64 requests through a RetransmissionServer,
    unicast to the requester's address."""

    def __init__(self, server: RetransmissionServer) -> None:
        self.server = server
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def create(
        cls, server: RetransmissionServer, host: str = LOOPBACK, port: int = 0
    ) -> RetransmissionEndpoint:
        endpoint = cls(server)
        endpoint._transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _DatagramSink(endpoint._answer, "mold retransmission server"),
            local_addr=(host, port),
        )
        return endpoint

    @property
    def address(self) -> Address:
        assert self._transport is not None, "endpoint not opened"
        return self._transport.get_extra_info("sockname")[:2]

    def _answer(self, data: bytes, addr: Address) -> None:
        if self._transport is None:
            return
        for packet in self.server.on_request(data):
            self._transport.sendto(packet, addr)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class MoldSubscriber:
    """Feeds a MoldReceiver from a loopback multicast group and the re-request server's
    answers, calls `on_message(payload, received_ns)` per delivered message (`received_ns`:
    its datagram's arrival on `clock.monotonic_ns()`: the kernel's receive stamp when the
    platform gives one and the clock is live, else the read time), and sends the receiver's
    requests after each datagram and every `poll_interval_s`.

    The multicast socket is read by a reader callback on the loop (no asyncio protocol or
    transport in between): each wake-up drains the socket with `recvmsg`, each datagram
    going through the receiver and the consumer before the next is read."""

    def __init__(
        self,
        receiver: MoldReceiver,
        on_message: Callable[[bytes, int], object],
        clock: Clock,
        name: str = "feed",
        on_session_change: Callable[[MoldReceiver], object] | None = None,
    ) -> None:
        self.receiver = receiver
        self.on_message = on_message
        self.clock = clock
        self.name = name
        self.health = FeedHealth(name, receiver)
        self.on_session_change = on_session_change
        self._generation = receiver.session_generation
        self.callback_errors = 0
        self.kernel_stamped = 0  # datagrams stamped by the kernel
        self.read_stamped = 0  # datagrams stamped at the read
        self.kernel_stamps = False
        # kernel stamp -> read, per kernel-stamped datagram (ns, the last _AGE_SAMPLES): the
        # time a datagram waited in the socket before the loop read it
        self.read_ages = array("q", bytes(8 * _AGE_SAMPLES))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket: socket.socket | None = None
        self._requests: asyncio.DatagramTransport | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()
        self._request_sink: _DatagramSink | None = None

    @classmethod
    async def create(
        cls,
        receiver: MoldReceiver,
        group: str,
        port: int,
        request_address: Address,
        on_message: Callable[[bytes, int], object],
        *,
        interface: str = LOOPBACK,
        clock: Clock | None = None,
        poll_interval_s: float = 0.005,
        receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
        sources: Iterable[str] = DEFAULT_SOURCES,
        name: str = "feed",
        on_session_change: Callable[[MoldReceiver], object] | None = None,
    ) -> MoldSubscriber:
        """`sources`: the senders accepted ("address" or "address:port", see
        `restrict_sources`). `on_session_change(receiver)` runs when the receiver follows a
        new session, before its first message is delivered (the consumer resets its state)."""
        loop = asyncio.get_running_loop()
        subscriber = cls(receiver, on_message, clock or LiveClock(), name, on_session_change)
        sock = multicast_subscriber_socket(group, port, interface, receive_buffer)
        try:
            restrict_sources(sock, group, interface, sources)
        except BaseException:
            sock.close()
            raise
        # A simulated clock has no relation to the kernel's realtime stamps: read time then.
        live = isinstance(subscriber.clock, LiveClock)
        subscriber.kernel_stamps = live and enable_kernel_timestamps(sock)
        subscriber._socket = sock
        subscriber._loop = loop
        loop.add_reader(sock.fileno(), subscriber._on_readable)
        subscriber._requests, subscriber._request_sink = await loop.create_datagram_endpoint(
            lambda: _DatagramSink(subscriber._on_answer, f"feed {name} requests"),
            local_addr=(interface, 0),
            remote_addr=request_address,
        )
        subscriber._poll_task = loop.create_task(subscriber._poll_every(poll_interval_s))
        return subscriber

    @property
    def stamp_source(self) -> str:
        return "kernel SO_TIMESTAMPNS" if self.kernel_stamps else "read time"

    def _on_readable(self) -> None:
        """Drain the multicast socket (at most `_MAX_DATAGRAMS_PER_WAKEUP` datagrams)."""
        sock = self._socket
        if sock is None:
            return
        monotonic_ns = self.clock.monotonic_ns
        wall_ns = time_ns
        kernel = self.kernel_stamps
        for _ in range(_MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data, ancillary, flags, _ = sock.recvmsg(_DATAGRAM_BUFFER, _ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                log.warning("mold subscriber: socket error %s", error)
                return
            now_ns = monotonic_ns()
            stamp = kernel_stamp_ns(ancillary) if kernel and ancillary else 0
            if stamp:
                age = wall_ns() - stamp  # how long the datagram waited, on the realtime clock
                if age > 0:
                    now_ns -= age
                self.read_ages[self.kernel_stamped % _AGE_SAMPLES] = age
                self.kernel_stamped += 1
            else:
                self.read_stamped += 1
            if flags & MSG_TRUNC:
                log.warning("mold subscriber: datagram truncated to %d bytes", len(data))
            self._on_datagram(data, now_ns)

    def read_age_us(self) -> dict[str, float]:
        """Percentiles of the wait in the socket (kernel stamp to read), microseconds."""
        count = min(self.kernel_stamped, _AGE_SAMPLES)
        if not count:
            return {}
        ages = sorted(self.read_ages[:count])
        return {
            name: round(ages[min(count - 1, int(count * q))] / 1e3, 1)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        }

    def _on_answer(self, data: bytes, addr: Address) -> None:
        """A retransmission, stamped at its read."""
        self._on_datagram(data, self.clock.monotonic_ns())

    def _on_datagram(self, data: bytes, now_ns: int) -> None:
        receiver = self.receiver
        messages = receiver.on_packet(data, now_ns)
        if receiver.session_generation != self._generation:
            self._session_changed()
        for message in messages:
            try:
                self.on_message(message, now_ns)
            except Exception:  # a consumer bug must not stop the feed
                self.callback_errors += 1
                log.exception("mold subscriber: on_message failed")
        if receiver.has_missing:
            self._send(receiver.poll(now_ns))
        self._progress.set()

    def _session_changed(self) -> None:
        receiver = self.receiver
        self._generation = receiver.session_generation
        old = receiver.previous_session
        log.warning(
            "feed %s: new session %r replaces %r (publisher restarted): following it from "
            "sequence %d",
            self.name, receiver.session.decode("ascii", "replace").strip(),
            (old or b"").decode("ascii", "replace").strip(), receiver.next_sequence,
        )  # fmt: skip
        if self.on_session_change is not None:
            try:
                self.on_session_change(receiver)
            except Exception:
                self.callback_errors += 1
                log.exception("feed %s: on_session_change failed", self.name)

    @property
    def request_errors(self) -> int:
        """Socket errors of the request socket (e.g. no re-request server listening)."""
        return self._request_sink.errors if self._request_sink is not None else 0

    def state(self) -> dict:
        """The receiver's recovery state (see `FeedHealth.state`)."""
        return self.health.state(self.clock.monotonic_ns())

    def _send(self, requests: list[bytes]) -> None:
        if self._requests is None:
            return
        for request in requests:
            self._requests.sendto(request)

    async def _poll_every(self, interval_s: float) -> None:
        checks_every = max(1, int(0.1 / interval_s))  # the health check: every ~100 ms
        polls = 0
        while True:
            await asyncio.sleep(interval_s)
            now_ns = self.clock.monotonic_ns()
            self._send(self.receiver.poll(now_ns))
            polls += 1
            # the health check: every ~100 ms, and at every poll while catching up (its
            # progress line is rate-limited; a short catch-up is reported too)
            if polls % checks_every == 0 or self.receiver.catching_up(now_ns):
                try:
                    self.health.check(now_ns, self.clock.wall_ns())
                except Exception:  # a report must never stop the feed
                    log.exception("feed %s: health check failed", self.name)

    async def wait_until(self, condition: Callable[[MoldReceiver], bool], timeout_s: float) -> bool:
        """Wait until `condition(receiver)` holds (checked after every datagram); False on
        timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not condition(self.receiver):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                return condition(self.receiver)
        return True

    def close(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            self._poll_task = None
        if self._socket is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
        if self._requests is not None:
            self._requests.close()
            self._requests = None


def fresh_multicast_address(rng: random.Random | None = None) -> Address:
    """A random administratively scoped group and a UDP port free on 127.0.0.1, so runs
    that share the machine (tests, demos) do not hear each other."""
    rng = rng or random.Random()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    finally:
        probe.close()
    return f"{DEMO_GROUP_PREFIX}.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}", port
