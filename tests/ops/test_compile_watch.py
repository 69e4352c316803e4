"""Numba compilation is seen and timed (never a cache load or an already-compiled call), and
the kernels calarb ships cache their machine code to disk."""

from __future__ import annotations

import ast
from pathlib import Path

from numba import njit

import calarb
from calarb.ops.compile_watch import CompileWatch


def test_a_compilation_is_announced_once_and_timed_and_a_compiled_call_is_not():
    notices = []

    @njit
    def add(a, b):  # a fresh function: its first call compiles
        return a + b

    with CompileWatch(lambda: notices.append("compiling")) as watch:
        assert add(1, 2) == 3
        assert add(3, 4) == 7  # same types: no new compilation
    assert notices == ["compiling"] and watch.compiled == 1 and watch.seconds > 0
    with CompileWatch(lambda: notices.append("again")) as again:
        assert add(5, 6) == 11
    assert again.compiled == 0 and again.seconds == 0.0 and notices == ["compiling"]
    with CompileWatch() as other_types:
        assert add(1.5, 2.0) == 3.5  # a new signature compiles
    assert other_types.compiled == 1


def test_every_shipped_numba_kernel_caches_to_disk():
    """Every `njit` decorator in src/calarb at module level asks for `cache=True` (compiled
    once per install, loaded afterwards)."""
    package = Path(calarb.__file__).parent
    uncached = []
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level: what a run imports
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                name = call.func if call else decorator
                if getattr(name, "id", getattr(name, "attr", "")) != "njit":
                    continue
                cached = call is not None and any(
                    k.arg == "cache" and getattr(k.value, "value", False) for k in call.keywords
                )
                if not cached:
                    uncached.append(f"{path.relative_to(package)}:{node.name}")
    assert uncached == []
