"""The options simulator: Heston underlying, quotes around the true surface, planted
mispricings; published as ITTO 4.0 over MoldUDP64 on real loopback multicast (with loss,
reordering, duplication and hostile datagrams) and rebuilt by a client into the venue's top
of book."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from calarb.backtest.options_market import OptionsMarket, OptionsMarketConfig
from calarb.book.options_book import OptionListed, OptionsQuoteBook
from calarb.itch.moldudp64 import MoldReceiver
from calarb.itch.options_codec import decode_options_message
from calarb.itch.transport import (
    MoldSubscriber,
    fresh_multicast_address,
    multicast_publisher_socket,
)
from calarb.options.black import black_greeks
from calarb.options.implied import implied_vol
from calarb.venue.itch_publisher import ItchPublishError
from calarb.venue.market_data import FeedFaults, MarketDataConfig, VenueMarketData
from calarb.venue.options_publisher import OptionsItchPublisher, split_events

MS = 1_000_000


def test_the_market_is_seeded_and_quotes_around_the_true_surface():
    config = OptionsMarketConfig(seed=3, mispricings_per_minute=6.0)
    a, b = OptionsMarket(config), OptionsMarket(config)
    a.run(600)
    b.run(600)
    assert a.path.spot == b.path.spot and a.plants == b.plants
    assert a.engine.take_book_events() == b.engine.take_book_events()
    assert len(a.plants) >= 3
    assert {p.vol_points for p in a.plants} <= {4.0, -4.0}
    # away from the live plants, each quote's mid implies a vol within a vol point of the truth
    live = {p.symbol for p in a.plants if p.start_ns <= a.now_ns < p.end_ns}
    truth = a.true_vols()
    times = a.times()
    vega = black_greeks(a.path.spot, a._strikes, times, truth, 1.0, a._is_call)["vega"]
    checked = 0
    for index, symbol in enumerate(a.symbols):
        top = a.engine.top_of_book(symbol)
        contract = a.contracts[index]
        mid = (top.bid_price + top.ask_price) / 2 / 10_000
        vol = implied_vol(
            mid, a.path.spot, contract.strike / 10_000, times[index], 1.0, contract.is_call
        )
        if symbol in live or not np.isfinite(vol) or top.ask_price - top.bid_price > 2_000:
            continue
        # where a vol point is worth 5 ticks or more (1-cent ticks hide the vol of the others)
        if vega[index] / 100 >= 0.05:
            assert abs(vol - truth[index]) * 100 < 1.0, (symbol, vol, truth[index])
            checked += 1
    assert checked >= 15
    assert a.engine.top_of_book("SYNTH").bid_shares > 0


def test_a_planted_mispricing_moves_the_quote_by_its_vol_shift():
    config = OptionsMarketConfig(seed=5, mispricings_per_minute=30.0, noise_vol_points=0.0)
    market = OptionsMarket(config)
    while not market.plants:
        market.step()
    plant = market.plants[0]
    index = market.symbols.index(plant.symbol)
    quoted = market.quoted_vols()[index]
    assert quoted - market.true_vols()[index] == pytest.approx(plant.vol_points / 100)
    top = market.engine.top_of_book(plant.symbol)
    fair = market.fair_values()[index] * 10_000
    if plant.vol_points < 0:
        assert top.ask_price < fair + 50  # cheap: the ask is about at or under fair value
    else:
        assert top.bid_price > fair - 50


def test_publisher_refuses_what_itto_cannot_carry():
    with pytest.raises(ItchPublishError, match="cannot list 'AAPL' on ITTO"):
        OptionsItchPublisher(["AAPL"])
    publisher = OptionsItchPublisher(["SYNTH 260204C00100000"])
    start = publisher.start_of_day(34_200_000_000_000)
    assert [m.message_type for m in start] == ["S", "R", "H", "S", "S", "O"]
    assert start[1].explicit_strike_price == 1_000_000 and start[1].option_type == "C"


class OptionsClient:
    """MoldUDP64 subscriber -> ITTO decoder -> OptionsQuoteBook."""

    def __init__(self) -> None:
        self.book = OptionsQuoteBook()
        self.receiver = MoldReceiver(request_timeout_ns=20 * MS)
        self.listed: list[OptionListed] = []
        self.subscriber: MoldSubscriber | None = None

    def on_message(self, payload: bytes, _received_ns: int) -> None:
        for event in self.book.on_message(decode_options_message(payload, 0, len(payload))):
            if isinstance(event, OptionListed):
                self.listed.append(event)


@pytest.mark.network
def test_itto_over_lossy_moldudp64_rebuilds_the_venue_option_books():
    async def scenario() -> None:
        market = OptionsMarket(OptionsMarketConfig(seed=11))
        publisher = OptionsItchPublisher(market.symbols)
        group, port = fresh_multicast_address()
        config = MarketDataConfig(
            session="OPTS1", group=group, port=port, heartbeat_interval_s=0.05,
            faults=FeedFaults(drop=0.03, reorder=0.03, duplicate=0.03, seed=4),
        )  # fmt: skip
        feed = await VenueMarketData.open(config, (), publisher=publisher)
        client = OptionsClient()
        client.subscriber = await MoldSubscriber.create(
            client.receiver, group, port, feed.retransmission_address, client.on_message
        )
        underlying_events = 0
        hostile = multicast_publisher_socket()
        junk = [
            b"",
            b"garbage",
            b"OPTS1     " + bytes(5),
            b"OPTS1     " + bytes(8) + b"\x00\x05\x00\x30J",
        ]
        try:
            feed.start_of_day(market.now_ns)
            for step in range(1_500):
                if step % 100 == 0:  # hostile datagrams on the group: refused, counted
                    for datagram in junk:
                        hostile.sendto(datagram, (group, port))
                options, others = split_events(market.engine.take_book_events(), publisher)
                underlying_events += len(others)
                feed.publish_events(options)
                market.step()
                await asyncio.sleep(0)
            options, _ = split_events(market.engine.take_book_events(), publisher)
            feed.publish_events(options)
            await feed.end_of_day(market.now_ns)
            assert await client.subscriber.wait_until(lambda r: r.finished, 15.0)
        finally:
            hostile.close()
            client.subscriber.close()
            await feed.close()
        assert client.subscriber.callback_errors == 0
        assert client.receiver.stats.packets_bad >= 30, client.receiver.stats.as_dict()
        assert feed.stats.events_refused == 0 and underlying_events > 0
        assert [e.contract.symbol for e in client.listed] == market.symbols
        assert client.receiver.stats.gaps_recovered > 0
        for option_id, symbol in enumerate(market.symbols, start=1):
            venue = market.engine.top_of_book(symbol)
            wire = client.book.top(option_id)
            assert (wire.bid_price, wire.bid_shares, wire.ask_price, wire.ask_shares) == (
                venue.bid_price,
                venue.bid_shares,
                venue.ask_price,
                venue.ask_shares,
            ), symbol

    asyncio.run(scenario())
