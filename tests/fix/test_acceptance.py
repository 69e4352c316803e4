"""QuickFIX's own acceptance scripts, played over real TCP against calarb's acceptor.

All scripts of both versions run once, concurrently (the heartbeat scripts wait for real
seconds), and each script is then reported as its own test.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calarb.fix.acceptance import compare, load_field_formats, run_directory

ACCEPTANCE = Path(__file__).resolve().parents[2].parent / "shared/data/quickfix-acceptance"
VERSIONS = ("fix44", "fix42")


def _script_ids():
    folder = ACCEPTANCE / "definitions/server"
    return [
        (version, path.stem)
        for version in VERSIONS
        for path in sorted((folder / version).glob("*.def"))
    ]


@pytest.fixture(scope="module")
def acceptance_results(shared_data):
    folder = shared_data / "quickfix-acceptance/definitions/server"

    async def run_all():
        return await asyncio.gather(*(run_directory(folder / v, jobs=10) for v in VERSIONS))

    return dict(zip(VERSIONS, asyncio.run(run_all()), strict=True))


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("version, script", _script_ids() or [("none", "none")])
def test_acceptance_script(acceptance_results, version, script):
    result = acceptance_results[version]
    if script in result["skipped"]:
        pytest.skip(result["skipped"][script])
    assert script not in result["failed"], result["failures"].get(script)
    assert script in result["seconds"]


def test_compare_checks_every_field(shared_data):
    formats = load_field_formats(shared_data / "quickfix-acceptance/definitions/server/fix44")
    from calarb.fix.codec import encode

    actual = encode(
        b"FIX.4.4",
        [
            (35, b"3"),
            (34, b"2"),
            (52, b"20240101-00:00:00.000"),
            (45, b"2"),
            (58, b"x"),
            (371, b"56"),
        ],
    )
    ok = b"8=FIX.4.4\x019=1\x0135=3\x0134=2\x0152=00000000-00:00:00.000\x0145=2\x0158=other words\x01371=56\x0110=0\x01"
    assert compare(ok, actual, formats) == ""
    assert "tag 371" in compare(ok.replace(b"371=56", b"371=55"), actual, formats)
    assert "tags differ" in compare(ok.replace(b"45=2\x01", b""), actual, formats)
    broken = actual.replace(b"35=3", b"35=4")  # checksum no longer right
    assert "CheckSum" in compare(ok, broken, formats)


@pytest.mark.network
def test_serve_command_runs_scripts_from_another_process(shared_data, tmp_path):
    """`calarb fix serve --config at.cfg.txt` is a contract: drive it with the runner."""
    config = shared_data / "quickfix-acceptance/at.cfg.txt"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calarb.cli",
            "fix",
            "serve",
            "--config",
            str(config),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = json.loads(server.stdout.readline())
        host, _, port = banner["listening"].rpartition(":")
        assert banner["sessions"] == 4  # FIX.4.2 and three FIX.4.4 sessions; others skipped
        result = asyncio.run(
            run_directory(
                shared_data / "quickfix-acceptance/definitions/server/fix44",
                connect=(host, int(port)),
                names=[
                    "1a_ValidLogonWithCorrectMsgSeqNum",
                    "8_AdminAndApplicationMessages",
                    "14e_IncorrectEnumValue",
                ],
            )
        )
        assert result["passed"] == 3, result["failures"]
    finally:
        server.terminate()
        server.wait(10)
    assert server.returncode == 0


def test_compare_accepts_only_the_optional_details_a_script_leaves_out(shared_data):
    """RefTagID(371) in a Reject and Text(58) in a Logout may be added; nothing else may,
    and a detail the script lists must be there and match."""
    formats = load_field_formats(shared_data / "quickfix-acceptance/definitions/server/fix44")
    from calarb.fix.codec import encode

    time = (52, b"20240101-00:00:00.000")
    reject = encode(b"FIX.4.4", [(35, b"3"), (34, b"2"), time, (45, b"2"), (58, b"x"),
                                 (371, b"52"), (372, b"0"), (373, b"10")])  # fmt: skip
    script = b"8=FIX.4.4\x0135=3\x0134=2\x0152=0\x0145=2\x0158=x\x01372=0\x01373=10\x01"
    assert compare(script, reject, formats) == ""
    listed = script.replace(b"372=0", b"371=52\x01372=0")
    assert compare(listed, reject, formats) == ""
    assert "tag 371" in compare(listed.replace(b"371=52", b"371=56"), reject, formats)
    logout = encode(b"FIX.4.4", [(35, b"5"), (34, b"3"), time, (58, b"why")])
    assert compare(b"8=FIX.4.4\x0135=5\x0134=3\x0152=0\x01", logout, formats) == ""
    heartbeat = encode(b"FIX.4.4", [(35, b"0"), (34, b"3"), time, (58, b"extra")])
    assert "tags differ" in compare(b"8=FIX.4.4\x0135=0\x0134=3\x0152=0\x01", heartbeat, formats)
    no_ref = encode(b"FIX.4.4", [(35, b"3"), (34, b"2"), time, (45, b"2"), (58, b"x"),
                                 (372, b"0"), (373, b"10")])  # fmt: skip
    assert "tags differ" in compare(listed, no_ref, formats)
