"""pyproject.toml's core dependencies are what running calarb imports, no more and no less:
`make demo` and `pip install .` install only what running needs (issue 14), and whatever a
command imports (the dashboard's Starlette, uvicorn, prometheus-client and plotly included,
since the demo serves the dashboard) is installed with it. Benchmarks and their peers, and
test-only libraries, belong to the `bench` and `test` extras."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "calarb"
# modules that only `calarb bench` (or tests) run: their peers are in the bench/test extras
BENCH_ONLY = ("benchmark.py", "backtest/peers.py", "fix/quickfix_peer.py")
OPTIONAL = {"uvloop": "fast"}  # imported when installed (`install_uvloop`), else skipped


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the running modules of calarb that import it."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.endswith(BENCH_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("calarb", "__future__"):
                    found.setdefault(top, set()).add(relative)
    return found


def test_core_dependencies_are_what_running_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [_name(r) for r in project["dependencies"]]
    assert len(core) == len(set(core)), "a dependency listed twice"
    extras = {extra: {_name(r) for r in rs} for extra, rs in project["optional-dependencies"].items()}
    distributions = importlib.metadata.packages_distributions()
    imported_by: dict[str, set[str]] = {}
    for module, users in _third_party_imports().items():
        names = {_name(d) for d in distributions.get(module, [module])}
        if module in OPTIONAL:
            assert names & extras[OPTIONAL[module]], module
            continue
        assert names & set(core), f"{module} (imported by {sorted(users)}) is no core dependency"
        for name in names & set(core):
            imported_by[name] = users
    unused = [name for name in core if name not in imported_by]
    assert unused == [], f"core dependencies that running calarb never imports: {unused}"
    for name in ("starlette", "uvicorn", "prometheus-client", "plotly"):  # the demo's dashboard
        assert name in core
