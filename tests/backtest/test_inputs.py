"""LOBSTER and Parquet inputs of `calarb backtest`, converted to ITCH (`calarb.backtest.inputs`).

The conversions are checked by replaying the ITCH files they write through calarb's own feed
handler (`ItchBookFeed`, not the converter's view of the book) and comparing the book after
each input row with that row: every LOBSTER orderbook row of the real samples, every row of a
top-of-book/L2 series written by `write_bbo_parquet` from a generated ITCH day.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from calarb.backtest.config import BacktestConfig
from calarb.backtest.inputs import parse_data, with_data_queues
from calarb.backtest.itch_conversion import PreparedVenue
from calarb.backtest.lobster_input import lobster_to_itch, state_before
from calarb.backtest.models import FifoQueue, ProbabilisticQueue
from calarb.backtest.parquet_input import ParquetInput, parquet_to_itch
from calarb.book.bulk import bbo_series, write_bbo_parquet
from calarb.book.feed import ItchBookFeed
from calarb.cli import main
from calarb.core.types import Side
from calarb.data.lobster import (
    EXECUTE_HIDDEN,
    EXECUTE_VISIBLE,
    SUBMIT,
    LobsterMessage,
    OrderbookRow,
    read_messages,
    read_orderbook,
    replay_files,
)
from calarb.itch.codec import decode
from calarb.itch.generate import generate_itch_file

REPO = Path(__file__).resolve().parents[2]
LOBSTER_CONFIG = REPO / "configs" / "backtest_lobster.toml"
FOLDER = "lobster-sample-2012-06-21"
AMZN = "AMZN_2012-06-21_34200000_57600000_message_1.csv"
AAPL = "AAPL_2012-06-21_34200000_57600000_message_10.first999rows.csv"
JSON_KEYS = {"orders", "fills", "pnl_net", "sharpe", "max_drawdown", "turnover", "events",
             "events_per_s"}  # fmt: skip

Rows = list[tuple[list[tuple[int, int]], list[tuple[int, int]]]]  # per row: (asks, bids)


def framed(path: Path):
    """Every message of a length-prefixed ITCH file, without its prefix."""
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "big")
        yield data[pos + 2 : pos + 2 + length]
        pos += 2 + length


def replay_mismatches(venue: PreparedVenue, expected: dict[str, Rows]) -> tuple[int, list]:
    """Replay the venue's ITCH file through `ItchBookFeed`; after each input row's last
    message compare the book's best levels with the row. Returns (rows checked, mismatches)."""
    feed = ItchBookFeed()
    by_locate = {s.locate: s for s in venue.symbols}
    seen: Counter[int] = Counter()
    next_row = Counter()
    checked, mismatches = 0, []
    for payload in framed(venue.path):
        feed.on_message_bytes(payload)
        if payload[0] == ord("R"):
            continue
        locate = (payload[1] << 8) | payload[2]
        seen[locate] += 1
        conversion = by_locate[locate]
        while (
            next_row[locate] < len(conversion.row_ends)
            and conversion.row_ends[next_row[locate]] == seen[locate]
        ):
            row = next_row[locate]
            book = feed.book(conversion.symbol)
            depth = conversion.levels
            got = (
                [(lv.price, lv.shares) for lv in book.levels(Side.SELL, depth)],
                [(lv.price, lv.shares) for lv in book.levels(Side.BUY, depth)],
            )
            want = expected[conversion.symbol][row]
            if got != (want[0][:depth], want[1][:depth]):
                mismatches.append((conversion.symbol, row + 1, got, want))
            checked += 1
            next_row[locate] += 1
    assert not feed.errors, feed.errors
    return checked, mismatches


# --------------------------------------------------------------------------- LOBSTER


@pytest.fixture(scope="module")
def lobster_venue(shared_data, tmp_path_factory):
    folder = shared_data / FOLDER
    (venue,) = parse_data(f"lobster:{folder / AMZN},{folder / AAPL}")
    return lobster_to_itch(venue.lobster, tmp_path_factory.mktemp("lobster") / "nasdaq.itch")


def test_lobster_conversion_reproduces_every_orderbook_row(shared_data, lobster_venue):
    folder = shared_data / FOLDER
    expected = {}
    for conversion in lobster_venue.symbols:
        orderbook = Path(conversion.source.replace("_message_", "_orderbook_"))
        depth, rows = read_orderbook(orderbook)
        assert conversion.levels == depth and conversion.rows == len(rows)
        expected[conversion.symbol] = [(row.asks, row.bids) for row in rows]
        assert conversion.unattributed == 0
    assert sorted(expected) == ["AAPL", "AMZN"] and lobster_venue.queue == "fifo"
    checked, mismatches = replay_mismatches(lobster_venue, expected)
    assert checked == 57_515 + 999
    assert mismatches == []

    # every visible execution stays an execution, every hidden one a trade, every submit an add
    executed, trades, adds = Counter(), Counter(), Counter()
    symbol_of = {s.locate: s.symbol for s in lobster_venue.symbols}
    for payload in framed(lobster_venue.path):
        message = decode(payload)
        symbol = symbol_of.get(message.stock_locate)
        if payload[:1] == b"E":
            executed[symbol] += message.executed_shares
        elif payload[:1] == b"P":
            trades[symbol] += message.shares
        elif payload[:1] == b"A":
            adds[symbol] += 1
    for conversion in lobster_venue.symbols:
        name = AMZN if conversion.symbol == "AMZN" else AAPL
        messages = read_messages(folder / name)
        kinds = Counter(m.type for m in messages)
        sizes = Counter()
        for m in messages:
            sizes[m.type] += m.size
        symbol = conversion.symbol
        assert executed[symbol] == sizes[EXECUTE_VISIBLE] > 0, name
        assert trades[symbol] == sizes[EXECUTE_HIDDEN] > 0
        # submits plus one synthetic order per seeded or learnt level
        _, rows = read_orderbook(folder / name.replace("_message_", "_orderbook_"))
        seed = state_before(messages[0], rows[0])
        seeded = len(seed.asks) + len(seed.bids)
        assert kinds[SUBMIT] + seeded <= adds[symbol]
        assert adds[symbol] <= kinds[SUBMIT] + seeded + conversion.learned_levels
        # the messages carry the book: it learns no more levels from the rows than the plain
        # LOBSTER replay learns from beyond the file's depth (which mismatches on no row)
        plain = replay_files(folder / name, folder / name.replace("_message_", "_orderbook_"))
        assert plain.mismatches == 0
        assert conversion.learned_levels <= plain.learned_levels


def test_lobster_seed_is_the_book_before_the_first_message():
    row = OrderbookRow(asks=[(101, 50)], bids=[(100, 30), (99, 10)])
    submit = LobsterMessage(1, SUBMIT, 7, 30, 100, 1)
    assert state_before(submit, row) == OrderbookRow([(101, 50)], [(99, 10)])
    executed = LobsterMessage(1, EXECUTE_VISIBLE, 7, 20, 102, -1)  # emptied level 102
    assert state_before(executed, row) == OrderbookRow([(101, 50), (102, 20)], row.bids)
    hidden = LobsterMessage(1, EXECUTE_HIDDEN, 0, 5, 100, 1)
    assert state_before(hidden, row) == row


# --------------------------------------------------------------------------- Parquet


@pytest.fixture(scope="module")
def generated_day(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    itch = folder / "day.itch"
    generate_itch_file(itch, 30_000, 2, seed=11)
    symbols = itch_symbols(itch)
    files = []
    for symbol in symbols:
        out = folder / f"{symbol}_L3.parquet"
        write_bbo_parquet(itch, symbol, 3, out)
        files.append(out)
    return itch, symbols, files


def itch_symbols(path: Path) -> list[str]:
    return [decode(p).stock for p in framed(path) if p[:1] == b"R"]


def series_rows(table: pa.Table, depth: int) -> Rows:
    cols = {name: table.column(name).to_numpy() for name in table.column_names if name != "symbol"}
    rows = []
    for r in range(table.num_rows):
        sides = []
        for side in ("ask", "bid"):
            levels = [(int(cols[f"{side}_price_{k}"][r]), int(cols[f"{side}_shares_{k}"][r]))
                      for k in range(1, depth + 1)]  # fmt: skip
            sides.append([lv for lv in levels if lv[0] > 0])
        rows.append((sides[0], sides[1]))
    return rows


def last_per_timestamp(table: pa.Table) -> list[tuple]:
    """The series' state at the end of each timestamp, repeated states dropped."""
    stamps = table.column("timestamp").to_numpy()
    values = np.column_stack([table.column(n).to_numpy() for n in table.column_names[1:]])
    keep = np.append(stamps[1:] != stamps[:-1], True)
    states = [(int(t), tuple(v.tolist())) for t, v in zip(stamps[keep], values[keep], strict=True)]
    out = []
    for stamp, state in states:
        if not out or out[-1][1] != state:
            out.append((stamp, state))
    return out


def test_parquet_round_trip_gives_the_same_book_series(generated_day, tmp_path):
    itch, symbols, files = generated_day
    venue = parquet_to_itch([ParquetInput(f, None) for f in files], tmp_path / "l2.itch")
    assert [s.symbol for s in venue.symbols] == symbols and venue.queue == "probabilistic"
    expected = {s: series_rows(pq.read_table(f), 3) for s, f in zip(symbols, files, strict=True)}
    checked, mismatches = replay_mismatches(venue, expected)
    assert checked == sum(len(rows) for rows in expected.values()) > 1000
    assert mismatches == []
    for symbol, path in zip(symbols, files, strict=True):
        again = bbo_series(venue.path, symbol, 3)
        assert last_per_timestamp(again) == last_per_timestamp(pq.read_table(path))

    # one file with a symbol column converts the same
    tables = [pq.read_table(f) for f in files]
    both = pa.concat_tables(
        [t.append_column("symbol", pa.array([s] * t.num_rows)) for s, t in zip(symbols, tables,
                                                                             strict=True)]
    )  # fmt: skip
    pq.write_table(both, tmp_path / "all.parquet")
    one = parquet_to_itch([ParquetInput(tmp_path / "all.parquet", None)], tmp_path / "one.itch")
    assert one.path.read_bytes() == venue.path.read_bytes()


def level_table(rows: list[tuple[int, list[tuple[int, int]]]], depth: int = 2) -> pa.Table:
    """A bid-only series: (timestamp, bid levels) per row."""
    columns = {"timestamp": [t for t, _ in rows]}
    for block in ("bid_price", "bid_shares", "ask_price", "ask_shares"):
        for k in range(depth):
            column = []
            for _, levels in rows:
                price, shares = levels[k] if k < len(levels) else (0, 0)
                column.append(
                    0 if block.startswith("ask") else price if "price" in block else shares
                )
            columns[f"{block}_{k + 1}"] = column
    return pa.table({name: pa.array(v, pa.int64()) for name, v in columns.items()})


def test_parquet_level_changes_become_cancels_adds_and_deletes(tmp_path):
    path = tmp_path / "XYZ.parquet"
    pq.write_table(level_table([
        (1, [(100, 10)]),
        (2, [(100, 6)]),              # smaller: X 4 (the only order)
        (3, [(100, 9)]),              # larger: a new order of 3 behind the first (kept)
        (4, [(101, 5), (100, 9)]),    # a new price: A
        (5, [(101, 5), (100, 2)]),    # smaller: X from the back (the 3, then 4 of the 6)
        (6, [(101, 5)]),              # the side has one level of 2: 100 vanished: D
    ]), path)  # fmt: skip
    venue = parquet_to_itch([ParquetInput(path, None)], tmp_path / "x.itch")
    messages = [decode(p) for p in framed(venue.path)]
    kinds = "".join(m.message_type for m in messages)
    assert kinds == "R" + "A" + "X" + "A" + "A" + "DX" + "D"
    first, second = messages[1].order_reference_number, messages[3].order_reference_number
    assert messages[2].order_reference_number == first and messages[2].cancelled_shares == 4
    assert messages[5].order_reference_number == second  # the back order goes first
    assert messages[6].order_reference_number == first and messages[6].cancelled_shares == 4
    assert [m.timestamp for m in messages[1:]] == [1, 2, 3, 4, 5, 5, 6]
    assert venue.symbols[0].symbol == "XYZ" and venue.symbols[0].row_ends == [1, 2, 3, 4, 6, 7]


def test_queue_model_follows_the_data_unless_configured(tmp_path):
    l2 = PreparedVenue(tmp_path / "a.itch", "parquet", "probabilistic", "parquet:a")
    l3 = PreparedVenue(tmp_path / "b.itch", "lobster", "fifo", "lobster:b")
    bare = BacktestConfig({"backtest": {"venue_names": ["A", "B"]}})
    resolved = with_data_queues(bare, [l2, l3])
    assert isinstance(resolved.queue("A"), ProbabilisticQueue)
    assert isinstance(resolved.queue("B"), FifoQueue)
    fifo = BacktestConfig({"venues": {"default": {"queue": "fifo"}}})
    assert isinstance(with_data_queues(fifo, [l2]).queue("V1"), FifoQueue)
    auto = BacktestConfig({"venues": {"V1": {"queue": "auto"}}})
    assert isinstance(with_data_queues(auto, [l2]).queue("V1"), ProbabilisticQueue)


# --------------------------------------------------------------------------- the command


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["backtest", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_backtest_command_on_lobster_pairs(shared_data, capsys, tmp_path):
    folder = shared_data / FOLDER
    pair = f"lobster:{folder / AMZN},{folder / AAPL}"
    code, out, err = run_cli(capsys, "--data", pair, "--config", str(LOBSTER_CONFIG), "--json",
                             "--itch-dir", str(tmp_path))  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert set(summary) >= JSON_KEYS
    assert summary["events"] > 57_515 + 999 and summary["orders"] > 0
    assert (tmp_path / "venue1.itch").stat().st_size > 0


def test_backtest_command_on_parquet_series(generated_day, capsys, tmp_path):
    _, symbols, files = generated_day
    config = tmp_path / "l2.toml"
    config.write_text(
        f'[strategy]\npairs = [["{symbols[0]}", "{symbols[1]}"]]\nmin_observations = 30\n'
        "halflife = 50\nentry = 1.0\nexit = 0.2\ncooldown_ms = 10\n"
    )
    data = "parquet:" + ",".join(f"{s}={f}" for s, f in zip(symbols, files, strict=True))
    code, out, err = run_cli(capsys, "--data", data, "--config", str(config), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert set(summary) >= JSON_KEYS and summary["events"] > 1000


def copy_pair(shared_data, tmp_path, name=AAPL) -> tuple[Path, Path]:
    message = tmp_path / name
    orderbook = tmp_path / name.replace("_message_", "_orderbook_")
    shutil.copy(shared_data / FOLDER / name, message)
    shutil.copy(shared_data / FOLDER / name.replace("_message_", "_orderbook_"), orderbook)
    return message, orderbook


def test_bad_inputs_exit_2_naming_file_and_row(shared_data, capsys, tmp_path):
    config = str(LOBSTER_CONFIG)
    message, orderbook = copy_pair(shared_data, tmp_path)

    code, _, err = run_cli(capsys, "--data", f"lobster:{tmp_path / 'nope_message_1.csv'}",
                           "--config", config)  # fmt: skip
    assert code == 2 and "nope_message_1.csv" in err

    lines = message.read_text().splitlines()
    cells = lines[41].split(",")
    lines[41] = ",".join([cells[0], "x", *cells[2:]])
    message.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli(capsys, "--data", f"lobster:{message}", "--config", config)
    assert code == 2 and f"{message}, row 42" in err

    orderbook.unlink()
    code, _, err = run_cli(capsys, "--data", f"lobster:{message}", "--config", config)
    assert code == 2 and "has no orderbook file" in err and orderbook.name in err

    other = tmp_path / "other"
    other.mkdir()
    day2, _ = copy_pair(shared_data, other)
    moved = other / day2.name.replace("2012-06-21", "2012-06-22")
    day2.rename(moved)
    (other / day2.name.replace("_message_", "_orderbook_")).rename(
        moved.with_name(moved.name.replace("_message_", "_orderbook_"))
    )
    amzn, _ = copy_pair(shared_data, other, AMZN)
    code, _, err = run_cli(capsys, "--data", f"lobster:{moved},{amzn}", "--config", config)
    assert code == 2 and "different days" in err

    bad = tmp_path / "BAD.parquet"
    pq.write_table(level_table([(1, [(100, 10)]), (2, [(100, 0)])]), bad)
    code, _, err = run_cli(capsys, "--data", f"parquet:{bad}", "--config", config)
    assert code == 2 and f"{bad}, row 2" in err and "no shares" in err

    huge = tmp_path / "HUGE.parquet"
    pq.write_table(level_table([(1, [(100, 10)]), (2, [(2**33, 10)])]), huge)
    code, _, err = run_cli(capsys, "--data", f"parquet:{huge}", "--config", config)
    assert code == 2 and f"{huge}, row 2: not encodable as ITCH" in err

    code, _, err = run_cli(capsys, "--data", str(bad), "--config", config)
    assert code == 2 and "parquet:" in err
