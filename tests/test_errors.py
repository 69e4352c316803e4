"""Bad input to every command ends in one line naming what and where, and a non-zero exit.

Each case runs `calarb` as a real process (real files, real sockets on 127.0.0.1) and checks
stderr: exactly one line, no traceback, the expected words, the expected exit code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "src" / "calarb" / "configs"


def calarb(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("CALARB_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-m", "calarb.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def listening_socket() -> socket.socket:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    return held


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def edited(name: str, tmp: Path, old: str, new: str) -> Path:
    text = (CONFIGS / name).read_text()
    assert old in text, old
    path = tmp / name
    path.write_text(text.replace(old, new, 1))
    return path


FIX_ACCEPTOR = """[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={port}
SenderCompID=VENUE
{extra}
[SESSION]
BeginString=FIX.4.4
TargetCompID=CLIENT
"""


def fix_settings(tmp: Path, port: int = 0, extra: str = "") -> Path:
    path = tmp / "acceptor.cfg"
    path.write_text(FIX_ACCEPTOR.format(port=port, extra=extra))
    return path


# Each case: (id, a function of the temporary folder giving the arguments, expected words,
# exit code). Held sockets live until the test ends.
HELD: list[socket.socket] = []


def busy_port() -> int:
    held = listening_socket()
    HELD.append(held)
    return held.getsockname()[1]


CASES: list[tuple[str, Callable[[Path], list[str]], str, int]] = [
    ("venue busy FIX port", lambda t: [
        "venue", "--duration", "2", "--config",
        str(edited("venues.toml", t, "fix_port = 9101", f"fix_port = {busy_port()}"))],
     "address already in use", 1),
    ("fix serve busy port", lambda t: [
        "fix", "serve", "--config", str(fix_settings(t, busy_port()))],
     "address already in use", 1),
    ("fix serve misspelt Pasword", lambda t: [
        "fix", "serve", "--config", str(fix_settings(t, extra="Pasword=x"))],
     "SESSION[0].Pasword: unknown key (did you mean 'Password'?)", 2),
    ("fix serve misspelt SocketAcceptPrt", lambda t: [
        "fix", "serve", "--config", str(fix_settings(t, extra="SocketAcceptPrt=5001"))],
     "SocketAcceptPrt: unknown key (did you mean 'SocketAcceptPort'?)", 2),
    ("fix serve misspelt HeartBtInnt", lambda t: [
        "fix", "serve", "--config", str(fix_settings(t, extra="HeartBtInnt=30"))],
     "HeartBtInnt: unknown key (did you mean 'HeartBtInt'?)", 2),
    ("fix serve HeartBtInt -10", lambda t: [
        "fix", "serve", "--config", str(fix_settings(t, extra="HeartBtInt=-10"))],
     "SESSION[0].HeartBtInt: expected int >= 1, got '-10'", 2),
    ("fix serve missing dictionary", lambda t: [
        "fix", "serve", "--config", str(fix_settings(t, extra="DataDictionary=nosuch.xml"))],
     "nosuch.xml not found", 1),
    ("itch generate into a missing folder", lambda t: [
        "itch", "generate", str(t / "nosuch" / "out.itch"), "--messages", "100"],
     "does not exist", 2),
    ("run with a missing config", lambda t: ["run", "--config", str(t / "nosuch.toml")],
     "nosuch.toml: no such configuration file", 2),
    ("scan a CSV row with an extra field", lambda t: [
        "scan", str(_write(t / "prices.csv", "date,AAA,BBB\n2020-01-01,1,2\n2020-01-02,1,2,3\n"))],
     "prices.csv: line 3: 4 fields, the header has 3", 2),
    ("sweep --grid entyr=1,2", lambda t: [
        "sweep", "--config", str(CONFIGS / "backtest.toml"), "--grid", "entyr=1,2"],
     "entyr: unknown key (did you mean 'entry'?)", 2),
    ("sweep unreachable --scheduler", lambda t: [
        "sweep", "--config", str(CONFIGS / "backtest.toml"), "--grid", "entry=1.5,2",
        "--scheduler", f"tcp://127.0.0.1:{closed_port()}"],
     "--scheduler tcp://127.0.0.1:", 2),
    ("fix acceptance without at.cfg.txt", lambda t: [
        "fix", "acceptance", str(_write(t / "defs" / "1a_Logon.def", "iCONNECT\n").parent)],
     "no at.cfg.txt beside or above", 2),
    ("fix acceptance --script nosuch", lambda t: [
        "fix", "acceptance", str(_acceptance_folder(t)), "--script", "nosuch"],
     "--script nosuch: no nosuch.def in", 2),
    ("bench flag not a number", lambda t: ["bench", "itch", "--messages", "lots"],
     "argument --messages: invalid int value: 'lots'", 2),
    ("bench unknown flag", lambda t: ["bench", "itch", "--mesages", "5"],
     "unrecognized arguments: --mesages", 2),
    ("venue negative --duration", lambda t: [
        "venue", "--config", str(CONFIGS / "venues.toml"), "--duration", "-5"],
     "argument --duration: -5 must be a positive number", 2),
    ("run negative --duration", lambda t: [
        "run", "--config", str(CONFIGS / "engine.toml"), "--duration", "-5"],
     "argument --duration: -5 must be a positive number", 2),
    ("backtest seconds = -600", lambda t: [
        "backtest", "--data", "synthetic", "--config",
        str(edited("backtest.toml", t, "seconds = 600", "seconds = -600"))],
     "backtest.toml: synthetic.seconds: expected float > 0.0, got -600", 2),
    ("backtest entry = high", lambda t: [
        "backtest", "--data", "synthetic", "--config",
        str(edited("backtest.toml", t, "entry = 1.5", 'entry = "high"'))],
     "backtest.toml: strategy.entry: expected float, got 'high'", 2),
    ("run entry = high", lambda t: [
        "run", "--config", str(edited("engine.toml", t, "entry = 1.5", 'entry = "high"'))],
     "engine.toml: pairs[0].entry: expected float, got 'high'", 2),
    ("run max_position = lots", lambda t: [
        "run", "--config",
        str(edited("engine.toml", t, "max_position = 1000", 'max_position = "lots"'))],
     "engine.toml: risk.max_position: expected int, got 'lots'", 2),
    ("run negative timer interval", lambda t: [
        "run", "--config",
        str(edited("engine.toml", t, "timer_interval_ms = 20", "timer_interval_ms = -5"))],
     "engine.toml: engine.timer_interval_ms: expected float > 0.0, got -5", 2),
    ("run misspelt FIX key", lambda t: [
        "run", "--config", str(edited("engine.toml", t, "HeartBtInt = 5", "HeartBtInnt = 5"))],
     "venues[0].fix.HeartBtInnt: unknown key (did you mean 'HeartBtInt'?)", 2),
    ("venue two venues on one multicast group", lambda t: [
        "venue", "--config",
        str(edited("venues.toml", t, 'group = "239.255.10.2"', 'group = "239.255.10.1"'))],
     "venues[1] (BETA).market_data.group: multicast group '239.255.10.1' is also used by "
     "venues[0] (ALPHA)", 2),
    ("venue negative limit", lambda t: [
        "venue", "--config",
        str(edited("venues.toml", t, "max_open_orders = 1_000", "max_open_orders = -1"))],
     "venues[0].participants[0].max_open_orders: expected int >= 1, got -1", 2),
    ("demo with a negative risk limit", lambda t: [
        "demo", "--duration", "3", "--engine-config",
        str(edited("demo_engine.toml", t, "max_position = 2000", "max_position = -1"))],
     "demo_engine.toml: risk.max_position: expected int >= 1, got -1", 2),
    ("run with an unwritable journal", lambda t: [
        "run", "--duration", "1", "--config", str(edited(
            "engine.toml", t, 'journal = "run/journal.jsonl"', 'journal = "/proc/calarb/j.jsonl"'))],
     "/proc/calarb/j.jsonl: cannot open the journal: No such file or directory", 1),
]  # fmt: skip


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _acceptance_folder(tmp: Path) -> Path:
    folder = tmp / "acceptance" / "fix44"
    _write(folder / "1a_ValidLogon.def", "iCONNECT\n")
    _write(tmp / "acceptance" / "at.cfg.txt", FIX_ACCEPTOR.format(port="$PORT", extra=""))
    return folder


@pytest.mark.parametrize(
    "arguments, expected, code", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path, arguments, expected, code) -> None:
    try:
        result = calarb(*arguments(tmp_path), cwd=tmp_path)
    finally:
        while HELD:
            HELD.pop().close()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert lines[0].startswith("calarb"), lines[0]
    assert result.returncode == code, (result.returncode, lines[0])
