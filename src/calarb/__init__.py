"""calarb: a low-latency statistical-arbitrage trading system in Python.

One source, two speeds: the hot-path modules listed in `calarb.compiled` are C extensions
compiled from their own `.py` files when the build had Cython and a C compiler. With
`CALARB_PURE=1` in the environment every calarb module loads from its `.py` instead, even
where an extension exists (a finder placed first on `sys.meta_path`); `build_info()` says
which modules run compiled.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys

from calarb.compiled import COMPILED_MODULES

__version__ = "0.1.0"

PURE_REQUESTED = os.environ.get("CALARB_PURE", "").strip() not in ("", "0")
"""True when CALARB_PURE asks for the interpreted `.py` files (set before importing calarb)."""

_EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


class SourceOnlyFinder:
    """Finds `calarb.*` modules by their `.py` file only, so an extension never shadows it.

    Packages (a folder with `__init__.py`) and anything outside calarb are left to the
    ordinary finders, which come after this one."""

    @staticmethod
    def find_spec(fullname: str, path=None, target=None):
        if path is None or not fullname.startswith("calarb."):
            return None
        filename = fullname.rpartition(".")[2] + ".py"
        for entry in path:
            source = os.path.join(entry, filename)
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None


if PURE_REQUESTED and not any(isinstance(f, SourceOnlyFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, SourceOnlyFinder())


def is_compiled(module_name: str) -> bool:
    """True when the (imported) module runs from a C extension."""
    module = importlib.import_module(module_name)
    return (getattr(module, "__file__", None) or "").endswith(_EXTENSION_SUFFIXES)


def compiled_modules() -> list[str]:
    """The modules of `COMPILED_MODULES` loaded compiled (empty when pure)."""
    return [name for name in COMPILED_MODULES if is_compiled(name)]


def build_info() -> dict[str, object]:
    """How this calarb runs: the pure switch and, per hot-path module, compiled or pure."""
    modules = {name: "compiled" if is_compiled(name) else "pure" for name in COMPILED_MODULES}
    compiled = sum(state == "compiled" for state in modules.values())
    if PURE_REQUESTED:
        mode = "pure (CALARB_PURE=1)"
    elif compiled == len(modules):
        mode = "compiled"
    elif compiled:
        mode = "mixed (some extensions missing: rebuild)"
    else:
        mode = "pure (no extensions built)"
    return {
        "version": __version__,
        "mode": mode,
        "pure_requested": PURE_REQUESTED,
        "modules": modules,
    }


_PUBLIC_API = {
    "Strategy": "calarb.trading.strategy_api",
    "StrategyContext": "calarb.trading.strategy_api",
    "OpenOrder": "calarb.trading.strategy_api",
    "CancelOrder": "calarb.trading.strategy_types",
    "OrderIntent": "calarb.trading.orders",
    "TopOfBook": "calarb.core.events",
    "BookSnapshot": "calarb.book.order_book",
    "Side": "calarb.core.types",
    "TimeInForce": "calarb.trading.orders",
    "PairsStrategy": "calarb.trading.strategy",
}
"""The strategy API (docs/strategies.md), imported on first use so `calarb --help` stays
light: `from calarb import Strategy, CancelOrder, TopOfBook`."""


def __getattr__(name: str):
    module = _PUBLIC_API.get(name)
    if module is None:
        raise AttributeError(f"module 'calarb' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
