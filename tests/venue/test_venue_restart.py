"""A `calarb venue` process killed with SIGKILL and started again on the same addresses: its
new instance publishes a new MoldUDP64 session, and a subscriber (real multicast, the real
retransmission server) follows it and rebuilds books equal to the ones the new instance
wrote at shutdown, instead of dropping its messages as duplicates of the old session's."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import pytest

from calarb.book.feed import ItchBookFeed
from calarb.itch.moldudp64 import MoldReceiver
from calarb.itch.transport import MoldSubscriber, fresh_multicast_address
from calarb.venue.server import feed_book_snapshot

pytestmark = [pytest.mark.network, pytest.mark.slow]
MS = 1_000_000

CONFIG = """
speed = 1.0
linger_s = 1.0

[synthetic]
seed = {seed}
step_ms = 50
start_ns = 34_200_000_000_000

[[synthetic.symbols]]
symbol = "AAA"
start_price = 100.0

[[synthetic.symbols]]
symbol = "BBB"
start_price = 50.0

[synthetic.noise_traders]
orders_per_s = 20.0

[[venues]]
name = "ALPHA"
fix_port = 0

[venues.market_data]
group = "{group}"
port = {port}
retransmission_port = {retransmission_port}
source_port = {source_port}
heartbeat_interval_s = 0.05
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def start_venue(config: Path, output: Path, log: Path):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "calarb.cli", "venue", "--config", str(config),
        "--output", str(output), stdout=asyncio.subprocess.PIPE, stderr=log.open("wb"),
    )  # fmt: skip
    address = None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30.0)
        if not line:
            raise AssertionError(f"venue exited early: {log.read_text()[-2000:]}")
        if line.startswith(b"{"):
            record = json.loads(line)
            address = record if "venue" in record else address
            if record.get("ready"):
                return process, address


class Client:
    def __init__(self) -> None:
        self.feed = ItchBookFeed(emit_events=False)
        self.resets = 0

    def reset(self, receiver: MoldReceiver) -> None:
        self.feed = ItchBookFeed(emit_events=False)
        self.resets += 1


@pytest.mark.timeout(60)
def test_a_restarted_venue_is_followed_under_its_new_session_and_books_rebuilt(tmp_path):
    group, port = fresh_multicast_address()
    ports = {"retransmission_port": free_udp_port(), "source_port": free_udp_port()}
    configs = []
    for seed in (1, 2):  # the restarted venue's market differs: stale books would show
        path = tmp_path / f"venue{seed}.toml"
        path.write_text(CONFIG.format(seed=seed, group=group, port=port, **ports))
        configs.append(path)

    async def scenario():
        client = Client()
        first, address = await start_venue(configs[0], tmp_path / "out1", tmp_path / "v1.log")
        receiver = MoldReceiver(request_timeout_ns=20 * MS, session_silence_ns=1_000 * MS)
        host, retransmission = address["retransmission"].split(":")
        subscriber = await MoldSubscriber.create(
            receiver, group, port, (host, int(retransmission)),
            lambda payload, _ns: client.feed.on_message_bytes(payload),
            sources=[address["source"]], name="ALPHA", on_session_change=client.reset,
        )  # fmt: skip
        second = None
        try:
            assert await subscriber.wait_until(lambda r: r.next_sequence > 200, 10.0)
            first_session = address["session"]
            first.send_signal(signal.SIGKILL)
            await first.wait()
            second, address2 = await start_venue(configs[1], tmp_path / "out2",
                                                 tmp_path / "v2.log")  # fmt: skip
            assert address2["session"] != first_session
            assert address2["source"] == address["source"]
            assert await subscriber.wait_until(
                lambda r: r.stats.session_changes == 1 and r.next_sequence > 100, 10.0
            ), receiver.stats
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 15.0)
            await subscriber.wait_until(lambda r: r.finished, 5.0)
            return client, receiver, first_session, address2["session"]
        finally:
            subscriber.close()
            for process in (first, second):
                if process is not None and process.returncode is None:
                    process.kill()
                    await process.wait()

    client, receiver, old, new = asyncio.run(scenario())
    assert client.resets == 1
    assert receiver.session.decode().strip() == new and receiver.previous_session.decode().strip() == old
    assert receiver.finished and receiver.stats.duplicates_dropped < 50
    venue_books = json.loads((tmp_path / "out2" / "ALPHA.books.json").read_text())
    assert json.loads(json.dumps(feed_book_snapshot(client.feed.books))) == venue_books
