"""`calarb bench wire2wire`: a real `calarb run` process against a harness on loopback."""

from __future__ import annotations

import json

from calarb.cli import main
from calarb.trading.wire2wire import Harness, market_with_triggers


def test_triggers_are_the_packets_after_which_the_pipeline_sent_an_order():
    packets, triggers = market_with_triggers(3, seed=3)
    assert len(triggers) == 3 and triggers == sorted(triggers)
    assert len(packets) == triggers[-1] + 1


def test_an_order_is_matched_to_the_trigger_whose_window_it_arrives_in():
    windows = [(100, 200), (300, 400), (500, 600)]
    arrivals = [50, 150, 160, 450, 520]  # before any window, two in the first, between, third
    assert Harness.match(windows, arrivals) == [50, 20]


def test_small_run_matches_orders_and_prints_the_keys(capsys):
    assert main(["bench", "wire2wire", "--triggers", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["benchmark"] == "wire2wire"
    assert result["orders_matched"] > 0 and result["floor_matched"] > 0
    for key in ("p50_us", "p99_us", "floor_p50_us", "ratio_p50_vs_floor"):
        assert result[key] > 0, key
    assert result["p99_us"] >= result["p50_us"]
