"""`calarb demo --market-data`: the market-data path end to end, over real sockets on loopback.

1. Generate a deterministic ITCH 5.0 file (several symbols, realistic order flow).
2. Publish it as MoldUDP64 over UDP multicast on 127.0.0.1, through a seeded lossy link
   (1% packet loss by default), with a retransmission server on 127.0.0.1.
3. A subscriber joined on 127.0.0.1 detects the gaps, re-requests them, and feeds every
   message exactly once, in order, into L3 order books.
4. Print a summary: messages, packets, gaps recovered, books, top of book per symbol,
   throughput, and whether the books equal a direct replay of the file.

`calarb demo` (calarb.demo) runs the whole trading loop; this is its market-data half alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from calarb.book.feed import ItchBookFeed
from calarb.book.order_book import OrderBook
from calarb.core.types import Side, format_price
from calarb.itch.files import iter_frames
from calarb.itch.generate import generate_itch_file
from calarb.itch.moldudp64 import MoldReceiver, MoldSender, RetransmissionServer
from calarb.itch.transport import (
    LossyLink,
    MoldPublisher,
    MoldSubscriber,
    RetransmissionEndpoint,
    fresh_multicast_address,
)


def run_command(args: argparse.Namespace) -> int:
    summary = run_demo(args.messages, args.symbols, args.seed, args.loss)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0 if summary["books_match_file_replay"] and summary["exactly_once_in_order"] else 1


def run_demo(messages: int, symbols: int, seed: int, loss: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="calarb-demo-") as folder:
        path = Path(folder) / "demo.itch"
        generated = generate_itch_file(path, messages, symbols, seed)
        payloads = list(iter_frames(path))
    summary = asyncio.run(_replay_over_multicast(payloads, seed, loss))
    summary["generated"] = {k: generated[k] for k in ("messages", "bytes", "symbols", "seed")}
    reference = ItchBookFeed(emit_events=False)
    for payload in payloads:
        reference.on_message_bytes(payload)
    books = summary.pop("_books")
    summary["books_match_file_replay"] = books == reference.books
    return summary


async def _replay_over_multicast(payloads: list[bytes], seed: int, loss: float) -> dict[str, Any]:
    group, port = fresh_multicast_address()
    sender = MoldSender("CALARBDEMO")
    server = RetransmissionServer.for_sender(sender)
    endpoint = await RetransmissionEndpoint.create(server)
    link = LossyLink(seed, drop=loss)
    publisher = await MoldPublisher.create(sender, group, port, link=link)
    feed = ItchBookFeed()
    delivered = 0
    in_order = True
    top_changes = 0

    def on_message(payload: bytes, received_ns: int) -> None:
        nonlocal delivered, in_order, top_changes
        in_order = in_order and payload == payloads[delivered]
        delivered += 1
        if feed.on_message_bytes(payload) is not None:
            top_changes += 1

    receiver = MoldReceiver(request_timeout_ns=20_000_000, request_delay_ns=1_000_000)
    subscriber = await MoldSubscriber.create(receiver, group, port, endpoint.address, on_message)
    try:
        started = time.perf_counter()
        await publisher.publish_all(payloads)
        await publisher.end_session()
        finished = await subscriber.wait_until(lambda r: r.finished, timeout_s=60.0)
        elapsed = time.perf_counter() - started
    finally:
        subscriber.close()
        publisher.close()
        endpoint.close()
    stats = receiver.stats
    return {
        "multicast": f"{group}:{port} on 127.0.0.1",
        "messages_published": len(payloads),
        "messages_delivered": delivered,
        "exactly_once_in_order": finished and in_order and delivered == len(payloads),
        "packets_sent": link.stats.packets_in,
        "packets_dropped": link.stats.dropped,
        "gaps_detected": stats.gaps_detected,
        "gaps_recovered": stats.gaps_recovered,
        "messages_retransmitted": server.stats.messages_resent,
        "top_of_book_changes": top_changes,
        "book_errors": sum(feed.errors.values()),
        "seconds": round(elapsed, 3),
        "msgs_per_s": round(len(payloads) / elapsed),
        "books": {
            symbol: _top_row(book) for symbol, book in sorted(feed.books.items())
        },
        "_books": feed.books,
    }


def _top_row(book: OrderBook) -> dict[str, Any]:
    bid, ask = book.best_bid, book.best_ask
    return {
        "orders": len(book),
        "bid": f"{bid.shares} @ {format_price(bid.price)}" if bid else "-",
        "ask": f"{ask.shares} @ {format_price(ask.price)}" if ask else "-",
        "bid_levels": book.level_count(Side.BUY),
        "ask_levels": book.level_count(Side.SELL),
    }


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        "calarb market-data demo: ITCH 5.0 in MoldUDP64 over UDP multicast on 127.0.0.1",
        "",
        f"  messages published     {summary['messages_published']:>12,}",
        f"  messages delivered     {summary['messages_delivered']:>12,}"
        f"   exactly once, in order: {'yes' if summary['exactly_once_in_order'] else 'NO'}",
        f"  packets sent           {summary['packets_sent']:>12,}",
        f"  packets dropped        {summary['packets_dropped']:>12,}   (seeded lossy link)",
        f"  gaps detected          {summary['gaps_detected']:>12,}",
        f"  gaps recovered         {summary['gaps_recovered']:>12,}",
        f"  messages retransmitted {summary['messages_retransmitted']:>12,}",
        f"  top-of-book changes    {summary['top_of_book_changes']:>12,}",
        f"  book errors            {summary['book_errors']:>12,}",
        f"  throughput             {summary['msgs_per_s']:>12,} msgs/s"
        f"   ({summary['seconds']} s, publisher and subscriber in one process)",
        f"  books equal file replay: {'yes' if summary['books_match_file_replay'] else 'NO'}",
        "",
        f"  {'symbol':<8} {'orders':>7} {'bid levels':>10} {'best bid':>20} "
        f"{'best ask':>20} {'ask levels':>10}",
    ]
    for symbol, row in summary["books"].items():
        lines.append(
            f"  {symbol:<8} {row['orders']:>7,} {row['bid_levels']:>10} {row['bid']:>20} "
            f"{row['ask']:>20} {row['ask_levels']:>10}"
        )
    return "\n".join(lines)
