"""LOBSTER: reading, replay against every orderbook row of the real samples, detection of
corrupted rows, the rule for levels uncovered from beyond the file's depth, the command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from calarb.cli import main
from calarb.core.types import Side
from calarb.data.lobster import (
    LobsterFormatError,
    LobsterMessage,
    LobsterReplay,
    OrderbookRow,
    parse_time_ns,
    read_messages,
    read_orderbook,
    replay_files,
)

SAMPLE = "lobster-sample-2012-06-21"
AMZN = (
    "AMZN_2012-06-21_34200000_57600000_message_1.csv",
    "AMZN_2012-06-21_34200000_57600000_orderbook_1.csv",
)
AAPL = (
    "AAPL_2012-06-21_34200000_57600000_message_10.first999rows.csv",
    "AAPL_2012-06-21_34200000_57600000_orderbook_10.first999rows.csv",
)


def sample(shared_data: Path, pair: tuple[str, str]) -> tuple[Path, Path]:
    folder = shared_data / SAMPLE
    return folder / pair[0], folder / pair[1]


def copy_sample(shared_data: Path, pair: tuple[str, str], tmp_path: Path) -> tuple[Path, Path]:
    paths = []
    for source in sample(shared_data, pair):
        target = tmp_path / source.name
        shutil.copyfile(source, target)
        paths.append(target)
    return paths[0], paths[1]


def rewrite_row(path: Path, row: int, change) -> None:
    lines = path.read_text().splitlines()
    cells = lines[row - 1].split(",")
    change(cells)
    lines[row - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_amzn_level_1_full_day_matches_every_row(shared_data):
    result = replay_files(*sample(shared_data, AMZN), levels=1)
    assert (result.rows, result.checked, result.mismatches) == (57_515, 57_514, 0)
    assert result.first_mismatch is None
    assert not result.book_errors
    # Most positions are checked, not learnt: at least 85% of the 2 x 57,514 (side, row).
    assert result.compared_levels > 0.85 * 2 * 57_514


def test_aapl_level_10_matches_every_row(shared_data):
    result = replay_files(*sample(shared_data, AAPL), levels=10)
    assert (result.rows, result.checked, result.mismatches) == (999, 998, 0)
    assert result.first_mismatch is None
    assert not result.book_errors
    assert result.compared_levels > 0.95 * 2 * 10 * 998
    # Levels uncovered from beyond level 10 after a level left the top (one per such row).
    assert 0 < result.learned_levels < 400
    fewer = replay_files(*sample(shared_data, AAPL), levels=3)
    assert (fewer.checked, fewer.mismatches, fewer.levels) == (998, 0, 3)


def test_a_corrupted_orderbook_row_is_a_mismatch(shared_data, tmp_path):
    messages, orderbook = copy_sample(shared_data, AAPL, tmp_path)
    rewrite_row(orderbook, 500, lambda cells: cells.__setitem__(3, str(int(cells[3]) + 1)))
    result = replay_files(messages, orderbook)
    assert result.mismatches >= 1
    assert result.first_mismatch is not None
    assert result.first_mismatch.row == 500
    assert any(text.startswith("bid level 1:") for text in result.first_mismatch.differences)


def test_a_corrupted_message_is_a_mismatch(shared_data, tmp_path):
    messages, orderbook = copy_sample(shared_data, AAPL, tmp_path)
    # Row 2 submits 18 shares at 585.32, the new bid level 2.
    assert read_messages(messages)[1] == LobsterMessage(
        34_200_004_260_640, 1, 16113584, 18, 5853200, 1
    )
    rewrite_row(messages, 2, lambda cells: cells.__setitem__(3, "19"))
    result = replay_files(messages, orderbook)
    assert result.first_mismatch is not None and result.first_mismatch.row == 2
    assert result.first_mismatch.differences == [
        "bid level 2: book 19 @ 585.3200, file 18 @ 585.3200"
    ]


@pytest.mark.slow
def test_amzn_corrupted_price_is_a_mismatch(shared_data, tmp_path):
    messages, orderbook = copy_sample(shared_data, AMZN, tmp_path)
    rewrite_row(orderbook, 20_000, lambda cells: cells.__setitem__(0, str(int(cells[0]) + 100)))
    result = replay_files(messages, orderbook)
    assert result.first_mismatch is not None and result.first_mismatch.row == 20_000
    assert result.first_mismatch.differences[0].startswith("ask level 1:")


def write_pair(tmp_path: Path, messages: list[str], rows: list[str]) -> tuple[Path, Path]:
    message_path = tmp_path / "TEST_2012-06-21_0_0_message_2.csv"
    orderbook_path = tmp_path / "TEST_2012-06-21_0_0_orderbook_2.csv"
    message_path.write_text("\n".join(messages) + "\n")
    orderbook_path.write_text("\n".join(rows) + "\n")
    return message_path, orderbook_path


EMPTY = "9999999999,0,-9999999999,0"


def test_a_level_uncovered_from_beyond_the_window_is_learnt(tmp_path):
    pair = write_pair(
        tmp_path,
        [
            "34200.1,1,1,100,1010000,-1",  # row 1 is the seed: order 1 is synthetic
            "34200.2,3,1,100,1010000,-1",  # the best ask leaves; 103.00 appears at level 2
            "34200.3,4,0,50,1020000,-1",  # an order from before the file, by price
        ],
        [
            "1010000,100,1000000,10,1020000,70,990000,5",
            "1020000,70,1000000,10,1030000,30,990000,5",  # 103.00 comes from beyond level 2
            "1020000,20,1000000,10,1030000,30,990000,5",
        ],
    )
    result = replay_files(*pair)
    assert (result.checked, result.mismatches, result.learned_levels) == (2, 0, 1)


def test_a_level_appearing_on_a_side_known_in_full_is_a_mismatch(tmp_path):
    pair = write_pair(
        tmp_path,
        ["34200.1,1,1,100,1010000,-1", "34200.2,3,1,100,1010000,-1"],
        [
            f"1010000,100,1000000,10,{EMPTY}",  # one ask level: nothing beyond it
            f"1020000,70,1000000,10,{EMPTY}",  # so this ask cannot come from beyond
        ],
    )
    result = replay_files(*pair)
    assert result.mismatches == 1
    assert result.first_mismatch.differences == ["ask level 1: book empty, file 70 @ 102.0000"]


def test_halts_and_hidden_executions_leave_the_book_alone():
    replay = LobsterReplay(window=1, levels=1, symbol="T")
    row = OrderbookRow(asks=[(1010000, 100)], bids=[(1000000, 10)])
    replay.seed(row)
    replay.apply(LobsterMessage(1, 7, 0, 0, -1, -1))
    assert replay.book.trading_state == "H"
    assert replay.check(2, row) is None
    replay.apply(LobsterMessage(2, 5, 0, 30, 1005000, 1))
    assert replay.check(3, row) is None
    replay.apply(LobsterMessage(3, 7, 0, 0, 1, -1))
    assert replay.book.trading_state == "T"
    replay.apply(LobsterMessage(4, 4, 77, 40, 1010000, -1))  # unknown id: drawn by price
    assert replay.check(4, OrderbookRow([(1010000, 60)], [(1000000, 10)])) is None
    assert replay.book.best_ask.shares == 60 and replay.book.best_bid.price == 1000000
    assert replay.book.level(Side.SELL, 1010000).orders == 1


def test_parse_time_is_exact():
    assert parse_time_ns("34200.017459617") == 34_200_017_459_617
    assert parse_time_ns("34200.18960767") == 34_200_189_607_670
    assert parse_time_ns("57600") == 57_600_000_000_000
    with pytest.raises(ValueError):
        parse_time_ns("34200.1234567890")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("34200.1,1,1,100,1010000", "expected 6 columns"),
        ("34200.1,8,1,100,1010000,1", "event type 8"),
        ("34200.1,1,1,100,1010000,0", "direction 0"),
        ("34200.1,1,x,100,1010000,1", "invalid literal"),
        ("abc,1,1,100,1010000,1", "not a time"),
        ("34200.1,7,0,0,5,-1", "halt message with price 5"),
    ],
)
def test_bad_message_rows_name_file_and_row(tmp_path, line, reason):
    path = tmp_path / "m.csv"
    path.write_text(f"34200.0,1,1,100,1010000,1\n{line}\n")
    with pytest.raises(LobsterFormatError, match=reason) as info:
        read_messages(path)
    assert info.value.row == 2 and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1010000,100,1000000", "expected 4 columns"),
        ("1010000,100,1000000,x", "invalid literal"),
        ("9999999999,5,1000000,10", "empty ask level 1 has size 5"),
        ("1010000,0,1000000,10", "both must be > 0"),
        ("9999999999,0,1000000,10,1010000,100,990000,5", "ask level 2 follows an empty level"),
    ],
)
def test_bad_orderbook_rows_name_file_and_row(tmp_path, line, reason):
    path = tmp_path / "o.csv"
    width = len(line.split(","))
    first = ",".join(["1010000,100,1000000,10"] * (width // 4)) if width % 4 == 0 else "1,1,1,1"
    path.write_text(f"{first}\n{line}\n")
    with pytest.raises(LobsterFormatError, match=reason) as info:
        read_orderbook(path)
    assert info.value.row == 2


def test_row_counts_must_agree(tmp_path):
    pair = write_pair(tmp_path, ["34200.1,5,0,1,1,1"], [f"{EMPTY},{EMPTY}", f"{EMPTY},{EMPTY}"])
    with pytest.raises(LobsterFormatError, match="2 rows, but the message file"):
        replay_files(*pair)


def test_command_prints_json_and_exit_code(shared_data, tmp_path, capsys):
    messages, orderbook = sample(shared_data, AAPL)
    assert main(["book", "lobster", str(messages), str(orderbook), "--levels", "10", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 999 and summary["checked"] == 998
    assert summary["mismatches"] == 0 and summary["first_mismatch"] is None

    messages, orderbook = copy_sample(shared_data, AAPL, tmp_path)
    rewrite_row(orderbook, 10, lambda cells: cells.__setitem__(1, "1"))
    assert main(["book", "lobster", str(messages), str(orderbook), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["first_mismatch"]["row"] == 10
    assert summary["first_mismatch"]["differences"][0].startswith("ask level 1:")

    assert main(["book", "lobster", str(messages), str(orderbook), "--levels", "11"]) == 2
    assert "10 levels" in capsys.readouterr().err
