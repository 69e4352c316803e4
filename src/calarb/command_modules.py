"""Finding the modules that add subcommands to `calarb` (and `calarb bench`), and the command
groups that several of them fill."""

from __future__ import annotations

import argparse
import importlib
import weakref
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType

SHARED_GROUPS = {
    # `calarb NAME`: (help, dest, metavar) of a group whose subcommands come from several
    # rooms (each command lives in the room whose code it runs: `calarb itch convert` and
    # `calarb book lobster` are the data room's)
    "itch": ("ITCH 5.0 files: generate, stats, convert", "itch_command", "SUBCOMMAND"),
    "book": ("order books: LOBSTER check, BBO series", "book_command", "COMMAND"),
    "options": ("options: implied vols, surface fits, static arbitrage, benchmark, venue",
                "options_command", "SUBCOMMAND"),
}  # fmt: skip
_GROUP_COMMANDS: weakref.WeakKeyDictionary[argparse.ArgumentParser, argparse._SubParsersAction]
_GROUP_COMMANDS = weakref.WeakKeyDictionary()


requested_arguments: list[str] | None = None
"""The command line being parsed (set by `calarb.cli.main`), so that a group with costly
modules (`calarb bench`) imports only the one asked for; None: import them all."""


class CommandError(Exception):
    """Bad input to a command: the message is the one line the user sees (exit 2)."""


def lazy_handler(module_name: str, function_name: str) -> Callable[[argparse.Namespace], int]:
    """A command handler that imports MODULE_NAME only when the command runs (a benchmark's
    kernels and peers stay out of `--help`)."""

    def handler(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module_name), function_name)(args)

    handler.__qualname__ = f"{module_name}.{function_name}"
    return handler


def positive_number(text: str) -> float:
    """An argparse type: a number above zero (seconds, rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def positive_integer(text: str) -> int:
    """An argparse type: an integer above zero (counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive integer")
    return value


def check_reachable(address: str, what: str, timeout_s: float = 3.0) -> None:
    """Raise CommandError unless a TCP connection to ADDRESS ([scheme://]host:port) opens,
    so an unreachable server is one line at once, not a library's timeout later. Addresses
    of other transports (Dask's in-process `inproc://`) are left to the library."""
    import socket

    scheme, has_scheme, _ = address.partition("://")
    if has_scheme and scheme not in ("tcp", "tls"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise CommandError(f"{what} {address!r}: expected HOST:PORT (e.g. tcp://10.0.0.5:8786)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CommandError(f"{what} {address}: unreachable ({reason})") from None


def present_modules(module_names: Iterable[str]) -> Iterator[ModuleType]:
    """Import each module that exists; a missing one is a part of calarb not built yet.
    (An import error inside an existing module is not hidden.)"""
    for module_name in module_names:
        try:
            yield importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise


def command_group(subparsers: argparse._SubParsersAction, name: str) -> argparse._SubParsersAction:
    """The subcommands of the shared group `calarb NAME` (`SHARED_GROUPS`), made by the first
    module that asks; later modules add theirs after its."""
    group = subparsers.choices.get(name)
    if group is None:
        help_text, dest, metavar = SHARED_GROUPS[name]
        group = subparsers.add_parser(name, help=help_text)
        _GROUP_COMMANDS[group] = group.add_subparsers(dest=dest, metavar=metavar, required=True)
    return _GROUP_COMMANDS[group]
