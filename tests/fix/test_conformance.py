"""calarb's own acceptance scripts (tests/fix/conformance/*.def, issue 13 item 10), in
QuickFIX's .def format with `|` for SOH, played over real TCP against calarb's acceptor
configured like QuickFIX's acceptance run (at.cfg.txt: ISLD, ResetOnLogon, FIX44.xml)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from calarb.fix.acceptance import run_directory

pytestmark = pytest.mark.network

SCRIPTS = Path(__file__).resolve().parent / "conformance"


@pytest.fixture(scope="module")
def results(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("conformance")
    settings = (shared_data / "quickfix-acceptance/at.cfg.txt").read_text()
    spec = shared_data / "quickfix-acceptance/spec"
    (folder / "at.cfg.txt").write_text(settings.replace("../spec", str(spec)))
    (folder / "fields.fmt").write_bytes(
        (shared_data / "quickfix-acceptance/definitions/fields.fmt").read_bytes()
    )
    for script in SCRIPTS.glob("*.def"):
        (folder / script.name).write_bytes(script.read_bytes().replace(b"|", b"\x01"))
    # one acceptor per script: each starts from a fresh session (refused Logons name 34=1)
    jobs = len(list(SCRIPTS.glob("*.def")))
    return asyncio.run(run_directory(folder, jobs=jobs, timeout=5.0))


@pytest.mark.parametrize("script", sorted(p.stem for p in SCRIPTS.glob("*.def")))
def test_conformance_script(results, script):
    assert script not in results["failed"], results["failures"].get(script)
    assert script in results["seconds"]
