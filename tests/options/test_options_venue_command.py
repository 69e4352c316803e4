"""Two real processes: `calarb options venue` (the options simulator: ITTO and ITCH 5.0 on
loopback multicast, FIX on 127.0.0.1) writes the run file for its listings, and `calarb run`
on that file trades the planted mispricings by itself: both feeds caught up, both FIX
sessions logged on, the surface fitted, option orders and underlying hedges filled."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from calarb.itch.transport import fresh_multicast_address

pytestmark = pytest.mark.network


def test_calarb_run_trades_the_options_venue_from_the_run_file_it_writes(tmp_path):
    run_file = tmp_path / "options.toml"
    options_feed, equity_feed = (":".join(map(str, fresh_multicast_address())) for _ in "12")
    venue = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", "options", "venue", "--seed", "2", "--port", "0",
         "--options-feed", options_feed, "--equity-feed", equity_feed,
         "--mispricings-per-minute", "30", "--duration", "40", "--run-file", str(run_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        addresses = json.loads(venue.stdout.readline())
        assert json.loads(venue.stdout.readline()) == {"ready": True}
        assert addresses["options"] == 42 and run_file.exists()
        engine = subprocess.run(
            [sys.executable, "-m", "calarb.cli", "run", "--config", str(run_file),
             "--duration", "14", "--json", "--status-interval", "0"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
    finally:
        venue.terminate()
        venue_out, venue_err = venue.communicate(timeout=15)
    assert engine.returncode == 0, engine.stderr[-2000:]
    summary = json.loads(engine.stdout)
    assert summary["waiting_for"] is None  # both feeds caught up, both sessions logged on
    strategy = summary["strategy"]
    assert strategy["surface_fits"] >= 3
    assert strategy["option_fills"] >= 1 and strategy["hedge_fills"] >= 1, strategy
    assert strategy["worst_abs_delta_shares"] <= 1_500  # the run file's max_delta_shares
    assert summary["orders_sent"] == strategy["orders"] >= 2  # every order the strategy's
    assert summary["rejects"] == {} and summary["oms_anomalies"] == {}
    # The options venue's fees (0.50 a contract, from the run file) are in the engine's P&L;
    # the underlying's venue charges none here, so they are whole multiples of 0.50.
    fees = summary["pnl"]["fees"]
    assert fees >= 0.50 * strategy["option_fills"] and (fees / 0.50) == round(fees / 0.50)
    for name in ("OPTV", "EQTY"):
        assert summary["venues"][name]["counts"].get("bad_message", 0) == 0, summary["venues"][name]
        assert summary["feeds"][name]["callback_errors"] == 0
    assert venue.returncode == 0, venue_err[-2000:]
    final = json.loads(venue_out.strip().splitlines()[-1])
    assert final["gateway"]["requests"] >= summary["orders_sent"]
