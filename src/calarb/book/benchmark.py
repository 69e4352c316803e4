"""`calarb bench itch`: ITCH bytes to full order books, calarb against its peers, one run.

One generated file (`calarb.itch.generate`, seeded), measured from bytes in memory:

- calarb streaming: `ItchBookFeed` fed the file in 1 MiB chunks (no events built);
- calarb bulk: `calarb.book.bulk.replay_books` (one Numba pass; JIT warmed up first);
- itch-book (PyPI `itch-book`, C++): `Session.feed` of the whole buffer, no output tables
  (parse + full book apply, its fastest mode);
- MeatPy (pure Python): its reader and one `ITCH50MarketProcessor` per symbol on a prefix
  of the file (from a file, its reader's only input). Two ways: messages routed to the
  processor of their stock locate (MeatPy at its best, the headline figure) and MeatPy's own
  way, every processor offered every message (it filters by symbol and reference itself).

Throughput is the best of `repeat` wall-clock runs. Afterwards the final books (top N levels
per symbol) are compared: stream, itch-book (a second, untimed run with its depth table) and
bulk on the whole file; MeatPy against bulk on the same prefix. The benchmark installs
nothing: a peer that cannot be imported is reported as null with a reason.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calarb.book.bulk import BookLevels, replay_books
from calarb.itch.bulk import frame_bytes, load_itch_bytes

__all__ = ["run_itch_benchmark"]

STREAM_CHUNK = 1 << 20
ITCH_BOOK_CHUNK = 8 << 20
MEATPY_DAY = datetime.datetime(2020, 1, 2)  # MeatPy wants a session date; any will do
MAX_REPORTED_MISMATCHES = 5

Books = dict[str, BookLevels]


def _best_time(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def _nonempty(books: Books) -> Books:
    return {symbol: levels for symbol, levels in books.items() if levels.bids or levels.asks}


def _compare(reference: Books, other: Books) -> dict[str, Any]:
    """Agreement of two sets of final books (symbols with an empty book are ignored)."""
    reference, other = _nonempty(reference), _nonempty(other)
    differing = sorted(
        symbol for symbol in reference.keys() | other.keys()
        if reference.get(symbol) != other.get(symbol)
    )  # fmt: skip
    return {
        "agree": not differing,
        "symbols": len(reference),
        "mismatched_symbols": differing[:MAX_REPORTED_MISMATCHES],
    }


# --------------------------------------------------------------------------- calarb


def _stream_books(data: bytes, depth: int) -> tuple[float, Books]:
    from calarb.book.feed import ItchBookFeed
    from calarb.core.types import Side

    feed = ItchBookFeed(emit_events=False, strict=True)
    view = memoryview(data)
    start = time.perf_counter()
    for offset in range(0, len(data), STREAM_CHUNK):
        feed.feed(view[offset : offset + STREAM_CHUNK])
    feed.close()
    elapsed = time.perf_counter() - start
    books = {
        symbol: BookLevels(
            tuple((level.price, level.shares) for level in book.levels(Side.BUY, depth)),
            tuple((level.price, level.shares) for level in book.levels(Side.SELL, depth)),
        )
        for symbol, book in feed.books.items()
    }
    return elapsed, books


# --------------------------------------------------------------------------- itch-book


def _itch_book_speed(data: bytes, repeat: int) -> float:
    from itch_book import Session

    def run() -> None:
        session = Session(tables=[], depth=0, symbols=[])
        session.feed(data)
        if session.stats()["pending_bytes"]:
            raise RuntimeError("itch-book left bytes undecoded")

    return _best_time(run, repeat)[0]


def _itch_book_books(data: bytes, depth: int) -> Books:
    """Final books from itch-book's depth table: its last row per stock locate."""
    from itch_book import Session

    session = Session(tables=[], depth=depth, symbols=[])
    latest: dict[int, BookLevels] = {}
    for offset in range(0, len(data), ITCH_BOOK_CHUNK):  # bounded memory for the table
        session.feed(data[offset : offset + ITCH_BOOK_CHUNK])
        table = session.take_depth()
        locates = table["locate"]
        last_rows = len(locates) - 1 - np.unique(locates[::-1], return_index=True)[1]
        for row in last_rows:
            sides = []
            for side in ("bid", "ask"):
                pairs = []
                for k in range(depth):
                    shares = int(table[f"{side}_sz_{k:02d}"][row])
                    if shares:
                        pairs.append((int(table[f"{side}_px_{k:02d}"][row]), shares))
                sides.append(tuple(pairs))
            latest[int(locates[row])] = BookLevels(*sides)
    names = {row[0]: row[1] for row in session.take_symbols()}
    return {names.get(locate, str(locate)): levels for locate, levels in latest.items()}


# --------------------------------------------------------------------------- MeatPy


def _meatpy_books(path: Path, depth: int, routed: bool) -> tuple[float, int, Books]:
    """Decode + book with MeatPy: one processor per symbol (created at its stock directory
    message). Routed: each message goes to its locate's processor (system events to all);
    otherwise every processor is offered every message, MeatPy's own usage."""
    from meatpy.itch50 import ITCH50MarketProcessor, ITCH50MessageReader

    processors: dict[int, Any] = {}
    everyone: list[Any] = []
    messages = 0
    start = time.perf_counter()
    with ITCH50MessageReader(path) as reader:
        for message in reader:
            messages += 1
            kind = message.type
            if kind == b"R":
                processor = ITCH50MarketProcessor(message.stock, MEATPY_DAY)
                processors[message.stock_locate] = processor
                everyone.append(processor)
            elif kind == b"S" or not routed:
                for processor in everyone:
                    processor.process_message(message)
            else:
                processor = processors.get(message.stock_locate)
                if processor is not None:
                    processor.process_message(message)
    elapsed = time.perf_counter() - start
    books = {}
    for processor in everyone:
        lob = processor.current_lob
        if lob is None:
            continue
        books[processor.instrument.decode("ascii").rstrip()] = BookLevels(
            tuple((level.price, level.volume) for level in lob.bid_levels[:depth]),
            tuple((level.price, level.volume) for level in lob.ask_levels[:depth]),
        )
    return elapsed, messages, books


def _prefix_bytes(buf: np.ndarray, messages: int) -> bytes:
    """The first `messages` whole messages of the buffer."""
    frames = frame_bytes(buf)
    if messages >= frames.messages:
        return buf.tobytes()
    end = int(frames.offsets[messages]) - 2  # the next frame's length prefix
    return buf[:end].tobytes()


# --------------------------------------------------------------------------- the run


def _peer_missing(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"{module} is not importable (install calarb's 'bench' extra)"
    return None


def run_itch_benchmark(
    messages: int = 5_000_000,
    symbols: int = 100,
    seed: int = 1,
    depth: int = 5,
    meatpy_messages: int = 200_000,
    repeat: int = 3,
    itch_file: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return the JSON-ready result (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="calarb-bench-") as tmp:
        if itch_file is None:
            from calarb.itch.generate import generate_itch_file

            itch_file = Path(tmp) / "bench.itch"
            generated = generate_itch_file(itch_file, messages, symbols, seed)
            source = {"generated": True, "symbols": symbols, "seed": seed}
        else:
            generated = None
            source = {"generated": False, "path": os.fspath(itch_file)}
        buf = load_itch_bytes(itch_file)
        data = buf.tobytes()
        total = frame_bytes(buf).messages
        source["bytes"] = len(data)
        if generated is not None:
            source["by_type"] = generated["by_type"]
        result: dict[str, Any] = {"messages": total, "file": source, "levels": depth}

        # calarb bulk: warm the JIT (and its on-disk cache) on a small prefix first.
        replay_books(_prefix_bytes(buf, min(total, 10_000)))
        bulk_seconds, bulk = _best_time(lambda: replay_books(buf), repeat)
        bulk_books = bulk.final_levels(depth)
        result["calarb_bulk_book_msgs_per_s"] = total / bulk_seconds
        decode_seconds, _ = _best_time(lambda: frame_bytes(buf), repeat)
        result["calarb_bulk_framing_msgs_per_s"] = total / decode_seconds

        stream_seconds, stream_books = float("inf"), {}
        for _ in range(repeat):
            seconds, stream_books = _stream_books(data, depth)
            stream_seconds = min(stream_seconds, seconds)
        result["calarb_stream_book_msgs_per_s"] = total / stream_seconds

        agree: dict[str, Any] = {"stream_vs_bulk": _compare(bulk_books, stream_books)}

        missing = _peer_missing("itch_book")
        if missing is None:
            result["itch_book_msgs_per_s"] = total / _itch_book_speed(data, repeat)
            agree["itch_book_vs_bulk"] = _compare(bulk_books, _itch_book_books(data, depth))
        else:
            result["itch_book_msgs_per_s"] = None
            result["itch_book_reason"] = missing

        missing = _peer_missing("meatpy")
        if missing is None:
            prefix = Path(tmp) / "meatpy-prefix.itch"
            prefix.write_bytes(_prefix_bytes(buf, meatpy_messages))
            seconds, count, meatpy_books = _meatpy_books(prefix, depth, routed=True)
            result["meatpy_book_msgs_per_s"] = count / seconds
            result["meatpy_messages"] = count
            prefix_books = replay_books(prefix).final_levels(depth)
            agree["meatpy_vs_bulk_on_prefix"] = _compare(prefix_books, meatpy_books)
            small = Path(tmp) / "meatpy-own-way.itch"
            small.write_bytes(_prefix_bytes(buf, max(1, meatpy_messages // 10)))
            seconds, count, _ = _meatpy_books(small, depth, routed=False)
            result["meatpy_own_usage_book_msgs_per_s"] = count / seconds
            result["meatpy_own_usage_messages"] = count
        else:
            result["meatpy_book_msgs_per_s"] = None
            result["meatpy_reason"] = missing

    itch_book_rate = result.get("itch_book_msgs_per_s")
    meatpy_rate = result.get("meatpy_book_msgs_per_s")
    bulk_rate = result["calarb_bulk_book_msgs_per_s"]
    stream_rate = result["calarb_stream_book_msgs_per_s"]
    result["ratio_bulk_vs_itch_book"] = bulk_rate / itch_book_rate if itch_book_rate else None
    result["ratio_stream_vs_meatpy"] = stream_rate / meatpy_rate if meatpy_rate else None
    own_usage = result.get("meatpy_own_usage_book_msgs_per_s")
    result["ratio_stream_vs_meatpy_own_usage"] = stream_rate / own_usage if own_usage else None
    agree["all"] = all(check["agree"] for check in agree.values())
    result["books_agree"] = agree
    result["timing"] = f"best of {repeat} wall-clock runs, from bytes in memory"
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# --------------------------------------------------------------------------- command


def run_command(args: argparse.Namespace) -> int:
    result = run_itch_benchmark(
        messages=args.messages,
        symbols=args.symbols,
        seed=args.seed,
        depth=args.levels,
        meatpy_messages=args.meatpy_messages,
        repeat=args.repeat,
        itch_file=args.file,
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            if not isinstance(value, dict):
                print(f"{key:40} {value:,.2f}" if isinstance(value, float) else f"{key:40} {value}")
        print(f"{'books_agree':40} {result['books_agree']['all']}")
    sys.stdout.flush()
    return 0 if result["books_agree"]["all"] else 1
