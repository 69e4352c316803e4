"""`calarb bench fix` runs end to end (tiny sizes; the figures themselves are not asserted)."""

from __future__ import annotations

import json

import pytest

from calarb.cli import main


@pytest.mark.network
@pytest.mark.slow
def test_bench_fix_prints_every_key(capsys):
    code = main(
        ["bench", "fix", "--json", "--orders", "200", "--codec-messages", "300", "--rounds", "1",
         "--fsync-orders", "50"]
    )  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "encode_msgs_per_s", "decode_msgs_per_s", "quickfix_encode_msgs_per_s",
        "quickfix_decode_msgs_per_s", "simplefix_encode_msgs_per_s", "simplefix_decode_msgs_per_s",
        "orders_per_s", "quickfix_orders_per_s", "orders_per_s_fsync", "report_encode_msgs_per_s",
    ):  # fmt: skip
        assert result[key] > 0, key
    for key in ("rtt_us", "quickfix_rtt_us", "rtt_fsync_us"):
        assert 0 < result[key]["p50"] <= result[key]["p99"] <= result[key]["p999"], key
