"""The arrows of `calarb` point down the loop (DESIGN.md, "Shape of the package").

Every module of `src/calarb` is read with `ast` (imports inside functions included) and each
import of another calarb module is checked against the room order below; the import graph of
modules must also have no cycle. A failure names the module and the import.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import calarb

PACKAGE_DIR = Path(calarb.__file__).parent

# Each room and the rooms it imports directly; the order is their transitive closure
# (book imports itch, so whatever may import book may import itch too). A room not listed
# here fails the test until it is given its place.
ROOMS_BELOW = {
    "core": set(),
    # protocol cores: nothing above core
    "itch": {"core"},
    "fix": {"core"},
    "ouch": {"core"},
    "ops": {"core"},
    "book": {"itch"},
    "model": {"book"},
    "options": {"model"},
    "trading": {"book", "fix", "ouch", "model", "options", "ops"},
    "venue": {"itch", "book", "fix", "ouch"},
    "data": {"book"},  # tick store and importers
    "bus": {"core"},
    # on top
    "backtest": {"trading", "venue", "data"},
    "services": {"trading", "venue", "data", "bus"},
}

# Modules that sit on top of every room: the command line, benchmarks, demos. Nothing else
# imports them, and nothing at all imports the `calarb` command itself.
TOP_MODULES = (
    "calarb.*.benchmark",
    "calarb.trading.wire2wire",  # calarb bench wire2wire
    "calarb.*.commands",
    "calarb.cli",
    "calarb.command_modules",
    "calarb.bench_commands",
    "calarb.demo",
    "calarb.market_data_demo",
)
NOBODY_IMPORTS = {"calarb.cli"}

# Known violations in modules being changed on other branches of issue 11; the lead removes
# each entry when the branch that fixes it is merged. (importer, imported module)
ALLOWED_FOR_NOW: set[tuple[str, str]] = set()


def _closure(rooms: dict[str, set[str]]) -> dict[str, set[str]]:
    below: dict[str, set[str]] = {}

    def walk(room: str) -> set[str]:
        if room not in below:
            found: set[str] = set()
            for lower in rooms[room]:
                found |= {lower} | walk(lower)
            below[room] = found
        return below[room]

    for room in rooms:
        walk(room)
    return below


BELOW = _closure(ROOMS_BELOW)


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = ("calarb", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, calarb module) of every import in the module, wherever it is written."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[tuple[int, str], None] = {}  # in order, once each
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from calarb.x import y` imports the module calarb.x.y when there is one
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "calarb" or target.startswith("calarb."):
                while target not in MODULES:  # `import calarb.x.y as z`: the module
                    target = target.rpartition(".")[0]
                found[(node.lineno, target)] = None
    return list(found)


GRAPH = {
    name: sorted({target for _, target in _imports(name, path) if target != name})
    for name, path in MODULES.items()
}


def _is_top(module: str) -> bool:
    return any(fnmatch.fnmatchcase(module, pattern) for pattern in TOP_MODULES)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ROOMS_BELOW) else ""


def _arrow_error(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported`, or None."""
    if imported in NOBODY_IMPORTS:
        return "nothing imports the calarb command"
    if _is_top(importer):
        return None
    if _is_top(imported):
        return "only the command line, benchmarks and demos import a top module"
    if imported == "calarb":
        return None
    if importer == "calarb":  # the package root: only the build's module list, which imports nothing
        return None if imported == "calarb.compiled" else "the package root imports only calarb.compiled"
    room, target_room = _room(importer), _room(imported)
    for r in (room, target_room):
        if r not in ROOMS_BELOW:
            return f"room {r or importer!r} has no place in the room order (ROOMS_BELOW)"
    if target_room == room or target_room in BELOW[room]:
        return None
    return f"{room} may import only {sorted(BELOW[room]) or 'nothing'}, not {target_room}"


def test_every_arrow_points_down_the_loop():
    errors = []
    for name, path in MODULES.items():
        for line, imported in _imports(name, path):
            why = _arrow_error(name, imported)
            if why and (name, imported) not in ALLOWED_FOR_NOW:
                errors.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: {name} imports "
                              f"{imported}: {why}")  # fmt: skip
    assert not errors, "arrows against the room order:\n" + "\n".join(errors)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_no_import_cycle_between_modules():
    errors = []
    for component in _cycles(GRAPH):
        members = set(component)
        edges = [
            f"{a} imports {b}"
            for a in component
            for b in GRAPH[a]
            if b in members and (a, b) not in ALLOWED_FOR_NOW
        ]
        if edges:
            errors.append("cycle: " + "; ".join(edges))
    assert not errors, "\n".join(errors)


def test_the_checks_see_the_known_arrows():
    """The walk finds imports written inside functions and `from calarb import module`."""
    assert "calarb.market_data_demo" in GRAPH["calarb.demo"]
    assert "calarb.trading.live" in GRAPH["calarb.demo"]  # imported inside a function
    assert _arrow_error("calarb.itch.codec", "calarb.book.order_book")
    assert _arrow_error("calarb.trading.engine", "calarb.venue.matching")
    assert _arrow_error("calarb.trading.engine", "calarb.backtest.replay")
    assert _arrow_error("calarb.demo", "calarb.cli")
    assert _arrow_error("calarb.trading.engine", "calarb.book.order_book") is None
    assert _arrow_error("calarb.trading.benchmark", "calarb.venue.matching") is None
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
