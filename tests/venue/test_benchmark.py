"""`calarb bench matching` runs end to end and prints one JSON object with its figure."""

from __future__ import annotations

import json

from calarb.cli import main
from calarb.venue.benchmark import record_order_flow


def test_bench_matching_prints_json(capsys) -> None:
    argv = ["bench", "matching", "--orders", "3000", "--repeat", "1", "--gateway-orders", "500"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["matching_orders_per_s"] > 0
    assert result["requests"] == sum(result["mix"].values())
    assert result["trades"] > 0 and result["book_events"] > 0
    gateway = result["gateway_us"]
    assert 0 < gateway["p50"] <= gateway["p99"]


def test_recorded_flow_is_realistic_and_deterministic() -> None:
    requests, mix = record_order_flow(5000, seed=3)
    again, _ = record_order_flow(5000, seed=3)
    assert requests == again
    share = {kind: count / len(requests) for kind, count in mix.items()}
    adds = share["add_at_touch"] + share["add_near"] + share["add_away"]
    marketable = sum(v for k, v in share.items() if k.startswith(("market", "marketable")))
    replaces = sum(v for k, v in share.items() if k.startswith("replace"))
    assert 0.3 < adds < 0.6 and 0.2 < share["cancel"] < 0.45
    assert 0.05 < replaces < 0.2 and 0.05 < marketable < 0.2
