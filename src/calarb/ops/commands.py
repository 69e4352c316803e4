"""`calarb build-info`: which hot-path modules run compiled, and whether CALARB_PURE is set."""

from __future__ import annotations

import argparse
import json

import calarb


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-info", help="which hot-path modules run compiled (C extension) or pure"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run_build_info)


def run_build_info(args: argparse.Namespace) -> int:
    info = calarb.build_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"calarb {info['version']}: {info['mode']}")
    for name, state in info["modules"].items():
        print(f"  {state:8}  {name}")
    return 0
