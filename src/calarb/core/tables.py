"""Configuration tables (TOML) into dataclasses, with errors that name the table and key."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def check_keys(
    where: str, table: Mapping[str, Any], known: set[str], error: type[ValueError] = ValueError
) -> None:
    """Raise `error` naming `where` and the unknown keys, if `table` has any."""
    unknown = sorted(set(table) - known)
    if unknown:
        raise error(f"{where}: unknown key(s) {unknown}; expected some of {sorted(known)}")


def dataclass_from_table(
    cls: type[T], table: Mapping[str, Any], where: str, error: type[ValueError] = ValueError
) -> T:
    """Build a flat dataclass from a table; unknown, missing or invalid keys raise `error`
    with `where` (e.g. "venues[1].participants[0]") in the message."""
    if not isinstance(table, Mapping):
        raise error(f"{where}: expected a table, got {type(table).__name__}")
    check_keys(where, table, {f.name for f in dataclasses.fields(cls)}, error)
    try:
        return cls(**table)
    except (TypeError, ValueError) as exc:
        raise error(f"{where}: {exc}") from None
