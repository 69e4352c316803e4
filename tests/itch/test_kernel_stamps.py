"""The subscriber stamps each datagram with the kernel's receive time (SO_TIMESTAMPNS),
carried over to the monotonic clock; a simulated clock gets the read time."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from calarb.core.clock import SimulatedClock
from calarb.itch.moldudp64 import MoldReceiver, MoldSender
from calarb.itch.transport import (
    MoldSubscriber,
    fresh_multicast_address,
    kernel_stamp_ns,
    multicast_publisher_socket,
)


async def _receive(clock=None, delay_s: float = 0.0):
    group, port = fresh_multicast_address()
    stamps: list[tuple[bytes, int, int]] = []

    def on_message(payload: bytes, received_ns: int) -> None:
        stamps.append((payload, received_ns, time.monotonic_ns()))

    sender = MoldSender("STAMPS")
    subscriber = await MoldSubscriber.create(
        MoldReceiver(None), group, port, ("127.0.0.1", 9), on_message, clock=clock
    )
    publisher = multicast_publisher_socket()
    try:
        (packet,) = sender.add(b"x" * 10) + sender.flush()
        sent_ns = time.monotonic_ns()
        publisher.sendto(packet, (group, port))
        time.sleep(delay_s)  # the datagram waits in the socket while the loop is busy
        for _ in range(200):
            if stamps:
                break
            await asyncio.sleep(0.005)
    finally:
        publisher.close()
        subscriber.close()
    return subscriber, stamps, sent_ns


@pytest.mark.skipif(sys.platform != "linux", reason="SO_TIMESTAMPNS is Linux's")
def test_kernel_stamp_is_the_arrival_not_the_read():
    subscriber, stamps, sent_ns = asyncio.run(_receive(delay_s=0.05))
    assert subscriber.kernel_stamps and subscriber.stamp_source == "kernel SO_TIMESTAMPNS"
    assert subscriber.kernel_stamped == 1 and subscriber.read_stamped == 0
    (payload, received_ns, handled_ns) = stamps[0]
    assert payload == b"x" * 10
    # stamped on arrival, right after the send, though read only after the 50 ms sleep
    assert sent_ns <= received_ns + 1_000_000 and received_ns - sent_ns < 20_000_000
    assert handled_ns - received_ns >= 40_000_000


def test_a_simulated_clock_gets_the_read_time():
    clock = SimulatedClock()
    clock.advance(123)
    subscriber, stamps, _ = asyncio.run(_receive(clock=clock))
    assert not subscriber.kernel_stamps and subscriber.read_stamped == 1
    assert stamps[0][1] == 123


def test_no_ancillary_data_means_no_kernel_stamp():
    assert kernel_stamp_ns([]) == 0
