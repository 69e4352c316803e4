"""One source, two speeds: the hot-path modules run compiled by default, CALARB_PURE=1 runs
every calarb module from its .py, and an install without a C compiler is pure with a warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import calarb
from calarb.cli import main
from calarb.compiled import COMPILED_MODULES

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOT = REPO_ROOT / "src"
REBUILD = "rebuild them: `make venv`, or `python setup.py build_ext --inplace`"


def _python(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter (this one's calarb on the path) and return stdout."""
    environment = {k: v for k, v in os.environ.items() if k != "CALARB_PURE"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(SOURCE_ROOT), environment.get("PYTHONPATH")])
    )
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_compiled_modules_are_the_ones_loaded():
    if calarb.PURE_REQUESTED:
        pytest.skip("CALARB_PURE=1: this run is the pure one, by request")
    assert calarb.compiled_modules() == list(COMPILED_MODULES), (
        f"hot-path modules running pure: {calarb.build_info()['modules']}; {REBUILD}"
    )
    assert calarb.build_info()["mode"] == "compiled"


def test_no_extension_is_older_than_its_source():
    """An extension built in place shadows its .py: an edited source must be rebuilt."""
    if calarb.PURE_REQUESTED:
        pytest.skip("CALARB_PURE=1: the extensions are not loaded in this run")
    stale = []
    for name in COMPILED_MODULES:
        extension = Path(sys.modules[name].__file__)
        if not extension.is_relative_to(SOURCE_ROOT):
            continue  # an installed copy: built from the sources it was installed with
        sources = [
            extension.parent / (name.rpartition(".")[2] + suffix) for suffix in (".py", ".pxd")
        ]
        if any(source.stat().st_mtime > extension.stat().st_mtime for source in sources):
            stale.append(name)
    assert stale == [], f"extensions older than their .py/.pxd: {stale}; {REBUILD}"


def test_pure_switch_loads_every_calarb_module_from_its_source():
    code = (
        "import json, sys, calarb\n"
        "info = calarb.build_info()\n"
        "files = {n: m.__file__ for n, m in sys.modules.items() if n.startswith('calarb.')}\n"
        "print(json.dumps([info, files]))"
    )
    info, files = json.loads(_python(code, CALARB_PURE="1"))
    assert info["pure_requested"] is True
    assert info["mode"] == "pure (CALARB_PURE=1)"
    assert set(info["modules"].values()) == {"pure"}
    assert set(COMPILED_MODULES) <= set(files)
    assert all(file.endswith(".py") for file in files.values()), files


def test_pure_switch_zero_means_compiled():
    info = json.loads(
        _python("import json, calarb; print(json.dumps(calarb.build_info()))", CALARB_PURE="0")
    )
    assert info["pure_requested"] is False


def test_build_info_command(capsys):
    assert main(["build-info", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == calarb.build_info()
    assert main(["build-info"]) == 0
    assert capsys.readouterr().out.startswith(f"calarb {calarb.__version__}: ")


@pytest.mark.slow
def test_without_a_c_compiler_the_build_is_pure_with_one_warning(tmp_path):
    """`CC` names a compiler that does not exist: setup.py warns once and builds nothing."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, project / name)
    shutil.copytree(
        SOURCE_ROOT, project / "src", ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__")
    )
    environment = dict(os.environ, CC=str(tmp_path / "no-such-cc"))
    done = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", "lib", "--build-temp", "tmp"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "calarb is installed PURE" in line]
    assert len(warnings) == 1, done.stderr
    assert "no working C compiler" in warnings[0]
    assert not list(project.rglob("*.so")) and not list(project.rglob("*.c"))
