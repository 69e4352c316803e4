"""A venue's market-data service: book events -> ITCH 5.0 -> MoldUDP64 on loopback multicast.

`VenueMarketData` wires the pieces for one venue: an `ItchPublisher` (events to messages), a
`MoldSender` (messages to packets, with the message history), a `MoldPublisher` (packets to
the multicast group on 127.0.0.1, optionally through a `LossyLink` for deliberate faults) and
a `RetransmissionEndpoint` (unicast UDP on 127.0.0.1 answering gap requests from the
history). Each `publish_events` call flushes, so a batch of events (one engine call's) leaves
in as few full packets as possible and never waits for a timer. When nothing went out for
`heartbeat_interval_s`, a heartbeat does. An optional one-way latency delays every downstream
packet (data and heartbeats alike, in order); retransmission answers are not delayed.

The only clock read here is the event loop's, for those timers: ITCH timestamps come from the
events themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import tempfile
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from calarb.core.tables import dataclass_from_table
from calarb.core.types import Instrument
from calarb.itch.messages import ItchMessage
from calarb.itch.moldudp64 import (
    DEFAULT_MAX_PAYLOAD,
    MoldSender,
    RetransmissionServer,
    SpillFile,
)
from calarb.itch.transport import (
    LOOPBACK,
    Address,
    LossyLink,
    MoldPublisher,
    RetransmissionEndpoint,
)
from calarb.venue.itch_publisher import ItchPublisher, ItchPublishError
from calarb.venue.matching import MatchingEngine
from calarb.venue.orders import BookEvent

log = logging.getLogger(__name__)

_MAX_KEPT_ERRORS = 100
VENUE_HISTORY_LIMIT = 100_000
"""Messages a venue keeps in memory for retransmission (older ones: see `history_spill`)."""


@dataclass(frozen=True)
class FeedFaults:
    """Deliberate faults on the downstream packets (probabilities per packet), seeded."""

    drop: float = 0.0
    reorder: float = 0.0
    duplicate: float = 0.0
    reorder_depth: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop", "reorder", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"faults.{name} = {value} is outside [0, 1]")
        if self.reorder_depth < 1:
            raise ValueError(f"faults.reorder_depth = {self.reorder_depth} must be at least 1")

    @property
    def any(self) -> bool:
        return bool(self.drop or self.reorder or self.duplicate)

    def link(self) -> LossyLink | None:
        """A LossyLink for these faults, None when there are none."""
        if not self.any:
            return None
        return LossyLink(
            self.seed,
            drop=self.drop,
            reorder=self.reorder,
            duplicate=self.duplicate,
            reorder_depth=self.reorder_depth,
        )


@dataclass(frozen=True)
class MarketDataConfig:
    """Where and how one venue publishes. Everything stays on 127.0.0.1.

    `session`: the MoldUDP64 session name (up to 10 letters and digits); with
    `session_per_instance` (the default) each start of the venue publishes under its own
    session (`instance_session`), so a subscriber notices a restart instead of taking the
    new sequence numbers for duplicates. `source_port`: the UDP port the packets come from
    (0: any free one; fixed, subscribers can accept that source only). `history_limit`: the
    messages kept in memory for retransmission; with `history_spill` older ones go to a
    temporary file and are answered from it (memory stays flat, the whole day answerable).
    `group`, `port`: the multicast group (224.0.0.0/4; 239.255.x.y stays on the host) and
    UDP port. `retransmission_port`: the gap-request server's UDP port (0: any free one, see
    `VenueMarketData.retransmission_address`). `latency_ms`: added one-way delay of
    downstream packets. `midnight_ns`, `mpids`: see `ItchPublisher`.
    """

    session: str
    group: str
    port: int
    retransmission_port: int = 0
    source_port: int = 0
    session_per_instance: bool = True
    heartbeat_interval_s: float = 1.0
    latency_ms: float = 0.0
    history_limit: int = VENUE_HISTORY_LIMIT
    history_spill: bool = True
    max_payload: int = DEFAULT_MAX_PAYLOAD
    midnight_ns: int = 0
    mpids: Mapping[str, str] = field(default_factory=dict)
    faults: FeedFaults = field(default_factory=FeedFaults)

    def __post_init__(self) -> None:
        try:
            group = ipaddress.IPv4Address(self.group)
        except ValueError:
            raise ValueError(f"market data group {self.group!r} is not an IPv4 address") from None
        if not group.is_multicast:
            raise ValueError(f"market data group {self.group} is not a multicast address")
        for name in ("port", "retransmission_port", "source_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535 or (name == "port" and value == 0):
                raise ValueError(f"market data {name} {value} is not a usable UDP port")
        if self.heartbeat_interval_s <= 0:
            raise ValueError(f"heartbeat_interval_s {self.heartbeat_interval_s} must be positive")
        if self.history_limit < 1:
            raise ValueError(f"history_limit {self.history_limit} must be at least 1")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms {self.latency_ms} must not be negative")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str = "market_data") -> MarketDataConfig:
        """Parse a TOML table such as `[venues.market_data]` with an optional `faults` table
        and an optional `mpids` table (participant = "MPID")."""
        table = dict(table)
        if "faults" in table:
            table["faults"] = dataclass_from_table(FeedFaults, table["faults"], f"{where}.faults")
        if "mpids" in table:
            table["mpids"] = dict(table["mpids"])
        return dataclass_from_table(cls, table, where)


_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
INSTANCE_SUFFIX_LENGTH = 4


def instance_session(session: str, instance_ns: int) -> str:
    """`session` cut to leave room for 4 base-36 characters of the instance's start time
    (tenths of a second, repeating every 46 hours): a new name for each start of a venue."""
    tenths = instance_ns // 100_000_000
    suffix = ""
    for _ in range(INSTANCE_SUFFIX_LENGTH):
        tenths, digit = divmod(tenths, 36)
        suffix = _BASE36[digit] + suffix
    return session[: 10 - INSTANCE_SUFFIX_LENGTH] + suffix


@dataclass(slots=True)
class MarketDataStats:
    events_published: int = 0
    messages_published: int = 0
    events_refused: int = 0  # events ITCH cannot carry (see ItchPublishError)
    heartbeats_sent: int = 0


class VenueMarketData:
    """One venue's live ITCH/MoldUDP64 feed and retransmission server. Create with `open`.

    Typical use, once per engine call::

        engine.submit(...)
        market_data.publish_engine(engine)
    """

    def __init__(
        self,
        config: MarketDataConfig,
        itch: ItchPublisher,
        sender: MoldSender,
        mold: MoldPublisher,
        endpoint: RetransmissionEndpoint,
    ) -> None:
        self.config = config
        self.itch = itch
        self.sender = sender
        self.mold = mold
        self.endpoint = endpoint
        self.stats = MarketDataStats()
        self.errors: list[ItchPublishError] = []
        """The first refused events' errors (up to 100)."""
        self._latency_s = config.latency_ms / 1000.0
        self._delayed: deque[tuple[float, list[bytes]]] = deque()
        self._delay_handle: asyncio.TimerHandle | None = None
        self._drained = asyncio.Event()
        self._drained.set()
        self._sent_since_tick = False
        self._heartbeat_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        config: MarketDataConfig,
        instruments: Iterable[Instrument] | Mapping[str, Instrument],
        instance_ns: int | None = None,
        publisher: ItchPublisher | None = None,
    ) -> VenueMarketData:
        """Bind the sockets and start heartbeats. Call `start_of_day` before any event.
        `instance_ns`: this start's wall time, naming the session when `session_per_instance`
        (None: the configured name as it is). `publisher`: another ITCH-family publisher (e.g.
        ITTO's `OptionsItchPublisher`) instead of ITCH 5.0's for `instruments`."""
        itch = publisher or ItchPublisher(
            instruments, midnight_ns=config.midnight_ns, mpids=config.mpids
        )
        session = config.session
        if config.session_per_instance and instance_ns is not None:
            session = instance_session(session, instance_ns)
        spill_file = tempfile.TemporaryFile() if config.history_spill else None  # noqa: SIM115  (closed in close)
        sender = MoldSender(
            session, max_payload=config.max_payload, history_limit=config.history_limit,
            history_spill=SpillFile(spill_file) if spill_file is not None else None,
        )  # fmt: skip
        server = RetransmissionServer.for_sender(sender)
        endpoint = await RetransmissionEndpoint.create(server, LOOPBACK, config.retransmission_port)
        try:
            mold = await MoldPublisher.create(
                sender, config.group, config.port, link=config.faults.link(),
                source_port=config.source_port,
            )  # fmt: skip
        except BaseException:
            endpoint.close()
            raise
        market_data = cls(config, itch, sender, mold, endpoint)
        market_data._heartbeat_task = asyncio.get_running_loop().create_task(
            market_data._heartbeat_every(config.heartbeat_interval_s)
        )
        return market_data

    # --- addresses and state -----------------------------------------------------------------

    @property
    def group_address(self) -> Address:
        return self.mold.destination

    @property
    def session(self) -> str:
        """The session name on the wire (this instance's)."""
        return self.sender.session.decode("ascii").rstrip()

    @property
    def source_address(self) -> Address:
        return self.mold.source

    @property
    def retransmission_address(self) -> Address:
        return self.endpoint.address

    @property
    def next_sequence(self) -> int:
        """The MoldUDP64 sequence number the next message will get."""
        return self.sender.next_sequence

    @property
    def retransmission_server(self) -> RetransmissionServer:
        return self.endpoint.server

    @property
    def link(self) -> LossyLink | None:
        return self.mold.link

    # --- publishing --------------------------------------------------------------------------

    def start_of_day(self, timestamp_ns: int, halted: Iterable[str] = ()) -> None:
        """System events, stock directory and trading states; before any book event."""
        self._publish_messages(self.itch.start_of_day(timestamp_ns, halted))

    def publish_events(self, events: Iterable[BookEvent]) -> int:
        """Publish book events (oldest first) and flush. Returns the messages published.

        An event ITCH cannot carry is refused (logged, counted, kept in `errors`) and the
        others still go out; the venue's gateway should keep such orders out in the first
        place (see `calarb.venue.itch_publisher.MAX_SHARES` and `MAX_PRICE`)."""
        message_for = self.itch.message_for
        encoders = self.itch.ENCODERS
        add = self.sender.add
        packets: list[bytes] = []
        published = 0
        for event in events:
            try:
                message = message_for(event)
            except ItchPublishError as error:
                self._refuse(error)
                continue
            packets += add(encoders[message.message_type](message))
            published += 1
        packets += self.sender.flush()
        self._send(packets)
        self.stats.events_published += published
        self.stats.messages_published += published
        return published

    def publish_engine(self, engine: MatchingEngine) -> int:
        """Publish the book events the engine queued since the last call."""
        return self.publish_events(engine.take_book_events())

    async def end_of_day(self, timestamp_ns: int) -> None:
        """End-of-day system events, then the MoldUDP64 end of session (sent a few times, a
        lost one must not hide it). The retransmission server keeps answering until `close`."""
        self._publish_messages(self.itch.end_of_day(timestamp_ns))
        await self._drained.wait()
        await self.mold.end_session()

    async def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        if self._delay_handle is not None:
            self._delay_handle.cancel()
            self._delay_handle = None
        self.mold.close()
        self.endpoint.close()
        spill = self.sender.history.spill
        if spill is not None:
            spill.file.close()

    # --- internals ---------------------------------------------------------------------------

    def _publish_messages(self, messages: list[ItchMessage]) -> None:
        packets: list[bytes] = []
        for message in messages:
            packets += self.sender.add(self.itch.ENCODERS[message.message_type](message))
        packets += self.sender.flush()
        self._send(packets)
        self.stats.messages_published += len(messages)

    def _refuse(self, error: ItchPublishError) -> None:
        self.stats.events_refused += 1
        if len(self.errors) < _MAX_KEPT_ERRORS:
            self.errors.append(error)
        log.error("market data %s: event not published: %s", self.config.session, error)

    def _send(self, packets: list[bytes]) -> None:
        if not packets:
            return
        self._sent_since_tick = True
        if self._latency_s <= 0:
            self.mold.send_packets(packets)
            return
        loop = asyncio.get_running_loop()
        self._delayed.append((loop.time() + self._latency_s, packets))
        self._drained.clear()
        if self._delay_handle is None:
            self._delay_handle = loop.call_at(self._delayed[0][0], self._release_delayed)

    def _release_delayed(self) -> None:
        loop = asyncio.get_running_loop()
        self._delay_handle = None
        now = loop.time()
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            self.mold.send_packets(delayed.popleft()[1])
        if delayed:
            self._delay_handle = loop.call_at(delayed[0][0], self._release_delayed)
        else:
            self._drained.set()

    async def _heartbeat_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if not self._sent_since_tick:
                self._send(self.sender.heartbeat())
                self.stats.heartbeats_sent += 1
            self._sent_since_tick = False
