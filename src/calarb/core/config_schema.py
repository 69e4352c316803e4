"""The one validation layer for configuration files, run before anything starts.

Each room declares the shape of its file as `msgspec` structs built on `Schema` (unknown
keys are errors) with the constrained types below (signs, ranges, ports); `validate` checks a
parsed document against it and turns the first problem into a `ConfigError` of one line:
file, key and reason, with a "did you mean" hint for a misspelt key. Conflicts between
entries (two venues on one port) are checked with `check_distinct`. The rooms' builders then
turn the checked tables into their runtime objects.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec

T = TypeVar("T")

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
"""A TCP/UDP port; 0 asks the system for a free one."""
FixedPort = Annotated[int, msgspec.Meta(ge=1, le=65535)]
_MULTICAST = r"^2(2[4-9]|3[0-9])\.([0-9]{1,3}\.){2}[0-9]{1,3}$"
MulticastGroup = Annotated[str, msgspec.Meta(pattern=_MULTICAST)]
_IPV4 = r"^([0-9]{1,3}\.){3}[0-9]{1,3}$"
IPv4Address = Annotated[str, msgspec.Meta(pattern=_IPV4)]
NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1)]
_PATTERN_NAMES = {_MULTICAST: "an IPv4 multicast group (224.0.0.0 to 239.255.255.255)",
                  _IPV4: "an IPv4 address"}  # fmt: skip


class ConfigError(ValueError):
    """A configuration that cannot run: one line naming the file, the key and the reason."""


class Schema(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every configuration table: unknown keys are errors."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'X'?)` for the closest of `choices`, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {choice.lower(): choice for choice in choices}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_key(where: str, key: str, known: Iterable[str]) -> str:
    """The reason text for a key that is not in `known`."""
    place = key if where in ("", "top level") else _join(where, key)
    return f"{place}: unknown key{did_you_mean(key, known)}"


def load_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing, unreadable or malformed file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def validate(
    document: Any,
    schema: type[T],
    source: str | Path,
    where: str = "",
    error: type[ConfigError] = ConfigError,
    strict: bool = True,
) -> T:
    """`document` checked against `schema`; the first problem raises a ConfigError
    "SOURCE: KEY: REASON" (`where` prefixes the keys of a table nested in a bigger file).
    `strict=False` reads numbers and booleans from text (INI-style files)."""
    try:
        return msgspec.convert(document, schema, strict=strict)
    except msgspec.ValidationError as exc:
        raise error(f"{source}: {_explain(str(exc), document, schema, where)}") from None


def check_distinct(
    source: str | Path,
    entries: Iterable[tuple[str, object]],
    what: str,
    error: type[ConfigError] = ConfigError,
) -> None:
    """Raise when two entries (`where`, value) share a value: "A and B both use WHAT V"."""
    seen: dict[object, str] = {}
    for where, value in entries:
        if value in seen:
            raise error(f"{source}: {where}: {what} {value!r} is also used by {seen[value]}")
        seen[value] = where


# -- turning msgspec's messages into file/key/reason -------------------------------------------

_AT = re.compile(r"^(?P<reason>.*) - at `\$(?P<path>[^`]*)`$")
_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _explain(message: str, document: Any, schema: type, where: str) -> str:
    match = _AT.match(message)
    reason, path = (match["reason"], match["path"]) if match else (message, "")
    tokens: list[str | int] = [
        name if name else int(index) for name, index in _TOKEN.findall(path)
    ]
    key = _join(where, _dotted(tokens))
    unknown = re.match(r"Object contains unknown field `(.*)`", reason)
    if unknown:
        known = _field_names(_type_at(schema, tokens))
        return unknown_key(key, unknown[1], known)
    missing = re.match(r"Object missing required field `(.*)`", reason)
    if missing:
        return f"{_join(key, missing[1])}: required key missing"
    value = _value_at(document, tokens)
    shown = f", got {value!r}" if value is not _ABSENT else ""
    reason = reason.replace("`", "").replace(" | null", "")
    reason = re.sub(r"str matching regex '(.*)'", _pattern_name, reason)
    if reason.startswith("Invalid enum value"):
        choices = typing.get_args(_strip(_type_at(schema, tokens)))
        reason = f"must be one of {', '.join(map(repr, choices))}" if choices else reason
        return f"{key}: {reason}{shown}"
    if reason == "Expected str of length >= 1":
        return f"{key}: must not be empty"
    reason = reason[0].lower() + reason[1:]
    if reason.startswith("expected") and ", got" in reason:
        reason = reason.split(", got")[0]
    return f"{key}: {reason}{shown}"


_ABSENT = object()


def _pattern_name(match: re.Match[str]) -> str:
    pattern = match[1].replace("\\\\", "\\")
    return _PATTERN_NAMES.get(pattern, f"text matching {pattern}")


def _join(where: str, key: str) -> str:
    if not where:
        return key or "top level"
    return f"{where}{key}" if key.startswith("[") else f"{where}.{key}" if key else where


def _dotted(tokens: list[str | int]) -> str:
    text = ""
    for token in tokens:
        text += f"[{token}]" if isinstance(token, int) else (f".{token}" if text else token)
    return text


def _value_at(document: Any, tokens: list[str | int]) -> Any:
    node = document
    for token in tokens:
        try:
            node = node[token]
        except (KeyError, IndexError, TypeError):
            return _ABSENT
    return node


def _strip(kind: Any) -> Any:
    """The type inside Annotated[...] and Optional[...]."""
    while True:
        if typing.get_origin(kind) is Annotated:
            kind = typing.get_args(kind)[0]
        elif typing.get_origin(kind) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(kind) if a is not type(None)]
            structs = [m for m in members if isinstance(m, type) and issubclass(m, Schema)]
            kind = structs[0] if structs else members[0]
        else:
            return kind


def _type_at(schema: Any, tokens: list[str | int]) -> Any:
    kind = _strip(schema)
    for token in tokens:
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            hints = typing.get_type_hints(kind, include_extras=True)
            kind = hints.get(str(token), Any)
        elif typing.get_origin(kind) in (list, tuple, dict, Mapping):
            kind = typing.get_args(kind)[-1] if typing.get_args(kind) else Any
        else:
            return Any
        kind = _strip(kind)
    return kind


def _field_names(kind: Any) -> tuple[str, ...]:
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return kind.__struct_fields__
    return ()
