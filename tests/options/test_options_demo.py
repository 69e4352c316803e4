"""`calarb demo --options` as a real process: JSON summary, a profit net of fees on the
planted mispricings, delta within its limit, the paper run equal to the backtest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.network]

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.slow
def test_demo_options_json(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "calarb.cli", "demo", "--options",
         "--duration", "25", "--seed", "5", "--json", "--report", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    paper = summary["paper"]
    assert summary["clean"] and summary["same_orders"] and summary["same_fills"]
    assert paper["entries"] >= 1 and paper["pnl"] > paper["fees"] > 0
    assert paper["worst_abs_delta_shares"] <= paper["delta_limit_shares"]
    assert paper["fix_orders_sent"] == len(summary["orders"])
    assert {o["purpose"] for o in summary["orders"]} >= {"entry", "hedge"}


def test_demo_options_refuses_a_bad_duration():
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-m", "calarb.cli", "demo", "--options", "--duration", "-1"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "calarb demo: argument --duration: -1 must be a positive number (see calarb demo --help)"
    )
