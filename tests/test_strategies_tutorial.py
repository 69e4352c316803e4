"""docs/strategies.md, run as a user would: every `$ calarb ...` line of the tutorial, from
a scratch folder holding the repository's `examples/` and `configs/`. The paper run (a
`calarb venue` process and a `calarb run` process over loopback FIX and multicast) gets fresh
ports and groups so that it never meets another run on the machine; nothing else is
changed."""

from __future__ import annotations

import json
import random
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calarb.itch.transport import fresh_multicast_address

pytestmark = [pytest.mark.network, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "strategies.md"


def tutorial_commands() -> list[list[str]]:
    commands = []
    inside = False
    for line in TUTORIAL.read_text().splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```console"
            continue
        if inside and line.startswith("$ calarb "):
            commands.append(shlex.split(line[2:]))
    return commands


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fresh_addresses(folder: Path) -> None:
    """The venues file and the run config, with every port and group made fresh alike."""
    replacements = {}
    for old in ("9101", "9102"):
        replacements[f"= {old}"] = f"= {_free_tcp_port()}"
    for index, (data, retransmission) in enumerate((("31001", "31002"), ("31003", "31004"))):
        group, port = fresh_multicast_address(random.Random())
        replacements[f'"239.255.10.{index + 1}"'] = f'"{group}"'
        replacements[f"= {data}"] = f"= {port}"
        replacements[f"= {retransmission}"] = f"= {_free_tcp_port()}"
    for path in (folder / "configs" / "venues.toml", folder / "examples" / "quoter_run.toml"):
        text = path.read_text()
        for old, new in replacements.items():
            text = text.replace(old, new)
        path.write_text(text)


def _calarb(args: list[str], cwd: Path, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calarb.cli", *args], cwd=cwd,
                          capture_output=True, text=True, **options)  # fmt: skip


def test_the_tutorial_commands_run(tmp_path):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    commands = tutorial_commands()
    assert [c[1] for c in commands] == ["backtest", "backtest", "sweep", "venue", "run"]
    for command in commands[:3]:
        done = _calarb(command[1:], tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "quoter" / "report.html").is_file()
    assert json.loads(_calarb(commands[1][1:], tmp_path, timeout=300).stdout)["orders"] > 0

    _fresh_addresses(tmp_path)
    venue_args = commands[3][1:]
    venue_args[venue_args.index("--duration") + 1] = "30"
    venue = subprocess.Popen(
        [sys.executable, "-m", "calarb.cli", *venue_args], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = venue.stdout.readline()
            if not line or '"ready": true' in line:
                break
        assert venue.poll() is None, venue.stderr.read()
        run_args = commands[4][1:]
        run_args[run_args.index("--duration") + 1] = "12"
        done = _calarb([*run_args, "--json"], tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["orders_sent"] > 0
        assert summary["strategy"]["observations"] > 0
    finally:
        venue.terminate()
        venue.wait(timeout=30)
