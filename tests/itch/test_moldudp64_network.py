"""MoldUDP64 over real loopback multicast (joined on 127.0.0.1) and a real UDP re-request
server, with seeded drops, reordering and duplicates injected on the publisher side."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from calarb.itch.codec import encode
from calarb.itch.messages import AddOrder
from calarb.itch.moldudp64 import MoldReceiver, MoldSender, RetransmissionServer, decode_packet
from calarb.itch.transport import (
    LossyLink,
    MoldPublisher,
    MoldSubscriber,
    RetransmissionEndpoint,
    fresh_multicast_address,
    multicast_publisher_socket,
    multicast_subscriber_socket,
)

MS = 1_000_000


def add_order(reference: int) -> bytes:
    return encode(
        AddOrder(
            stock_locate=1 + reference % 11,
            tracking_number=reference % 65536,
            timestamp=34_200_000_000_000 + 1_000 * reference,
            order_reference_number=reference,
            buy_sell_indicator="B" if reference % 2 else "S",
            shares=100 * (1 + reference % 9),
            stock=("AAPL", "MSFT", "NVDA")[reference % 3],
            price=1_000_000 + 100 * (reference % 500),
        )
    )


# --- LossyLink (pure, no sockets) ------------------------------------------------------------


def test_lossy_link_is_deterministic_and_injects_each_fault():
    packets = [n.to_bytes(4, "big") for n in range(2000)]

    def run(seed: int) -> list[bytes]:
        link = LossyLink(seed, drop=0.05, reorder=0.05, duplicate=0.05)
        return [out for p in packets for out in link.process(p)] + link.flush()

    first = run(11)
    assert first == run(11)
    assert first != run(12)
    link = LossyLink(11, drop=0.05, reorder=0.05, duplicate=0.05)
    for p in packets:
        link.process(p)
    link.flush()
    stats = link.stats
    assert 50 < stats.dropped < 150 and 50 < stats.reordered < 150 and 50 < stats.duplicated < 150
    assert stats.packets_out == len(first) == 2000 - stats.dropped + stats.duplicated
    assert len(set(first)) == 2000 - stats.dropped
    assert first != sorted(first)  # reordered
    with pytest.raises(ValueError, match="drop probability 1.5"):
        LossyLink(1, drop=1.5)


# --- sockets ---------------------------------------------------------------------------------


@pytest.mark.network
def test_sockets_stay_on_loopback():
    sender = multicast_publisher_socket()
    try:
        interface = sender.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
        assert socket.inet_ntoa(interface) == "127.0.0.1"
        assert sender.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 1
        assert sender.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 1
        assert sender.getsockname()[0] == "127.0.0.1"
    finally:
        sender.close()
    with pytest.raises(ValueError, match="TTL 2 would leave the host"):
        multicast_publisher_socket(ttl=2)
    group, port = fresh_multicast_address()
    listener = multicast_subscriber_socket(group, port)
    try:
        assert listener.getsockname() == (group, port)
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
    finally:
        listener.close()


async def run_feed(
    messages: list[bytes],
    link: LossyLink | None,
    subscribers: int = 1,
    request_timeout_ns: int = 20 * MS,
) -> dict:
    group, port = fresh_multicast_address()
    sender = MoldSender("NETTEST1")
    server = RetransmissionServer.for_sender(sender)
    endpoint = await RetransmissionEndpoint.create(server)
    publisher = await MoldPublisher.create(sender, group, port, link=link)
    feeds = []
    for _ in range(subscribers):
        delivered: list[bytes] = []
        receiver = MoldReceiver(request_timeout_ns=request_timeout_ns)
        subscriber = await MoldSubscriber.create(
            receiver, group, port, endpoint.address, lambda payload, _ns, d=delivered: d.append(payload)
        )  # fmt: skip
        feeds.append((subscriber, delivered))
    try:
        started = time.perf_counter()
        await publisher.publish_all(messages)
        await publisher.end_session()
        finished = [
            await subscriber.wait_until(lambda r: r.finished, timeout_s=10.0)
            for subscriber, _ in feeds
        ]
        elapsed = time.perf_counter() - started
    finally:
        for subscriber, _ in feeds:
            subscriber.close()
        publisher.close()
        endpoint.close()
    return {
        "finished": finished,
        "feeds": feeds,
        "server": server,
        "publisher": publisher,
        "elapsed": elapsed,
    }


@pytest.mark.network
def test_faulty_multicast_feed_is_recovered_exactly_once_in_order():
    messages = [add_order(n) for n in range(20_000)]
    link = LossyLink(seed=2024, drop=0.05, reorder=0.05, duplicate=0.05)
    result = asyncio.run(run_feed(messages, link))
    ((subscriber, delivered),) = result["feeds"]
    stats = subscriber.receiver.stats
    assert result["finished"] == [True], stats
    assert len(delivered) == len(messages)
    assert delivered == messages  # every message exactly once, in sequence order
    assert link.stats.dropped > 10 and link.stats.reordered > 10 and link.stats.duplicated > 10
    assert stats.gaps_detected >= 1
    assert stats.gaps_recovered == stats.gaps_detected
    assert stats.duplicates_dropped > 0
    assert stats.requests_sent >= 1
    assert result["server"].stats.messages_resent >= link.stats.dropped
    assert subscriber.callback_errors == 0
    rate = len(messages) / result["elapsed"]
    print(f"\n20k msgs with 5% drop/reorder/dup: {rate:,.0f} msg/s, {stats.as_dict()}")


@pytest.mark.network
def test_two_subscribers_on_one_group_each_get_the_whole_feed():
    messages = [add_order(n) for n in range(3_000)]
    link = LossyLink(seed=5, drop=0.02)
    result = asyncio.run(run_feed(messages, link, subscribers=2))
    assert result["finished"] == [True, True]
    for subscriber, delivered in result["feeds"]:
        assert delivered == messages
        assert subscriber.receiver.stats.gaps_recovered == subscriber.receiver.stats.gaps_detected


@pytest.mark.network
def test_retransmission_endpoint_answers_over_udp_and_ignores_garbage():
    async def scenario() -> tuple[list[bytes], RetransmissionServer]:
        sender = MoldSender("NETTEST2")
        for n in range(100):
            sender.add(add_order(n))
        sender.flush()
        server = RetransmissionServer.for_sender(sender)
        endpoint = await RetransmissionEndpoint.create(server)
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))
        client.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendto(client, b"not a request", endpoint.address)
            await loop.sock_sendto(
                client,
                sender.session + (40).to_bytes(8, "big") + (5).to_bytes(2, "big"),
                endpoint.address,
            )
            answer = await asyncio.wait_for(loop.sock_recv(client, 65536), 5.0)
        finally:
            client.close()
            endpoint.close()
        return [answer], server

    answers, server = asyncio.run(scenario())
    decoded = decode_packet(answers[0])
    assert decoded.sequence == 40
    assert list(decoded.messages) == [add_order(n) for n in range(39, 44)]
    assert server.stats.requests_bad == 1
    assert server.stats.messages_resent == 5


@pytest.mark.network
def test_heartbeat_timer_flushes_and_a_failing_callback_does_not_stop_the_feed():
    messages = [add_order(n) for n in range(10)]  # fewer than one packet: only a flush sends them

    async def scenario() -> tuple[list[bytes], MoldSubscriber, bool]:
        group, port = fresh_multicast_address()
        sender = MoldSender("NETTEST3")
        endpoint = await RetransmissionEndpoint.create(RetransmissionServer.for_sender(sender))
        publisher = await MoldPublisher.create(sender, group, port)
        delivered: list[bytes] = []

        def consume(message: bytes, received_ns: int) -> None:
            if message == messages[3]:
                raise RuntimeError("consumer bug")
            delivered.append(message)

        subscriber = await MoldSubscriber.create(
            MoldReceiver(), group, port, endpoint.address, consume
        )
        try:
            for message in messages:
                publisher.publish(message)
            assert sender.pending_messages == 10
            publisher.start_heartbeats(0.02)
            heard = await subscriber.wait_until(
                lambda r: r.stats.heartbeats_received >= 2, timeout_s=5.0
            )
        finally:
            subscriber.close()
            publisher.close()
            endpoint.close()
        return delivered, subscriber, heard

    delivered, subscriber, heard = asyncio.run(scenario())
    assert heard
    assert delivered == messages[:3] + messages[4:]
    assert subscriber.callback_errors == 1
    assert subscriber.receiver.next_sequence == 11
    assert not subscriber.receiver.has_missing
