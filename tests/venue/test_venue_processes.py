"""Acceptance: venues as real processes (`python -m calarb.cli venue --config ...`), traded
over loopback by calarb's FIX initiator while an ITCH feed client (MoldSubscriber +
ItchBookFeed) rebuilds their books from multicast with 2% packet loss.

Process 1 runs two venues (ALPHA, BETA) sharing one fair-value process; process 2 runs a
third (GAMMA, with 1 ms added one-way latency on orders and market data). BETA drops our FIX connection on purpose at 3 s (we reconnect), GAMMA halts
CCC from 2 s to 4 s. At the end every fill we were told of over FIX is one of the venue's
trades and every venue trade of ours was reported, and every rebuilt book equals the book the
venue wrote at shutdown."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import pytest

from calarb.book.feed import ItchBookFeed
from calarb.core.types import Side
from calarb.fix.codec import FixMessage
from calarb.fix.config import SessionSettings
from calarb.fix.messages import (
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    encode_new_order_single,
    format_price,
    to_body,
)
from calarb.fix.session import AppMessageReceived
from calarb.fix.timefmt import TimestampFormatter
from calarb.fix.transport import FixInitiator
from calarb.itch.moldudp64 import MoldReceiver
from calarb.itch.transport import MoldSubscriber, fresh_multicast_address
from calarb.venue.server import feed_book_snapshot

pytestmark = [pytest.mark.network, pytest.mark.slow]

TICK = 100
MS = 1_000_000
TRADER = "TESTER"
START_NS = 34_200_000_000_000  # 09:30
HALT = ("CCC", 2.0, 4.0)

SYNTHETIC = """
speed = 1.0
linger_s = 3.0

[synthetic]
seed = 11
step_ms = 100
start_ns = 34_200_000_000_000

[[synthetic.symbols]]
symbol = "AAA"
start_price = 100.0
daily_volatility = 0.05

[[synthetic.symbols]]
symbol = "BBB"
start_price = 50.0

[[synthetic.symbols]]
symbol = "CCC"
start_price = 20.0

[[synthetic.pairs]]
dependent = "BBB"
driver = "AAA"
hedge_ratio = 1.2
half_life_s = 30.0
spread_sd = 0.004

[synthetic.noise_traders]
orders_per_s = 3.0
"""

VENUE = """
[[venues]]
name = "{name}"
fix_port = {fix_port}
fee_per_share = 30
rebate_per_share = 20
order_latency_ms = {order_latency_ms}

[venues.market_data]
group = "{group}"
port = {port}
retransmission_port = {retransmission_port}
heartbeat_interval_s = 0.05
latency_ms = {feed_latency_ms}

[venues.market_data.faults]
drop = 0.02
reorder = 0.01
seed = {seed}

[[venues.participants]]
comp_id = "TESTER"
username = "tester"
password = "secret-{name}"
{faults}
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def venue_table(name: str, seed: int, faults: str = "", latency_ms: float = 0.0) -> str:
    group, port = fresh_multicast_address()
    return VENUE.format(
        name=name, fix_port=free_port(socket.SOCK_STREAM), group=group, port=port,
        retransmission_port=free_port(socket.SOCK_DGRAM), seed=seed, faults=faults,
        order_latency_ms=latency_ms, feed_latency_ms=latency_ms,
    )  # fmt: skip


class VenueClient:
    """Our FIX session and feed client for one venue."""

    def __init__(self, address: dict) -> None:
        self.name = address["venue"]
        host, port = address["fix"].split(":")
        settings = SessionSettings(
            "FIX.4.4", TRADER, address["comp_id"], "initiator", 5, host, int(port),
            username="tester", password=f"secret-{self.name}", reconnect_interval_s=0.1,
        )  # fmt: skip
        self.reports: list[FixMessage] = []
        self.initiator = FixInitiator(settings, on_event=self._on_event)
        self.feed = ItchBookFeed(emit_events=False)
        self.receiver = MoldReceiver(request_timeout_ns=20 * MS)
        self.subscriber: MoldSubscriber | None = None
        self.address = address
        self.open_orders: set[str] = set()  # our resting ClOrdIDs
        self.sequence = 0
        self._now = TimestampFormatter()

    def _on_event(self, _session, event) -> None:
        if not isinstance(event, AppMessageReceived):
            return
        message = event.message
        self.reports.append(message)
        if message.msg_type != b"8":
            return
        cl_ord_id = message[11].decode()
        exec_type, status = message[150], message[39]
        if exec_type in (b"4", b"5") and 41 in message:
            self.open_orders.discard(message[41].decode())
        if status in (b"0", b"1") and message[59] == b"0":
            self.open_orders.add(cl_ord_id)
        elif status in (b"2", b"4", b"8"):
            self.open_orders.discard(cl_ord_id)

    async def connect(self) -> None:
        group, port = self.address["market_data"].split(":")
        host, retransmission_port = self.address["retransmission"].split(":")
        self.subscriber = await MoldSubscriber.create(
            self.receiver, group, int(port), (host, int(retransmission_port)),
            lambda payload, _received_ns: self.feed.on_message_bytes(payload),
        )  # fmt: skip
        self.initiator.start()
        await self.initiator.wait_logged_on(15.0)

    def best(self, symbol: str) -> tuple[int, int] | None:
        book = self.feed.books.get(symbol)
        if book is None or book.best_bid is None or book.best_ask is None:
            return None
        return book.best_bid.price, book.best_ask.price

    def _cl_ord_id(self) -> str:
        self.sequence += 1
        return f"{self.name}-{self.sequence}"

    def send_order(self, symbol: str, side: Side, quantity: int, price: int, tif: bytes) -> str:
        cl_ord_id = self._cl_ord_id()
        now = self._now(self.initiator.clock.wall_ns())
        body = encode_new_order_single(
            cl_ord_id.encode(), symbol.encode(), side, quantity, price, now, tif
        )
        self.initiator.send_body(b"D", body)
        return cl_ord_id

    def send_replace(self, orig: str, symbol: str, side: Side, quantity: int, price: int) -> None:
        message = OrderCancelReplaceRequest(
            orig, self._cl_ord_id(), symbol, side, quantity, "2",
            self.initiator.clock.wall_ns(), price,
        )  # fmt: skip
        self.initiator.send_body(b"G", to_body(message))

    def send_cancel(self, orig: str, symbol: str, side: Side) -> None:
        message = OrderCancelRequest(
            orig, self._cl_ord_id(), symbol, side, self.initiator.clock.wall_ns()
        )
        self.initiator.send_body(b"F", to_body(message))

    def fills(self) -> set[tuple]:
        """(match number, venue order id, price, shares, side) of every fill reported."""
        return {
            (
                int(m[527]),
                int(m[37]),
                m[31].decode(),
                int(m[32]),
                m[54].decode(),
            )  # fmt: skip
            for m in self.reports
            if m.msg_type == b"8" and m[150] == b"F"
        }


def venue_fills(trades: list[dict]) -> set[tuple]:
    """The same tuples from the venue's trade log, for the trades we took part in."""
    fills = set()
    for trade in trades:
        price = format_price(trade["price"]).decode()
        aggressor_side = "1" if trade["aggressor_side"] == "B" else "2"
        resting_side = "2" if aggressor_side == "1" else "1"
        if trade["aggressor_participant"] == TRADER:
            fills.add((trade["match_number"], trade["aggressor_order_id"], price,
                       trade["shares"], aggressor_side))  # fmt: skip
        if trade["resting_participant"] == TRADER:
            fills.add((trade["match_number"], trade["resting_order_id"], price,
                       trade["shares"], resting_side))  # fmt: skip
    return fills


async def start_process(config: Path, output: Path, log: Path):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "calarb.cli", "venue", "--config", str(config),
        "--output", str(output),
        stdout=asyncio.subprocess.PIPE, stderr=log.open("wb"),
    )  # fmt: skip
    addresses, lines = [], []
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30.0)
        if not line:
            raise AssertionError(f"venue exited early: {lines} {log.read_text()[-2000:]}")
        lines.append(line.decode())
        if line.startswith(b"{"):
            record = json.loads(line)
            if "venue" in record:
                addresses.append(record)
            if record.get("ready"):
                return process, addresses, lines


async def trade(client: VenueClient, round_number: int) -> None:
    """One round: a marketable IOC, a crossing DAY order, a passive order that we then
    replace to the touch, and a cancel of the previous round's passive order."""
    if not client.initiator.session.logged_on:
        return  # a disconnect fault is in progress: send nothing until we are back
    for symbol in ("AAA", "BBB"):
        best = client.best(symbol)
        if best is None:
            continue
        bid, ask = best
        client.send_order(symbol, Side.BUY, 100, ask + 2 * TICK, b"3")
        client.send_order(symbol, Side.SELL, 200, bid, b"0")
        passive = client.send_order(symbol, Side.BUY, 300, bid - 2 * TICK, b"0")
        if round_number % 2:
            client.send_replace(passive, symbol, Side.BUY, 400, bid)


@pytest.mark.timeout(90)
def test_two_venue_processes_fix_fills_match_trades_and_feed_books_match(tmp_path) -> None:
    one = tmp_path / "alpha_beta.toml"
    one.write_text(
        SYNTHETIC
        + venue_table("ALPHA", 1)
        + venue_table(
            "BETA", 2,
            '[[venues.faults.fix_disconnects]]\nparticipant = "TESTER"\nat_s = 3.0\n',
        )
    )  # fmt: skip
    two = tmp_path / "gamma.toml"
    symbol, halt_at, resume_at = HALT
    two.write_text(
        SYNTHETIC
        + venue_table(
            "GAMMA", 3,
            f'[[venues.faults.halts]]\nsymbol = "{symbol}"\nat_s = {halt_at}\n'
            f"resume_s = {resume_at}\n",
            latency_ms=1.0,
        )
    )  # fmt: skip
    output = tmp_path / "out"

    async def scenario() -> tuple[list[VenueClient], list[list[str]]]:
        processes = []
        clients: list[VenueClient] = []
        outputs = []
        try:
            for index, config in enumerate((one, two)):
                process, addresses, lines = await start_process(
                    config, output, tmp_path / f"venue{index}.log"
                )
                processes.append(process)
                outputs.append(lines)
                assert "hedge_ratio=1.2 half_life_s=30" in "".join(lines)
                clients += [VenueClient(address) for address in addresses]
            assert [c.name for c in clients] == ["ALPHA", "BETA", "GAMMA"]
            await asyncio.gather(*(client.connect() for client in clients))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not all(client.best("BBB") for client in clients):
                assert loop.time() < deadline, "feeds never showed both sides of BBB"
                await asyncio.sleep(0.05)
            for round_number in range(14):  # about 5 s, across BETA's disconnect at 3 s
                for client in clients:
                    await trade(client, round_number)
                await asyncio.sleep(0.35)
            beta = clients[1]  # its disconnect fault may come late on a loaded machine
            deadline = loop.time() + 15
            while beta.initiator.connections < 2 or not beta.initiator.session.logged_on:
                assert loop.time() < deadline, "BETA was never dropped by the fault and back"
                await asyncio.sleep(0.05)
            # cancel what still rests, so nothing of ours can trade after we log out
            deadline = loop.time() + 10
            while any(client.open_orders for client in clients):
                assert loop.time() < deadline, [c.open_orders for c in clients]
                for client in clients:
                    if client.initiator.session.logged_on:
                        for cl_ord_id in sorted(client.open_orders):
                            sym, side = order_symbol_side(client, cl_ord_id)
                            client.send_cancel(cl_ord_id, sym, side)
                await asyncio.sleep(0.3)
            for client in clients:
                await client.initiator.stop()
            for process in processes:
                process.send_signal(signal.SIGINT)
            finished = await asyncio.gather(
                *(c.subscriber.wait_until(lambda r: r.finished, 20.0) for c in clients)
            )
            assert all(finished), [c.receiver.stats.as_dict() for c in clients]
            for process in processes:
                rest = await asyncio.wait_for(process.stdout.read(), 20.0)
                assert await process.wait() == 0
                outputs.append(rest.decode().splitlines())
        finally:
            for client in clients:
                if client.subscriber is not None:
                    client.subscriber.close()
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        return clients, outputs

    clients, outputs = asyncio.run(scenario())

    for client in clients:
        name = client.name
        trades = json.loads((output / f"{name}.trades.json").read_text())
        reported = client.fills()
        assert len(reported) >= 10, f"{name}: too few fills to mean anything: {reported}"
        assert reported == venue_fills(trades), name

        venue_books = json.loads((output / f"{name}.books.json").read_text())
        feed_books = json.loads(json.dumps(feed_book_snapshot(client.feed.books)))
        assert feed_books == venue_books, name
        assert sum(len(book["orders"]) for book in venue_books.values()) > 20

        stats = client.receiver.stats
        assert stats.gaps_detected > 0, f"{name}: the 2% loss never showed"
        assert stats.gaps_recovered == stats.gaps_detected
        assert not client.feed.errors and client.subscriber.callback_errors == 0
        print(
            f"\n{name}: {len(reported)} fills of ours among {len(trades)} trades; feed "
            f"{client.feed.messages} messages, receiver {stats.as_dict()}"
        )

    beta = clients[1]
    assert beta.initiator.connections >= 2  # dropped at 3 s by the fault, then back
    gamma_trades = json.loads((output / "GAMMA.trades.json").read_text())
    in_halt = [
        t for t in gamma_trades
        if t["symbol"] == symbol
        and START_NS + halt_at * 1e9 < t["timestamp_ns"] < START_NS + resume_at * 1e9
    ]  # fmt: skip
    assert in_halt == []
    assert any(t["symbol"] == symbol for t in gamma_trades)
    summary = json.loads(outputs[-1][-1])
    assert summary["venues"]["GAMMA"]["gateway"]["requests"] > 20


def order_symbol_side(client: VenueClient, cl_ord_id: str) -> tuple[str, Side]:
    for message in reversed(client.reports):
        if message.msg_type == b"8" and message[11].decode() == cl_ord_id:
            return message[55].decode(), Side.BUY if message[54] == b"1" else Side.SELL
    raise AssertionError(f"no report for {cl_ord_id}")
