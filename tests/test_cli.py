"""The `calarb` command loads only what the command being run needs: `--help` of every
command starts without the numerical libraries, asyncio or the engine, the matching engine
and the benchmarks' kernels (the 0.3 s budget of issue 14, checked by what loads, not by a
clock: a loaded machine cannot make these tests flaky)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calarb.bench_commands import BENCHMARKS
from calarb.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "pandas", "numba", "statsmodels", "dask", "matplotlib", "pyarrow", "duckdb",
         "numpy")  # fmt: skip
# what a command loads only when it runs: the event loop, the engines, the kernels, the peers
RUNNING_ONLY = ("asyncio", "calarb.trading.engine", "calarb.trading.live", "calarb.trading.var",
                "calarb.venue.matching", "calarb.venue.server", "calarb.market_data_demo",
                "calarb.book.bulk", "calarb.model.hedge")  # fmt: skip
PROBE = """
import json, sys
from calarb.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
print(json.dumps(sorted(m for m in sys.modules if m in {running} or m.endswith(".benchmark"))))
"""


def _help_probe(command: list[str]) -> tuple[list[str], list[str]]:
    """(numerical libraries, running-only modules) loaded by `calarb COMMAND --help`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, running=RUNNING_ONLY), *command,
         "--help"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "usage: calarb" in result.stdout
    *_, heavy, running = result.stdout.splitlines()
    return json.loads(heavy), json.loads(running)


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS), ["fix", "serve"],
                                     ["itch", "generate"], ["options", "fit"],
                                     *(["bench", name] for name in BENCHMARKS)])  # fmt: skip
def test_help_loads_no_numerical_library(command):
    heavy, running = _help_probe(command)
    assert heavy == []
    assert running == []


def test_bench_help_lists_the_benchmark_arguments():
    """The arguments of `calarb bench X` come from light modules, not from its benchmark."""
    result = subprocess.run(
        [sys.executable, "-m", "calarb.cli", "bench", "tick2trade", "--help"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--no-pure" in result.stdout and "--warmup" in result.stdout


@pytest.mark.parametrize("package", ["calarb.trading", "calarb.venue", "calarb.book"])
def test_lazy_package_names_resolve(package):
    """A package's public names import on first use and are the objects of their modules."""
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        source = importlib.import_module(module._PUBLIC_NAMES[name])
        assert value is getattr(source, name), f"{package}.{name}"
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018


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
