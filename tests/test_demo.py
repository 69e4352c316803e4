"""`calarb demo` end to end: the venues' child process, the engine over loopback multicast
and TCP, the summary contract, the report folder, and no child left behind."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calarb.demo import true_ratio

pytestmark = [pytest.mark.network, pytest.mark.slow]

HEDGE_RATIO_TOLERANCE = 0.25  # relative: an 8 s run sees ~160 simulated seconds of prices
CONTRACT = {
    "orders_sent", "fills", "rejects", "positions", "pnl", "tick_to_trade_us", "stages_us",
    "hedge_ratios", "report_dir",
}  # fmt: skip


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_demo_json_contract_fills_report_and_no_child_left(tmp_path):
    report = tmp_path / "report"
    process = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", "demo", "--duration", "8", "--json",
         "--report", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    venue_children: set[int] = set()
    try:
        while process.poll() is None:  # note the venue child while the demo runs
            venue_children.update(_children(process.pid))
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(0.2)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout)

    assert set(summary) >= CONTRACT
    assert summary["fills"] > 0 and summary["orders_sent"] > 0  # (an order may fill in parts)
    assert isinstance(summary["rejects"], dict)
    assert set(summary["pnl"]) >= {"realized", "unrealized", "fees"}
    assert summary["pnl"]["fees"] > 0  # the venues charge takers
    assert set(summary["tick_to_trade_us"]) >= {"p50", "p99", "p999", "count"}
    assert summary["tick_to_trade_us"]["count"] > 0
    assert summary["tick_to_trade_us"]["p50"] <= summary["tick_to_trade_us"]["p99"]
    assert "decoded" in summary["stages_us"] and "written" in summary["stages_us"]
    assert summary["open_orders"] == 0 and summary["clean"]

    # The model's hedge ratios against the simulator's, as the venue process printed them.
    assert set(summary["hedge_ratios"]) == {"BBB/AAA", "DDD/CCC"}
    for name, ratio in summary["hedge_ratios"].items():
        leg_a, leg_b = name.split("/")
        assert ratio["true"] == pytest.approx(true_ratio(summary["true_parameters"], leg_a, leg_b))
        error = abs(ratio["estimated"] - ratio["true"]) / ratio["true"]
        assert error < HEDGE_RATIO_TOLERANCE, (name, ratio)

    # The report folder: the same summary, the page with its plots, the effective configs.
    folder = Path(summary["report_dir"])
    assert folder == report.resolve()
    assert json.loads((folder / "summary.json").read_text()) == summary
    page = (folder / "report.html").read_text()
    for plot in ("pnl", "pair_BBB_AAA", "pair_DDD_CCC", "latency"):
        assert f'id="figure-{plot}"' in page  # interactive, offline: plotly.js beside it
    assert (folder / "plotly.min.js").is_file() and "https://" not in page
    # The demo explains itself: its clock, what it holds at the end (marked), and why two
    # runs over sockets differ.
    assert summary["clock"]["simulated_s_per_real_s"] == 20.0
    for symbol, shares in summary["positions"].items():
        if shares:
            assert summary["marks"][symbol] > 0
    assert "differs from the next" in summary["determinism_note"]
    engine_toml = (folder / "engine.toml").read_text()
    assert "SocketConnectPort" in engine_toml and "239.255." in engine_toml
    # Every fill the engine counted is a trade in a venue's log with CALARB on one side.
    ours = []
    for venue in ("ALPHA", "BETA"):
        trades = json.loads((folder / "venues" / f"{venue}.trades.json").read_text())
        assert trades
        ours += [
            t["shares"]
            for t in trades
            for side in ("aggressor_participant", "resting_participant")
            if t[side] == "CALARB"
        ]
    assert (len(ours), sum(ours)) == (summary["fills"], summary["filled_shares"])

    # The venue child was seen, and it is gone (waited for, not a zombie either).
    assert venue_children, "the demo started no child process"
    for pid in venue_children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_true_ratio_follows_the_pair_direction():
    truths = [{"dependent": "BBB", "driver": "AAA", "hedge_ratio": 0.8}]
    assert true_ratio(truths, "BBB", "AAA") == 0.8
    assert true_ratio(truths, "AAA", "BBB") == pytest.approx(1.25)
    assert true_ratio(truths, "CCC", "AAA") is None
