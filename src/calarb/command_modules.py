"""Finding the modules that add subcommands to `calarb` (and `calarb bench`)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from types import ModuleType


def present_modules(module_names: Iterable[str]) -> Iterator[ModuleType]:
    """Import each module that exists; a missing one is a part of calarb not built yet.
    (An import error inside an existing module is not hidden.)"""
    for module_name in module_names:
        try:
            yield importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
