"""The venue's market data over real loopback multicast: a synthetic market publishes through
`VenueMarketData` with deliberate loss, reordering and duplication; a MoldSubscriber +
ItchBookFeed client recovers every gap from the retransmission server and ends holding
exactly the venue's books. Also: heartbeats when idle, added latency, late joiners, config."""

from __future__ import annotations

import asyncio
import time
import tomllib

import pytest

from calarb.book.feed import ItchBookFeed
from calarb.core.types import Side
from calarb.itch.moldudp64 import MoldReceiver
from calarb.itch.transport import MoldSubscriber, fresh_multicast_address
from calarb.venue.itch_publisher import book_differences
from calarb.venue.market_data import FeedFaults, MarketDataConfig, VenueMarketData
from calarb.venue.orders import OrderDeleted
from calarb.venue.synthetic import (
    MarketMakerConfig,
    NoiseTraderConfig,
    PairConfig,
    SymbolConfig,
    SyntheticMarket,
    SyntheticMarketConfig,
)

T0 = 34_200_000_000_000  # 09:30
MS = 1_000_000


def market_config(seed: int) -> SyntheticMarketConfig:
    return SyntheticMarketConfig(
        seed=seed,
        symbols=(
            SymbolConfig("AAA", 100.0, 0.03),
            SymbolConfig("BBB", 50.0, lot_size=10),
            SymbolConfig("CCC", 20.0, 0.05),
        ),
        pairs=(PairConfig("BBB", "AAA", 1.2, 60.0, 0.004),),
        step_ns=100 * MS,
        start_ns=T0,
        market_makers=MarketMakerConfig(count=2, levels=5),
        noise_traders=NoiseTraderConfig(count=3, orders_per_s=5.0),
    )


def data_config(session: str, **options) -> MarketDataConfig:
    group, port = fresh_multicast_address()
    return MarketDataConfig(session=session, group=group, port=port, **options)


class Client:
    """A feed client: MoldUDP64 subscriber -> ItchBookFeed."""

    def __init__(self) -> None:
        self.feed = ItchBookFeed(emit_events=False)
        self.receiver = MoldReceiver(request_timeout_ns=20 * MS)
        self.subscriber: MoldSubscriber | None = None

    async def connect(self, market_data: VenueMarketData) -> Client:
        group, port = market_data.group_address
        self.subscriber = await MoldSubscriber.create(
            self.receiver, group, port, market_data.retransmission_address,
            lambda payload, _received_ns: self.feed.on_message_bytes(payload),
        )  # fmt: skip
        return self

    async def wait_finished(self, timeout_s: float = 15.0) -> bool:
        return await self.subscriber.wait_until(lambda r: r.finished, timeout_s)

    def close(self) -> None:
        if self.subscriber is not None:
            self.subscriber.close()


async def run_market(
    market: SyntheticMarket, market_data: VenueMarketData, steps: int, halt_at: int = -1
) -> float:
    """Step the market, publishing after each step; returns seconds spent publishing."""
    engine = market.engine
    publishing = 0.0
    for step in range(steps):
        if step == halt_at:
            engine.halt(market.now_ns, "CCC", "LUDP")
        if step == halt_at + steps // 10:
            engine.resume(market.now_ns, "CCC")
        market.step()
        started = time.perf_counter()
        market_data.publish_engine(engine)
        publishing += time.perf_counter() - started
        engine.take_reports()
        await asyncio.sleep(0)  # let the client (same loop) read
    return publishing


@pytest.mark.network
def test_lossy_feed_recovered_by_retransmission_gives_the_venue_books() -> None:
    async def scenario() -> None:
        faults = FeedFaults(drop=0.02, reorder=0.02, duplicate=0.02, seed=7)
        config = data_config("VENUE1", heartbeat_interval_s=0.05, faults=faults)
        market = SyntheticMarket(market_config(seed=5))
        engine = market.engine
        market_data = await VenueMarketData.open(config, engine.instruments)
        client = await Client().connect(market_data)
        try:
            market_data.start_of_day(market.now_ns)
            market_data.publish_engine(engine)  # the opening quotes
            steps = 6_000  # 10 simulated minutes
            publishing = await run_market(market, market_data, steps, halt_at=2_000)
            await market_data.end_of_day(market.now_ns)
            assert await client.wait_finished(), client.receiver.stats.as_dict()
        finally:
            client.close()
            await market_data.close()

        assert book_differences(engine, client.feed.books) == []
        assert not client.feed.errors and client.subscriber.callback_errors == 0
        published = market_data.next_sequence - 1
        assert published == market_data.stats.messages_published > 20_000
        assert client.feed.messages == client.receiver.stats.messages_delivered == published
        link = market_data.link.stats
        assert link.dropped > 20 and link.reordered > 20 and link.duplicated > 20
        stats = client.receiver.stats
        assert stats.gaps_detected > 0 and stats.gaps_recovered == stats.gaps_detected
        assert stats.duplicates_dropped > 0
        assert market_data.retransmission_server.stats.messages_resent >= link.dropped
        assert market_data.stats.events_refused == 0
        print(
            f"\n{published} messages, {steps} steps: published at "
            f"{market_data.stats.events_published / publishing:,.0f} events/s "
            f"(ITCH encode + MoldUDP64 + sendto); link {link}; receiver {stats.as_dict()}"
        )

    asyncio.run(scenario())


@pytest.mark.network
def test_heartbeats_flow_when_idle_and_not_while_busy() -> None:
    async def scenario() -> None:
        market = SyntheticMarket(market_config(seed=8))
        config = data_config("VENUE2", heartbeat_interval_s=0.02)
        market_data = await VenueMarketData.open(config, market.engine.instruments)
        client = await Client().connect(market_data)
        try:
            market_data.start_of_day(market.now_ns)
            market_data.publish_engine(market.engine)
            await asyncio.sleep(0.3)  # idle
            idle_beats = client.receiver.stats.heartbeats_received
            assert idle_beats >= 5, client.receiver.stats.as_dict()
            assert market_data.stats.heartbeats_sent >= idle_beats
            # the heartbeats announce the next sequence: the client knows it is up to date
            assert client.receiver.highest_known_sequence == market_data.next_sequence
            assert client.receiver.next_sequence == market_data.next_sequence
            # busy: an order every 5 ms leaves (almost) no idle interval for a heartbeat
            sent_before = market_data.stats.heartbeats_sent
            started = time.perf_counter()
            for number in range(40):
                market.engine.submit(
                    market.now_ns, "TEST", f"t{number}", "AAA", Side.BUY, 100, 500_000
                )
                market_data.publish_engine(market.engine)
                await asyncio.sleep(0.005)
            busy_ticks = (time.perf_counter() - started) / config.heartbeat_interval_s
            busy_beats = market_data.stats.heartbeats_sent - sent_before
            assert busy_beats <= busy_ticks / 2, (busy_beats, busy_ticks)
        finally:
            client.close()
            await market_data.close()
        assert book_differences(market.engine, client.feed.books) == []

    asyncio.run(scenario())


@pytest.mark.network
def test_added_latency_delays_packets_in_order() -> None:
    async def scenario() -> None:
        market = SyntheticMarket(market_config(seed=9))
        config = data_config("VENUE3", heartbeat_interval_s=10.0, latency_ms=60.0)
        market_data = await VenueMarketData.open(config, market.engine.instruments)
        client = await Client().connect(market_data)
        try:
            market_data.start_of_day(market.now_ns)
            market_data.publish_engine(market.engine)
            sent = time.perf_counter()
            target = market_data.next_sequence
            assert await client.subscriber.wait_until(lambda r: r.next_sequence >= target, 5.0)
            waited = time.perf_counter() - sent
            assert waited >= 0.055
            for _ in range(50):
                market.step()
                market_data.publish_engine(market.engine)
            await market_data.end_of_day(market.now_ns)
            assert await client.wait_finished()
        finally:
            client.close()
            await market_data.close()
        assert client.receiver.stats.gaps_detected == 0  # delayed, not reordered
        assert book_differences(market.engine, client.feed.books) == []

    asyncio.run(scenario())


@pytest.mark.network
def test_late_joiner_replays_the_day_from_the_retransmission_server() -> None:
    async def scenario() -> None:
        market = SyntheticMarket(market_config(seed=10))
        config = data_config("VENUE4", heartbeat_interval_s=0.05)
        market_data = await VenueMarketData.open(config, market.engine.instruments)
        client = Client()
        try:
            market_data.start_of_day(market.now_ns)
            market_data.publish_engine(market.engine)
            await run_market(market, market_data, 500)
            joined_at = market_data.next_sequence
            await client.connect(market_data)  # first_sequence=1: asks for everything before
            await run_market(market, market_data, 200)
            await market_data.end_of_day(market.now_ns)
            assert await client.wait_finished()
        finally:
            client.close()
            await market_data.close()
        assert joined_at > 2_000
        assert client.receiver.stats.messages_requested >= joined_at - 1
        assert book_differences(market.engine, client.feed.books) == []

    asyncio.run(scenario())


@pytest.mark.network
def test_an_event_itch_cannot_carry_is_refused_and_the_feed_goes_on() -> None:
    async def scenario() -> VenueMarketData:
        market = SyntheticMarket(market_config(seed=11))
        market_data = await VenueMarketData.open(data_config("VENUE5"), market.engine.instruments)
        try:
            market_data.start_of_day(market.now_ns)
            before = market_data.next_sequence
            bad = OrderDeleted(market.now_ns, "NOPE", 1)
            good = OrderDeleted(market.now_ns, "AAA", 1)
            assert market_data.publish_events([bad, good]) == 1
            assert market_data.next_sequence == before + 1
        finally:
            await market_data.close()
        return market_data

    market_data = asyncio.run(scenario())
    assert market_data.stats.events_refused == 1
    assert "symbol 'NOPE' is not listed" in str(market_data.errors[0])


CONFIG_TOML = """
[market_data]
session = "NASDAQ1"
group = "239.255.10.20"
port = 30001
retransmission_port = 30002
heartbeat_interval_s = 0.5
latency_ms = 2.5
mpids = { MM1 = "MMA" }

[market_data.faults]
drop = 0.02
reorder = 0.01
duplicate = 0.01
seed = 42
"""


def test_config_from_toml_and_errors_name_the_key() -> None:
    table = tomllib.loads(CONFIG_TOML)["market_data"]
    config = MarketDataConfig.from_mapping(table)
    assert (config.session, config.group, config.port) == ("NASDAQ1", "239.255.10.20", 30001)
    assert config.retransmission_port == 30002 and config.latency_ms == 2.5
    assert config.mpids == {"MM1": "MMA"}
    assert config.faults == FeedFaults(drop=0.02, reorder=0.01, duplicate=0.01, seed=42)
    link = config.faults.link()
    assert link is not None and link.drop == 0.02
    assert FeedFaults().link() is None
    for change, message in (
        ({"colour": "red"}, r"market_data: unknown key\(s\) \['colour'\]"),
        ({"group": "10.0.0.1"}, "not a multicast address"),
        ({"group": "nowhere"}, "not an IPv4 address"),
        ({"port": 0}, "port 0 is not a usable UDP port"),
        ({"faults": {"drop": 1.5}}, r"faults.drop = 1.5 is outside \[0, 1\]"),
        ({"faults": {"loss": 0.1}}, r"market_data.faults: unknown key\(s\) \['loss'\]"),
        ({"heartbeat_interval_s": 0}, "must be positive"),
    ):
        with pytest.raises(ValueError, match=message):
            MarketDataConfig.from_mapping({**table, **change})
