"""`calarb bench tick2trade`: the headline figure is tick to trade over ticks that sent an order."""

from __future__ import annotations

import json

import pytest

from calarb.cli import main
from calarb.trading.benchmark import run_benchmark


def test_headline_is_tick_to_trade_of_the_ticks_that_sent_an_order():
    result = run_benchmark(ticks=4_000, warmup=2_000, seed=3)
    with_order = result["ticks_with_order"]
    assert with_order > 0 and result["orders"] >= with_order and result["fills"] > 0
    # the benchmark's own per-tick figures and the engine's HdrHistogram saw the same ticks
    assert result["tick_to_trade_us"]["count"] == with_order
    assert result["p50_us"] == pytest.approx(result["tick_to_trade_us"]["p50"], rel=0.01)
    assert result["ratio_p50_vs_floor"] == pytest.approx(
        result["p50_us"] / result["floor_p50_us"], rel=0.01
    )
    # the whole tick goes on after the first order is written; every tick includes quiet ones
    assert result["order_tick_us"]["p50"] >= result["p50_us"]
    assert result["all_ticks_us"]["p50"] < result["p50_us"]
    stages = result["stages_us"]
    assert list(stages) == [
        "decoded", "book_updated", "model_updated", "signal", "risk_passed", "routed",
        "fix_encoded", "written",
    ]  # fmt: skip
    assert all(stage["count"] == with_order for stage in stages.values())
    assert result["stages_all_ticks_us"]["decoded"]["count"] == 4_000


def test_command_prints_json(capsys):
    assert (
        main(["bench", "tick2trade", "--ticks", "1000", "--warmup", "500", "--json", "--no-pure"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["benchmark"] == "tick2trade" and result["ticks"] == 1_000
    assert result["p50_us"] >= 0 and result["floor_p50_us"] > 0


def test_command_compares_with_the_pure_engine_on_the_same_ticks(capsys):
    assert main(["bench", "tick2trade", "--ticks", "1000", "--warmup", "500", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("p50_us", "p99_us", "all_ticks_us", "floor_p50_us", "ratio_p50_vs_floor",
                "pure_p50_us", "speedup_vs_pure", "stages"):  # fmt: skip
        assert key in result, key
    assert result["pure_p50_us"] > 0 and result["speedup_vs_pure"] > 0
