"""`calarb itch generate|stats|convert` through the real command dispatcher."""

from __future__ import annotations

import importlib.util
import json

import pytest

from calarb.cli import main
from calarb.itch.files import file_stats, read_messages
from calarb.itch.generate import generate_messages

REAL_CUT = "nasdaq-itch50-real-prefixes/unknown-2016-day.NASDAQ_ITCH50.first500bytes.truncated.itch"


def test_generate_then_stats(tmp_path, capsys):
    out = tmp_path / "day.itch"
    code = main(["itch", "generate", str(out), "--messages", "4000", "--symbols", "7",
                 "--seed", "3"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "4,000 messages" in printed and "7 symbols" in printed and str(out) in printed
    assert read_messages(out) == list(generate_messages(4000, 7, 3))

    assert main(["itch", "stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)  # exactly one JSON object
    assert set(stats) == {"messages", "by_type", "bytes", "symbols", "first_timestamp_ns",
                          "last_timestamp_ns"}  # fmt: skip
    assert stats["messages"] == 4000 == sum(stats["by_type"].values())
    assert stats["bytes"] == out.stat().st_size
    assert stats["symbols"] == 7
    assert stats["first_timestamp_ns"] <= stats["last_timestamp_ns"]
    assert stats == file_stats(out)


def test_generate_json_summary_agrees_with_stats(tmp_path, capsys):
    out = tmp_path / "day.itch.gz"
    assert main(["itch", "generate", str(out), "--messages", "1500", "--symbols", "2",
                 "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert main(["itch", "stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert summary["by_type"] == stats["by_type"]
    assert summary["bytes"] == stats["bytes"] > out.stat().st_size  # compressed on disk


def test_generate_refuses_too_few_messages(tmp_path, capsys):
    assert main(["itch", "generate", str(tmp_path / "x.itch"), "--messages", "10",
                 "--symbols", "5"]) == 2  # fmt: skip
    assert "21" in capsys.readouterr().err  # the fixed part needs 6 + 3 * 5 messages


def test_stats_on_a_truncated_real_file_fails_with_the_offset(shared_data, capsys):
    path = shared_data / REAL_CUT
    assert main(["itch", "stats", str(path), "--json"]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "byte offset 497" in captured.err and "truncated" in captured.err


def test_stats_lenient_reads_the_whole_messages(shared_data, capsys):
    assert main(["itch", "stats", str(shared_data / REAL_CUT), "--json", "--lenient"]) == 0
    captured = capsys.readouterr()
    stats = json.loads(captured.out)
    assert stats["messages"] == 16
    assert stats["by_type"] == {"H": 4, "R": 7, "S": 1, "Y": 4}
    assert stats["bytes"] == 497 and stats["symbols"] == 7
    assert "truncated" in captured.err


def test_stats_on_garbage_and_missing_files(tmp_path, capsys):
    garbage = tmp_path / "garbage.itch"
    garbage.write_bytes(b"\x00\x0c" + b"not itch at all")
    assert main(["itch", "stats", str(garbage), "--json"]) == 1
    err = capsys.readouterr().err
    assert "byte offset 0" in err and "unknown message type" in err
    assert main(["itch", "stats", str(tmp_path / "missing.itch")]) == 1
    assert "missing.itch" in capsys.readouterr().err


def test_convert_prints_rows_per_type(tmp_path, capsys):
    if importlib.util.find_spec("calarb.data.itch_parquet") is None:
        pytest.skip("calarb.data.itch_parquet (the Parquet writer) is not built yet")
    source = tmp_path / "day.itch"
    assert main(["itch", "generate", str(source), "--messages", "3000", "--symbols", "3"]) == 0
    capsys.readouterr()
    assert main(["itch", "convert", str(source), "--out", str(tmp_path / "pq")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {code: n for code, n in rows.items() if n} == file_stats(source)["by_type"]
