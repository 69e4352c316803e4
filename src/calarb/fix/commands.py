"""`calarb fix serve --config FILE` and `calarb fix acceptance DIR --json`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from calarb.command_modules import CommandError, lazy_handler, positive_integer, positive_number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fix", help="FIX 4.2/4.4 engine: acceptor, conformance runs")
    fix_subparsers = parser.add_subparsers(dest="fix_command", metavar="COMMAND")

    serve = fix_subparsers.add_parser("serve", help="run an acceptor from a settings file")
    serve.add_argument("--config", required=True, type=Path, help="TOML or QuickFIX .cfg settings")
    serve.add_argument("--port", type=int, default=None, help="override SocketAcceptPort ($PORT)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--app", choices=["echo", "fill"], default="echo",
        help="echo: send each order-entry message back; fill: answer orders with fills",
    )  # fmt: skip
    serve.add_argument("-v", "--verbose", action="store_true")
    serve.set_defaults(handler=_serve)

    acceptance = fix_subparsers.add_parser(
        "acceptance", help="play QuickFIX acceptance scripts (.def) against calarb's acceptor"
    )
    acceptance.add_argument("directory", type=Path)
    acceptance.add_argument("--json", action="store_true", help="print the result as JSON")
    acceptance.add_argument("--jobs", type=positive_integer, default=8, help="acceptors run in parallel")
    acceptance.add_argument(
        "--connect", default=None, help="HOST:PORT of an already running acceptor"
    )
    acceptance.add_argument("--timeout", type=positive_number, default=20.0, help="seconds per expectation")
    acceptance.add_argument("--script", action="append", help="run only these script names")
    acceptance.set_defaults(handler=_acceptance)


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from calarb.fix.apps import EchoApplication, FillApplication
    from calarb.fix.config import load_settings
    from calarb.fix.transport import FixAcceptor, install_uvloop

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    variables = {"PORT": str(args.port)} if args.port is not None else None
    try:
        settings = load_settings(args.config, variables)
    except (OSError, ValueError) as exc:  # the validation layer's errors name the file already
        where = "" if str(exc).startswith(str(args.config)) else f"{args.config}: "
        print(f"calarb fix serve: {where}{exc}", file=sys.stderr)
        return 2
    install_uvloop()

    async def main() -> int:
        application = EchoApplication if args.app == "echo" else FillApplication
        try:
            acceptor = FixAcceptor(settings, lambda _s: application())
        except (OSError, ValueError) as exc:  # an unreadable file: 1, a bad setting: 2
            print(f"calarb fix serve: {args.config}: {exc}", file=sys.stderr)
            return 1 if isinstance(exc, OSError) else 2
        for key, reason in acceptor.skipped.items():
            print(f"skipping session {'/'.join(key)}: {reason}", file=sys.stderr)
        try:
            port = await acceptor.start(args.host, args.port)
        except OSError as exc:
            print(f"calarb fix serve: cannot listen on {args.host}: {exc}", file=sys.stderr)
            return 1
        print(json.dumps({"listening": f"{args.host}:{port}", "sessions": len(acceptor.sessions)}))
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await acceptor.stop()
        return 0

    return asyncio.run(main())


def _acceptance(args: argparse.Namespace) -> int:
    import asyncio

    from calarb.core.config_schema import did_you_mean
    from calarb.fix.acceptance import find_settings_file, run_directory

    directory: Path = args.directory
    if not directory.is_dir():
        raise CommandError(f"{directory}: no such folder")
    scripts = {script.stem for script in directory.glob("*.def")}
    if not scripts:
        raise CommandError(f"{directory}: no acceptance scripts (*.def) in this folder")
    for name in args.script or ():
        if name not in scripts:
            hint = did_you_mean(name, scripts)
            raise CommandError(f"--script {name}: no {name}.def in {directory}{hint}")
    connect = None
    if args.connect:
        host, _, port = args.connect.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"--connect {args.connect!r}: expected HOST:PORT")
        connect = (host, int(port))
    else:
        try:
            find_settings_file(directory)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
    result = asyncio.run(
        run_directory(args.directory, args.jobs, connect, args.timeout, args.script)
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['passed']}/{result['total']} passed")
        for name, failure in result["failures"].items():
            print(f"FAILED {name}: {failure}")
        for name, reason in result["skipped"].items():
            print(f"SKIPPED {name}: {reason}")
    return 0 if not result["failed"] else 1


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    """Its `calarb bench` subcommand (the benchmark module loads only when it runs)."""
    parser = subparsers.add_parser(
        "fix", help="FIX codec and order round trip vs QuickFIX, simplefix"
    )
    parser.add_argument("--orders", type=int, default=20_000, help="round trips per engine")
    parser.add_argument("--codec-messages", type=int, default=30_000, help="per library per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fsync-orders", type=int, default=2_000, help="round trips with fsync")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=lazy_handler("calarb.fix.benchmark", "run_command"))
