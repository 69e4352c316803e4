"""A MoldUDP64 subscriber under attack and outage, over real loopback multicast and a real UDP
re-request server: spoofed packets from another sender, a sequence number a billion ahead,
garbage, and a re-request server that goes away and comes back."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from calarb.itch.codec import encode
from calarb.itch.messages import AddOrder
from calarb.itch.moldudp64 import (
    MoldReceiver,
    MoldSender,
    RetransmissionServer,
    encode_packet,
)
from calarb.itch.transport import (
    MoldPublisher,
    MoldSubscriber,
    RetransmissionEndpoint,
    fresh_multicast_address,
    multicast_publisher_socket,
    parse_source,
)

pytestmark = pytest.mark.network
MS = 1_000_000


def add_order(reference: int) -> bytes:
    return encode(
        AddOrder(1, 0, 34_200_000_000_000 + reference, reference, "B", 100, "AAPL",
                 1_000_000 + reference)
    )  # fmt: skip


class Feed:
    """A publisher, its re-request server and one subscriber on a fresh group."""

    async def open(self, sources=None, **receiver_options) -> Feed:
        self.group, self.port = fresh_multicast_address()
        self.sender = MoldSender("SPOOFT1")
        self.server = RetransmissionServer.for_sender(self.sender)
        self.endpoint = await RetransmissionEndpoint.create(self.server)
        self.publisher = await MoldPublisher.create(self.sender, self.group, self.port)
        host, port = self.publisher.source
        self.delivered: list[bytes] = []
        self.receiver = MoldReceiver(request_timeout_ns=20 * MS, **receiver_options)
        self.subscriber = await MoldSubscriber.create(
            self.receiver, self.group, self.port, self.endpoint.address,
            lambda payload, _ns: self.delivered.append(payload), name="TEST",
            sources=sources if sources is not None else [f"{host}:{port}"],
        )  # fmt: skip
        return self

    def spoof(self, packets: list[bytes], sock: socket.socket | None = None) -> None:
        sock = sock or multicast_publisher_socket()  # 127.0.0.1, another port
        for packet in packets:
            sock.sendto(packet, (self.group, self.port))
        sock.close()

    def close(self) -> None:
        self.subscriber.close()
        self.publisher.close()
        self.endpoint.close()


def test_twenty_spoofed_packets_just_ahead_of_the_live_sequence_change_nothing():
    real = [add_order(n) for n in range(1, 201)]

    async def scenario() -> Feed:
        feed = await Feed().open()
        try:
            for message in real[:100]:
                feed.publisher.publish(message)
            feed.publisher.flush()
            assert await feed.subscriber.wait_until(lambda r: r.next_sequence == 101, 5.0)
            session = feed.sender.session
            fake = add_order(999_999)
            feed.spoof([encode_packet(session, 101 + n, [fake]) for n in range(20)])
            await asyncio.sleep(0.05)
            for message in real[100:]:
                feed.publisher.publish(message)
            feed.publisher.flush()
            assert await feed.subscriber.wait_until(lambda r: r.next_sequence == 201, 5.0)
        finally:
            feed.close()
        return feed

    feed = asyncio.run(scenario())
    assert feed.delivered == real
    assert feed.receiver.stats.duplicates_dropped == 0


def test_a_sequence_a_billion_ahead_from_the_source_itself_opens_no_endless_gap():
    real = [add_order(n) for n in range(1, 401)]

    async def scenario() -> Feed:
        feed = await Feed().open(max_sequence_jump=10_000)
        try:
            for message in real[:200]:
                feed.publisher.publish(message)
            feed.publisher.flush()
            # the forged packet comes out of the publisher's own socket (a forged source)
            forged = encode_packet(feed.sender.session, 10**9, [add_order(0)])
            feed.publisher._send_raw([forged])
            for message in real[200:]:
                feed.publisher.publish(message)
            feed.publisher.flush()
            assert await feed.subscriber.wait_until(lambda r: r.next_sequence == 401, 5.0)
        finally:
            feed.close()
        return feed

    feed = asyncio.run(scenario())
    assert feed.delivered == real
    stats = feed.receiver.stats
    assert stats.jumps_refused == 1 and stats.gaps_detected == 0
    assert feed.receiver.missing_ranges == []
    # not 10^9 asked: one bounded window of probes, answered with what really exists
    window = feed.receiver.max_request_count * feed.receiver.max_requests_in_flight
    assert stats.messages_requested <= window and feed.server.stats.messages_resent <= 200


def test_garbage_from_the_source_is_logged_once_with_a_count(caplog):
    async def scenario() -> Feed:
        feed = await Feed().open()
        try:
            for index in range(500):
                feed.publisher._send_raw([b"\x00garbage" * (index % 5 + 1)])
            feed.publisher.publish(add_order(1))
            feed.publisher.flush()
            assert await feed.subscriber.wait_until(lambda r: r.stats.packets_bad == 500, 5.0)
            await asyncio.sleep(0.3)  # two health checks
        finally:
            feed.close()
        return feed

    with caplog.at_level(logging.WARNING, logger="calarb.itch.feed"):
        feed = asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name == "calarb.itch.feed"]
    assert len(lines) == 1, lines
    assert "feed TEST: dropped packets: 500 malformed (total 500)" in lines[0]
    assert "byte offset" in lines[0]
    assert feed.delivered == [add_order(1)]


def test_sources_are_parsed_strictly():
    assert parse_source("127.0.0.1") == ("127.0.0.1", 0)
    assert parse_source("127.0.0.1:5000") == ("127.0.0.1", 5000)
    for bad in ("localhost", "127.0.0.1:x", "127.0.0.1:70000", "1.2.3"):
        with pytest.raises(ValueError, match="is not an IPv4 address"):
            parse_source(bad)


def test_the_default_source_drops_a_sender_on_another_address():
    async def scenario() -> Feed:
        feed = await Feed().open(sources=["127.0.0.1"])
        try:
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            other.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                             socket.inet_aton("127.0.0.1"))  # fmt: skip
            other.bind(("127.0.0.2", 0))
            feed.spoof([encode_packet(feed.sender.session, 1, [b"spoof"])], other)
            await asyncio.sleep(0.05)
            feed.publisher.publish(add_order(1))
            feed.publisher.flush()
            assert await feed.subscriber.wait_until(lambda r: r.next_sequence == 2, 5.0)
        finally:
            feed.close()
        return feed

    feed = asyncio.run(scenario())
    assert feed.delivered == [add_order(1)]
    assert feed.receiver.stats.packets_received == 1


def test_a_dead_retransmission_server_gives_one_stuck_message_and_recovery_when_back(caplog):
    async def scenario() -> tuple[Feed, dict, dict, int]:
        feed = await Feed().open()
        try:
            feed.publisher.publish(add_order(1))
            feed.publisher.flush()
            assert await feed.subscriber.wait_until(lambda r: r.next_sequence == 2, 5.0)
            address = feed.endpoint.address
            feed.endpoint.close()  # the server dies
            feed.sender.add(add_order(2))
            feed.sender.flush()  # sequence 2 never reaches the group
            for n in range(3, 2003):  # the live feed goes on, fast
                feed.publisher.publish(add_order(n))
                feed.publisher.flush()
                if n % 100 == 0:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(2.5)
            stuck = feed.subscriber.state()
            requests_while_down = feed.receiver.stats.requests_sent
            feed.endpoint = await RetransmissionEndpoint.create(feed.server, *address)
            assert await feed.subscriber.wait_until(lambda r: r.next_sequence == 2003, 5.0)
            await asyncio.sleep(0.2)
            return feed, stuck, feed.subscriber.state(), requests_while_down
        finally:
            feed.close()

    with caplog.at_level(logging.INFO):
        feed, stuck, recovered, requests_while_down = asyncio.run(scenario())
    assert stuck["state"] == "stuck" and stuck["gap"] == [2, 2]
    assert stuck["buffered"] <= feed.receiver.max_buffered
    assert recovered["state"] == "live"
    assert feed.delivered == [add_order(n) for n in range(1, 2003)]
    assert requests_while_down < 20  # backoff, not a request per datagram
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    stuck_lines = [w for w in warnings if "feed TEST stuck on gap 2..2 since" in w]
    assert len(stuck_lines) == 1, warnings
    assert len(warnings) <= 3, warnings  # the stuck line and at most one socket error line
    assert any("gap 2..2 recovered" in r.getMessage() for r in caplog.records)
