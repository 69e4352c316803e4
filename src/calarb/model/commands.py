"""`calarb scan PRICES --out pairs.csv [--json]`: find cointegrated pairs in a price panel."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from calarb.command_modules import CommandError, check_reachable, lazy_handler, positive_integer

# the choices of calarb.model.scanner.PREFILTERS and calarb.model.panel.MISSING_POLICIES,
# spelt here so that `calarb scan --help` loads no numerical library (tests/test_cli.py
# checks that they agree)
PREFILTER_CHOICES = ("corr", "distance")
MISSING_CHOICES = ("error", "drop-rows", "drop-symbols", "ffill")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="scan a price panel for cointegrated pairs (Engle-Granger, Benjamini-Hochberg)",
        description=(
            "Test candidate pairs of a price panel (CSV or Parquet, wide or long) with "
            "Engle-Granger in both orderings, correct for multiple testing and rank by p-value "
            "and half-life."
        ),
    )
    parser.add_argument("prices", type=Path, help="price panel: .csv, .csv.gz or .parquet")
    parser.add_argument("--out", type=Path, help="write the ranked table as CSV here")
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON (the scan contract)"
    )
    parser.add_argument(
        "--all", action="store_true", help="test and list every pair (no prefilter)"
    )
    parser.add_argument(
        "--prefilter", choices=PREFILTER_CHOICES, default="corr"
    )
    parser.add_argument(
        "--min-corr", type=float, default=0.5, help="corr prefilter: |return correlation| >= this"
    )
    parser.add_argument(
        "--top", type=int, default=None, help="distance prefilter: keep the N closest pairs"
    )
    parser.add_argument(
        "--prices-form",
        dest="log",
        action="store_false",
        help="test prices rather than log prices",
    )
    parser.add_argument("--fdr", type=float, default=0.05, help="Benjamini-Hochberg FDR level")
    parser.add_argument("--missing", choices=MISSING_CHOICES, default="error")
    parser.add_argument("--start", help="first date to use (inclusive)")
    parser.add_argument("--end", help="last date to use (inclusive)")
    parser.add_argument("--date-column")
    parser.add_argument("--symbol-column", help="long format: the symbol column")
    parser.add_argument("--price-column", help="long format: the price column")
    parser.add_argument("--workers", type=positive_integer, default=1, help="local processes (or Dask workers)")
    parser.add_argument("--dask", action="store_true", help="run on a Dask LocalCluster")
    parser.add_argument("--scheduler", help="run on an existing Dask scheduler at ADDRESS")
    parser.add_argument("--limit", type=int, default=20, help="rows shown on the terminal")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    parser.set_defaults(handler=run_scan)


def run_scan(args: argparse.Namespace) -> int:
    from calarb.model.panel import read_panel
    from calarb.model.scanner import ScanConfig, scan_pairs, to_contract_records
    from calarb.model.validation import ModelInputError

    if args.scheduler:
        check_reachable(args.scheduler, "--scheduler")
    try:
        panel = read_panel(
            args.prices,
            date_column=args.date_column,
            symbol_column=args.symbol_column,
            price_column=args.price_column,
            missing=args.missing,
            positive=args.log,
            start=args.start,
            end=args.end,
        )
        config = ScanConfig(
            log=args.log,
            prefilter="none" if args.all else args.prefilter,
            min_correlation=args.min_corr,
            top_distance=args.top,
            fdr=args.fdr,
        )
        table = scan_pairs(
            panel.prices,
            config,
            workers=args.workers,
            dask=args.dask,
            scheduler=args.scheduler,
            progress=not args.quiet,
        )
    except ModelInputError as exc:
        print(f"calarb scan: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the CSV/Parquet reader's own words, with the file named
        text = str(exc)
        row = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
        if row:
            text = f"line {row[2]}: {row[3]} fields, the header has {row[1]}"
        raise CommandError(f"{args.prices}: {text}") from None
    if not args.quiet:
        for note in panel.notes:
            print(f"note: {note}", file=sys.stderr)
        print(
            f"{len(table)} pairs tested over {len(panel.prices)} dates "
            f"({panel.prices.index[0].date()}..{panel.prices.index[-1].date()}), "
            f"{int(table['significant'].sum()) if len(table) else 0} significant at FDR {args.fdr}",
            file=sys.stderr,
        )
    if args.out:
        table.to_csv(args.out, index=False)
    if args.json:
        text = json.dumps(to_contract_records(table), indent=1, allow_nan=False)
    else:
        shown = table.head(args.limit)[
            ["a", "b", "pvalue", "qvalue", "hedge_ratio", "half_life", "correlation"]
        ]
        text = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    try:
        print(text)
    except BrokenPipeError:  # e.g. piped into `head`: the reader has what it wanted
        sys.stderr.close()
    return 0


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    """Its `calarb bench` subcommand (the benchmark module loads only when it runs)."""
    scan = subparsers.add_parser("scan", help="pair scanner throughput vs statsmodels coint")
    scan.add_argument("--symbols", type=int, default=200)
    scan.add_argument("--observations", type=int, default=500)
    scan.add_argument("--naive-pairs", type=int, default=200, help="pairs timed with coint")
    scan.add_argument("--workers", type=int, default=2, help="process pool and Dask workers")
    scan.add_argument("--no-dask", action="store_true")
    scan.add_argument("--seed", type=int, default=7)
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(handler=lazy_handler("calarb.model.benchmark", "run_scan_bench"))
    model = subparsers.add_parser("model", help="online model update cost per tick")
    model.add_argument("--ticks", type=int, default=200_000)
    model.add_argument("--seed", type=int, default=7)
    model.add_argument("--json", action="store_true")
    model.set_defaults(handler=lazy_handler("calarb.model.benchmark", "run_model_bench"))
