"""The `calarb` command loads only what the command being run needs: `--help` of every
command starts without the numerical libraries (the 0.3 s budget of issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calarb.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "pandas", "numba", "statsmodels", "dask", "matplotlib", "pyarrow", "duckdb")
PROBE = """
import json, sys
from calarb.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
"""


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS), ["fix", "serve"],
                                     ["itch", "generate"], ["options", "fit"]])  # fmt: skip
def test_help_loads_no_numerical_library(command):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *command, "--help"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "usage: calarb" in result.stdout
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_every_listed_command_is_registered_by_its_modules():
    parser = build_parser(None)
    (subcommands,) = [a for a in parser._actions if a.dest == "command"]
    for name in COMMANDS:  # a real command has a handler or subcommands, a placeholder neither
        command = subcommands.choices[name]
        nested = [a for a in command._actions if a.__class__.__name__ == "_SubParsersAction"]
        assert command.get_default("handler") is not None or nested, name


def test_choices_spelt_for_a_light_help_agree_with_their_modules():
    from calarb.model.commands import MISSING_CHOICES, PREFILTER_CHOICES
    from calarb.model.panel import MISSING_POLICIES
    from calarb.model.scanner import PREFILTERS
    from calarb.options.commands import MATURITY_CHOICES
    from calarb.options.grid import MATURITY_ROUNDINGS

    assert tuple(p for p in PREFILTERS if p != "none") == PREFILTER_CHOICES
    assert MISSING_CHOICES == MISSING_POLICIES
    assert MATURITY_CHOICES == MATURITY_ROUNDINGS
