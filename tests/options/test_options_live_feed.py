"""An options venue in a `calarb run` file: `[strategy]` names the options strategy, the
venue's `[venues.feed] protocol = "itto"` makes the live engine decode Nasdaq ITTO 4.0 for it
(`calarb.trading.venue_feed`, `calarb.book.options_feed`). Over real loopback multicast from
the options simulator's publisher, the engine's tops equal the venue's books; hostile
messages are refused one line each and the engine goes on."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest

from calarb.backtest.options_market import OptionsMarket, OptionsMarketConfig
from calarb.backtest.options_run import LockstepVenueGateway
from calarb.core.clock import LiveClock
from calarb.itch.transport import fresh_multicast_address, multicast_publisher_socket
from calarb.trading.config import ConfigError, load_config
from calarb.trading.engine import TradingEngine
from calarb.trading.strategy_api import StrategyHost
from calarb.trading.venue_feed import VenueFeed
from calarb.venue.market_data import MarketDataConfig, VenueMarketData
from calarb.venue.options_publisher import OptionsItchPublisher, split_events

STRATEGY = "calarb.trading.options_strategy:OptionsCalibrationStrategy"


UNDERLYING_VENUE = """
[[venues]]
name = "EQTY"
[venues.fix]
BeginString = "FIX.4.4"
SenderCompID = "CALARBEQ"
TargetCompID = "EQTY"
SocketConnectHost = "127.0.0.1"
SocketConnectPort = 9202
[venues.feed]
group = "239.255.20.9"
port = 32009
retransmission_port = 32010
"""


def run_file(tmp_path: Path, options: list[str], group: str, port: int, protocol: str = "itto",
             extra: str = "", retransmission_port: int = 32002,
             underlying_venue: str = UNDERLYING_VENUE) -> Path:  # fmt: skip
    listed = ", ".join(f'"{symbol}"' for symbol in options)
    path = tmp_path / "options.toml"
    path.write_text(f"""
[strategy]
class = "{STRATEGY}"
underlying = "SYNTH"
trade_date = 2026-06-01
options = [{listed}]
order_contracts = 2
{extra}
[strategy.limits]
max_delta_shares = 800.0

[[venues]]
name = "OPTV"
[venues.fix]
BeginString = "FIX.4.4"
SenderCompID = "CALARB"
TargetCompID = "OPTV"
SocketConnectHost = "127.0.0.1"
SocketConnectPort = 9201
[venues.feed]
group = "{group}"
port = {port}
retransmission_port = {retransmission_port}
session = "OPTS"
protocol = "{protocol}"
{underlying_venue}""")
    return path


def test_a_run_file_names_the_options_strategy_and_an_itto_feed(tmp_path):
    market = OptionsMarket(OptionsMarketConfig(seed=2))
    config = load_config(run_file(tmp_path, market.symbols[:4], "239.255.20.1", 32001))
    venue, equities = config.venues
    assert (venue.feed.protocol, equities.feed.protocol) == ("itto", "itch")
    strategy = config.strategy.build()
    assert strategy.symbols == ["SYNTH", *market.symbols[:4]]
    assert strategy.config.order_contracts == 2 and strategy.risk.limits.max_delta_shares == 800
    # without a venue for the underlying (ITCH 5.0) or for the options (ITTO): one line
    with pytest.raises(ConfigError, match=r"needs a venue whose feed is 'itch'") as bad:
        load_config(run_file(tmp_path, market.symbols[:1], "239.255.20.1", 32001,
                             underlying_venue=""))  # fmt: skip
    assert "\n" not in str(bad.value) and "options.toml" in str(bad.value)
    with pytest.raises(ConfigError, match=r"needs a venue whose feed is 'itto'"):
        load_config(run_file(tmp_path, market.symbols[:1], "239.255.20.1", 32001, "itch"))
    with pytest.raises(ConfigError, match=r"venues\[0\]\.feed\.protocol") as bad:
        load_config(run_file(tmp_path, market.symbols[:1], "239.255.20.1", 32001, "fast"))
    assert "\n" not in str(bad.value)
    with pytest.raises(ConfigError, match=r"options\[1\]: OCC symbol .SYNTH. has 5 characters"):
        load_config(run_file(tmp_path, [market.symbols[0], "SYNTH"], "239.255.20.1", 32001))
    with pytest.raises(ConfigError, match="entry_volpoints"):
        load_config(run_file(tmp_path, market.symbols[:1], "239.255.20.1", 32001,
                             extra="entry_volpoints = 3.0"))  # fmt: skip


def _mold_packet(session: str, sequence: int, *messages: bytes) -> bytes:
    header = session.encode().ljust(10) + struct.pack(">QH", sequence, len(messages))
    return header + b"".join(struct.pack(">H", len(m)) + m for m in messages)


@pytest.mark.network
def test_an_itto_venue_feed_over_loopback_multicast_gives_the_engine_the_option_tops(tmp_path):
    async def scenario() -> None:
        market = OptionsMarket(OptionsMarketConfig(seed=5))
        traded = market.symbols[::3]
        group, port = fresh_multicast_address()
        publisher = OptionsItchPublisher(market.symbols, underlying=market.underlying.symbol)
        md = await VenueMarketData.open(
            MarketDataConfig("OPTS", group, port, session_per_instance=False), (),
            publisher=publisher,
        )  # fmt: skip
        retransmission_port = md.retransmission_address[1]
        config = load_config(run_file(tmp_path, traded, group, port,
                                      retransmission_port=retransmission_port))  # fmt: skip
        venue = config.venues[0]
        clock = LiveClock()
        host = StrategyHost(config.strategy.build(), id_prefix="O")
        engine = TradingEngine(clock, host, {"OPTV": LockstepVenueGateway(market.engine)})
        host.attach(engine)
        feed = VenueFeed("OPTV", engine, clock, venue.feed.session)
        hostile = multicast_publisher_socket()
        try:
            await feed.open(venue)
            md.start_of_day(market.now_ns)
            for _ in range(300):
                options, _underlying = split_events(market.engine.take_book_events(), publisher)
                md.publish_events(options)
                market.step()
                await asyncio.sleep(0)
            wanted = md.next_sequence
            receiver = feed.receiver
            assert await feed.subscriber.wait_until(lambda r: r.next_sequence >= wanted, 10.0)
            # hostile: an unknown type, a short quote, a quote for an option never listed
            junk = (b"\x00garbage", b"J" + bytes(5), b"J" + bytes(44))
            hostile.sendto(_mold_packet("OPTS", wanted, *junk), (group, port))
            assert await feed.subscriber.wait_until(
                lambda r: r.next_sequence >= wanted + len(junk), 10.0
            )
        finally:
            hostile.close()
            feed.close()
            await md.close()
        books = feed.options_feed
        assert type(books).__name__ == "OptionsBookFeed" and venue.feed.protocol == "itto"
        assert receiver.stats.messages_delivered >= wanted - 1
        # the engine's consolidated tops are the venue's books, for the traded options only
        assert set(books.tops) == set(traded)
        for symbol in traded:
            venue_top = market.engine.top_of_book(symbol)
            top = engine.consolidated[symbol]
            assert (top.bid_price, top.bid_shares, top.ask_price, top.ask_shares) == (
                venue_top.bid_price, venue_top.bid_shares, venue_top.ask_price,
                venue_top.ask_shares,
            ), symbol  # fmt: skip
            assert host.user.tops[symbol] == top
        assert books.errors == {"decode_error": 2, "book_error": 1}, books.decode_errors
        assert all(line.startswith("ITTO message ") for line in books.decode_errors)
        assert feed.closed_subscriber.callback_errors == 0
        # a restarted venue (new MoldUDP64 session): the options' tops leave the engine and
        # a fresh decoder rebuilds them from the new session
        feed.reset_books(receiver)
        assert feed.options_feed is not books and not feed.options_feed.tops
        assert feed.options_feed.symbol_filter == books.symbol_filter
        for symbol in traded:
            assert engine.consolidated[symbol][2:] == (0, 0, 0, 0)

    asyncio.run(scenario())


def test_hostile_itto_bytes_are_refused_one_line_each():
    from calarb.book.options_feed import OptionsBookFeed

    feed = OptionsBookFeed()
    for payload in (b"", b"R", b"Zjunk", b"J" + bytes(60)):
        assert feed.on_message_bytes(payload) is None
    assert feed.messages == 4 and sum(feed.errors.values()) == 4
    assert all("\n" not in line and line.startswith("ITTO message ") for line in feed.decode_errors)

