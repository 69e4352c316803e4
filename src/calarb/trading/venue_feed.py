"""One venue's market data in a live engine: the MoldUDP64 subscriber, its receiver and feed
health, and the book reset when the venue starts a new feed session.

The feed's `protocol` (run file: `[venues.feed] protocol`): "itch" (ITCH 5.0), each message's
bytes go to the engine, whose `ItchBookFeed` for the venue decodes them (the hot path); "itto"
(Nasdaq ITTO 4.0 options), this feed decodes them with its own `OptionsBookFeed` and hands the
engine the option's new top of book (`TradingEngine.on_market_data` takes either)."""

from __future__ import annotations

import logging
from functools import partial

from calarb.book.feed import ItchBookFeed
from calarb.book.options_feed import OptionsBookFeed
from calarb.core.clock import Clock
from calarb.core.events import TopOfBook
from calarb.itch.moldudp64 import MoldReceiver
from calarb.itch.transport import MoldSubscriber
from calarb.trading.config import VenueSettings
from calarb.trading.engine import TradingEngine

log = logging.getLogger("calarb.trading.live")


def session_name(session: bytes | None) -> str:
    return "(none)" if session is None else session.decode("ascii", "replace").strip()


class VenueFeed:
    """One venue's market data: MoldUDP64 receiver -> engine, with arrival stamps.

    A restarted venue publishes a new MoldUDP64 session: the receiver follows it (see
    `MoldReceiver`), and before its first message this venue's books are replaced by empty
    ones and its top of book is cleared for the router and the strategy (`reset_books`), so
    the new session's replay from sequence 1 rebuilds them."""

    def __init__(self, venue: str, engine: TradingEngine, clock: Clock, session: str | None):
        self.venue = venue
        self.clock = clock
        self.engine = engine
        self.receiver = MoldReceiver(session, first_sequence=1)
        self.subscriber: MoldSubscriber | None = None
        self.closed_subscriber: MoldSubscriber | None = None  # its figures, after the close
        self.book_resets = 0
        self.options_feed: OptionsBookFeed | None = None  # protocol "itto": this feed decodes
        self._on_market_data = engine.on_market_data

    def on_message(self, payload: bytes, received_ns: int) -> None:
        """One message of a datagram that arrived at `received_ns` (monotonic: the kernel's
        receive stamp where the platform gives one)."""
        self._on_market_data(self.venue, payload, received_ns)

    def on_options_message(self, payload: bytes, received_ns: int) -> None:
        """One ITTO message: decoded here, the option's new top (if any) to the engine."""
        top = self.options_feed.on_message_bytes(payload)
        if top is not None:
            self._on_market_data(self.venue, top, received_ns)

    async def open(self, settings: VenueSettings) -> None:
        feed = settings.feed
        if feed.protocol == "itto":
            symbols = self.engine.feeds[self.venue].symbol_filter
            self.options_feed = OptionsBookFeed(symbols=symbols)
            on_message = self.on_options_message
        else:
            on_message = partial(self._on_market_data, self.venue)  # = on_message, one frame less
        self.subscriber = await MoldSubscriber.create(
            self.receiver,
            feed.group,
            feed.port,
            feed.retransmission_address,
            on_message,
            interface=feed.interface,
            clock=self.clock,
            sources=feed.sources,
            name=self.venue,
            on_session_change=self.reset_books,
        )

    def reset_books(self, receiver: MoldReceiver) -> None:
        """The venue restarted under a new session: its books start empty and are rebuilt
        from the new session's messages; its quotes leave the router and the strategy."""
        engine = self.engine
        old = engine.feeds[self.venue]
        engine.feeds[self.venue] = ItchBookFeed(symbols=old.symbol_filter)
        booked = list(old.books)
        if self.options_feed is not None:
            booked = list(self.options_feed.tops)
            self.options_feed = OptionsBookFeed(symbols=self.options_feed.symbol_filter)
        now = self.clock.monotonic_ns()
        for symbol in booked:
            engine.on_market_data(self.venue, TopOfBook(symbol, now, 0, 0, 0, 0), now)
        self.book_resets += 1
        log.warning(
            "%s: market data restarted (session %s replaces %s): %d books reset, rebuilding "
            "from sequence %d of the new session",
            self.venue, session_name(receiver.session), session_name(receiver.previous_session),
            len(booked), receiver.next_sequence,
        )  # fmt: skip

    def waiting_for(self) -> str | None:
        """Why this feed is not ready yet (None: it is)."""
        subscriber = self.subscriber
        if subscriber is None:
            return "not open"
        state = subscriber.state()
        receiver = self.receiver
        if state["state"] == "catching_up":
            return (
                f"catching up, sequence {receiver.next_sequence:,} of "
                f"{receiver.claimed_sequence - 1:,} ({100 * state['progress']:.1f}%)"
            )
        if state["state"] == "stuck":
            gap = state["gap"]
            return f"stuck on gap {gap[0]}..{gap[1]} for {state['stuck_s']} s"
        if receiver.stats.messages_delivered == 0:
            return "no market data yet"
        if not self.caught_up:
            return (
                f"recovering gaps {receiver.missing_ranges[:3]}, sequence "
                f"{receiver.next_sequence:,} of {receiver.highest_known_sequence - 1:,}"
            )
        return None

    @property
    def caught_up(self) -> bool:
        """Some data arrived and nothing known is missing."""
        receiver = self.receiver
        return (
            receiver.stats.messages_delivered > 0
            and not receiver.has_missing
            and receiver.next_sequence >= receiver.highest_known_sequence
            and not receiver.catching_up(self.clock.monotonic_ns())
        )

    def close(self) -> None:
        if self.subscriber is not None:
            self.subscriber.close()
            self.closed_subscriber, self.subscriber = self.subscriber, None
