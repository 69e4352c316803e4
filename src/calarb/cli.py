"""The `calarb` command.

A thin dispatcher: each package that offers commands has a `commands` module with a
`register(subparsers)` function that adds its subcommands, each setting `handler` to a
function taking the parsed arguments and returning an exit code. Only the modules of the
command being run are imported (`COMMANDS`), so `calarb --help` loads no numerical library.
A group may take subcommands from several rooms (`calarb.command_modules.command_group`).

Bad input ends in one line on stderr naming what and where, and a non-zero exit: 2 for a
configuration or argument error, 1 for a failure while running (a busy port, an unreadable
file). `CALARB_TRACEBACK=1` shows the Python traceback as well.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import typing

from calarb import command_modules
from calarb.command_modules import CommandError, present_modules

COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (help in `calarb --help`, the modules that register its subcommands)
    "itch": ("ITCH 5.0 files: generate, stats, convert",
             ("calarb.itch.commands", "calarb.data.commands")),
    "book": ("order books: LOBSTER check, BBO series",
             ("calarb.data.commands", "calarb.book.commands")),
    "fix": ("FIX 4.2/4.4 engine: acceptor, conformance runs", ("calarb.fix.commands",)),
    "venue": ("run exchange simulators (matching, FIX gateway, ITCH market data) from TOML",
              ("calarb.venue.commands",)),
    "scan": ("scan a price panel for cointegrated pairs (Engle-Granger, Benjamini-Hochberg)",
             ("calarb.model.commands",)),
    "options": ("options: implied vols, surface fits, static arbitrage, benchmark, venue",
                ("calarb.options.commands", "calarb.backtest.commands")),
    "run": ("run the trading engine against FIX 4.4 venues and ITCH/MoldUDP64 feeds",
            ("calarb.trading.commands",)),
    "kill": ("engage the kill switch of a running engine", ("calarb.trading.commands",)),
    "backtest": ("run the trading engine over recorded or synthetic market data",
                 ("calarb.backtest.commands",)),
    "sweep": ("backtest a parameter grid in parallel on Dask", ("calarb.backtest.commands",)),
    "build-info": ("which hot-path modules run compiled (C extension) or pure",
                   ("calarb.ops.commands",)),
    "bench": ("benchmarks against peers, printed as JSON", ("calarb.bench_commands",)),
    "demo": ("the calarb demo: exchange simulator, engine, fills, P&L and latency",
             ("calarb.demo",)),
    "init": ("write editable example configs (venues, engine, backtest) into a folder",
             ("calarb.init_command",)),
}  # fmt: skip


class CommandParser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported as one line (the usage is one `--help` away)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; only `command`'s modules (all when None and
    asked for the full parser by tests) register their real subcommands."""
    parser = CommandParser(prog="calarb", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command is None:
        names = [m for _, modules in COMMANDS.values() for m in modules]
        modules = list(dict.fromkeys(names))
    else:
        modules = list(COMMANDS[command][1]) if command in COMMANDS else []
    for module in present_modules(modules):
        module.register(subparsers)
    for name, (help_text, _) in COMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=help_text)
    return parser


def _command_name(argv: list[str]) -> str | None:
    for argument in argv:
        if not argument.startswith("-"):
            return argument
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_name(argv)
    command_modules.requested_arguments = argv
    parser = build_parser(command if command in COMMANDS else "")
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the user; CALARB_TRACEBACK=1 for the developer
        if os.environ.get("CALARB_TRACEBACK"):
            raise
        print(f"{_command_prog(parser, argv)}: {describe_error(exc)}", file=sys.stderr)
        return exit_code(exc)


def _command_prog(parser: argparse.ArgumentParser, argv: list[str]) -> str:
    """`calarb fix serve` for the arguments `fix serve --config ...`."""
    current = parser
    for token in argv:
        if token.startswith("-"):
            break
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or token not in actions[0].choices:
            break
        current = actions[0].choices[token]
    return current.prog


def describe_error(exc: BaseException) -> str:
    """One line naming what went wrong and where."""
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        address = re.search(r"\('([^']*)', (\d+)\)", str(exc))
        where = f"{address[1]}:{address[2]}" if address else "the address"
        return f"{where}: address already in use (is another process listening there?)"
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        text = f"{where}: {exc.strerror}" if where else str(exc)
        if exc.filename2:
            text += f" -> {exc.filename2}"
        return text.replace("\n", " ")
    text = str(exc).replace("\n", " ").strip()
    if isinstance(exc, ValueError | CommandError | LookupError | OSError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def exit_code(exc: BaseException) -> int:
    """2 for bad input (configuration, arguments, data), 1 for a failure while running."""
    return 2 if isinstance(exc, ValueError | CommandError) else 1


if __name__ == "__main__":
    sys.exit(main())
