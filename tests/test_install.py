"""A plain `pip install .` into a fresh venv runs `calarb demo` and `calarb init` from outside
the repository (the configs ship as package data).

Slow: the install compiles the 24 hot-path extensions (about 4 CPU-minutes; dependencies
come from pip's wheel cache after the first run). Deselect with `-m 'not slow'`.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_pip_install_runs_the_demo_and_init_outside_the_repository(tmp_path):
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    calarb = environment / "bin" / "calarb"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CALARB_PURE")}
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"{ROOT}[fast]"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    demo = subprocess.run(
        [calarb, "demo", "--duration", "5", "--json"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-2000:]
    result = json.loads(demo.stdout)
    assert result["clean"] is True
    assert Path(result["report_dir"]).is_relative_to(outside)

    init = subprocess.run(
        [calarb, "init", "mine"], cwd=outside, env=env, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    written = sorted(p.name for p in (outside / "mine").iterdir())
    assert written == ["backtest.toml", "engine.toml", "venues.toml"]
    check = subprocess.run(
        [python, "-c", "from calarb.trading.config import load_config as run\n"
         "from calarb.venue.config import VenuesConfig\n"
         "from calarb.backtest.config import BacktestConfig\n"
         "run('mine/engine.toml'); VenuesConfig.load('mine/venues.toml')\n"
         "BacktestConfig.load('mine/backtest.toml')"],
        cwd=outside, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
