"""The demo end to end at a small size: generated ITCH over lossy loopback multicast."""

from __future__ import annotations

import pytest

from calarb.cli import main
from calarb.market_data_demo import run_demo


@pytest.mark.network
def test_demo_recovers_every_gap_and_rebuilds_the_file_books():
    summary = run_demo(messages=30_000, symbols=4, seed=3, loss=0.03)
    assert summary["messages_published"] == 30_000
    assert summary["packets_dropped"] > 0
    assert summary["gaps_detected"] > 0
    assert summary["gaps_recovered"] == summary["gaps_detected"]
    assert summary["exactly_once_in_order"]
    assert summary["books_match_file_replay"]
    assert summary["book_errors"] == 0
    assert len(summary["books"]) == 4
    assert all(row["orders"] > 0 for row in summary["books"].values())


@pytest.mark.network
def test_demo_command_prints_the_summary_table(capsys):
    assert main(["demo", "--market-data", "--messages", "5000", "--symbols", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "gaps recovered" in out and "books equal file replay: yes" in out
