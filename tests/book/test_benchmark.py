"""A small run of `calarb bench itch` (not timed): every key is there, figures are positive
and the final books of calarb stream, calarb bulk, itch-book and MeatPy agree."""

from __future__ import annotations

import json

import pytest

from calarb.book.benchmark import run_itch_benchmark
from calarb.cli import main

KEYS = {
    "messages", "calarb_stream_book_msgs_per_s", "calarb_bulk_book_msgs_per_s",
    "itch_book_msgs_per_s", "meatpy_book_msgs_per_s", "ratio_bulk_vs_itch_book",
    "ratio_stream_vs_meatpy", "peak_rss_mb", "books_agree",
}  # fmt: skip


@pytest.mark.slow
def test_small_benchmark_run_reports_every_figure_and_agreeing_books():
    result = run_itch_benchmark(messages=20_000, symbols=8, seed=3, meatpy_messages=3_000, repeat=1)
    assert result.keys() >= KEYS
    assert result["messages"] == 20_000
    assert result["meatpy_messages"] == 3_000
    for key in KEYS - {"messages", "books_agree"}:
        assert isinstance(result[key], float) and result[key] > 0, key
    expected = result["calarb_bulk_book_msgs_per_s"] / result["itch_book_msgs_per_s"]
    assert result["ratio_bulk_vs_itch_book"] == pytest.approx(expected)
    agree = result["books_agree"]
    assert agree["all"] is True
    for check in ("stream_vs_bulk", "itch_book_vs_bulk", "meatpy_vs_bulk_on_prefix"):
        assert agree[check]["agree"] is True
        assert agree[check]["symbols"] == 8


@pytest.mark.slow
def test_command_prints_one_json_object(capsys, tmp_path):
    from calarb.itch.generate import generate_itch_file

    path = tmp_path / "small.itch"
    generate_itch_file(path, 5_000, 3, seed=8)
    code = main(["bench", "itch", "--file", str(path), "--meatpy-messages", "500",
                 "--repeat", "1", "--json"])  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["messages"] == 5_000 and printed["file"]["generated"] is False
    assert printed["books_agree"]["all"] is True
