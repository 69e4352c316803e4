"""`calarb init DIR`: write editable example configurations into a folder.

The examples ship inside the package (`calarb/configs`), so this works after a plain
`pip install`: venues (`calarb venue`), the engine that trades them (`calarb run`) and a
backtest (`calarb backtest`/`sweep`). Existing files are kept unless `--force` is given.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
EXAMPLES = {
    "venues.toml": "calarb venue --config {dir}/venues.toml",
    "engine.toml": "calarb run --config {dir}/engine.toml   (with the venues running)",
    "backtest.toml": "calarb backtest --data synthetic --config {dir}/backtest.toml",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write editable example configs (venues, engine, backtest) into a folder",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("directory", type=Path, help="folder to write (created if missing)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    if directory.exists() and not directory.is_dir():
        print(f"calarb init: {directory}: exists and is not a folder", file=sys.stderr)
        return 2
    directory.mkdir(parents=True, exist_ok=True)
    existing = [name for name in EXAMPLES if (directory / name).exists()]
    if existing and not args.force:
        print(
            f"calarb init: {directory / existing[0]}: exists (--force overwrites)", file=sys.stderr
        )
        return 2
    for name, command in EXAMPLES.items():
        shutil.copyfile(CONFIG_DIR / name, directory / name)
        print(f"wrote {directory / name}: {command.format(dir=directory)}")
    return 0
