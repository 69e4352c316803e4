"""`calarb options iv|fit|arbitrage|bench`: implied vols of a chain, surface fits, the
static-arbitrage scanner and the implied-vol benchmark (docs/options.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from calarb.command_modules import command_group

if TYPE_CHECKING:
    import pandas as pd

# NumPy, pandas and the options modules load when a subcommand runs, not for `--help`.
MATURITY_CHOICES = ("days", "weeks")  # calarb.options.grid.MATURITY_ROUNDINGS (tests agree)

MODELS = ("svi", "ssvi", "heston")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `options` command group to the `calarb` command."""
    commands = command_group(subparsers, "options")

    def chain_arguments(parser):
        parser.add_argument("chain", type=Path, help="chain file (.csv, .csv.gz, .parquet)")
        parser.add_argument("--as-of", type=date.fromisoformat, help="quote date (YYYY-MM-DD)")
        parser.add_argument(
            "--max-age-days", type=float, help="last trade older than this: stale (unusable)"
        )

    iv = commands.add_parser("iv", help="implied vols (bid, ask, mid) of a chain file")
    chain_arguments(iv)
    iv.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    iv.add_argument("--json", action="store_true", help="print the summary as JSON")
    iv.set_defaults(handler=_guarded(run_iv))

    fit = commands.add_parser("fit", help="fit SVI, SSVI or Heston to a chain or a vol grid")
    fit.add_argument("input", type=Path, help="chain file, or a grid folder with market.toml")
    fit.add_argument("--model", choices=MODELS, required=True)
    fit.add_argument("--as-of", type=date.fromisoformat, help="chain: quote date (YYYY-MM-DD)")
    fit.add_argument("--max-age-days", type=float, help="chain: stale after this many days")
    fit.add_argument(
        "--maturity-rounding",
        choices=MATURITY_CHOICES,
        default="days",
        help="grid: 'weeks' rounds maturities as QuantLib's DAX test does",
    )
    fit.add_argument("--html", type=Path, help="write the smiles and the surface here")
    fit.add_argument("--json", action="store_true", help="print the result as JSON")
    fit.set_defaults(handler=_guarded(run_fit))

    arbitrage = commands.add_parser("arbitrage", help="executable static-arbitrage violations")
    chain_arguments(arbitrage)
    arbitrage.add_argument("--fee", type=float, default=0.0, help="fee per contract")
    arbitrage.add_argument(
        "--multiplier", type=float, default=100.0, help="quote units per contract (default 100)"
    )
    arbitrage.add_argument("--rate", type=float, default=0.0, help="rate for D = exp(-rate T)")
    arbitrage.add_argument("--spot", type=float, help="underlying price (parity checks)")
    arbitrage.add_argument("--json", action="store_true", help="print the violations as JSON")
    arbitrage.set_defaults(handler=_guarded(run_arbitrage))

    bench = commands.add_parser("bench", help="implied vols/s against QuantLib; SSVI fit time")
    bench.add_argument("--quotes", type=int, default=200_000)
    bench.add_argument("--quantlib-quotes", type=int, default=20_000)
    bench.add_argument("--repeat", type=int, default=3, help="best of this many runs each")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    bench.set_defaults(handler=_guarded(run_bench_command))


def _guarded(handler):
    """Input errors become one line on stderr and exit status 2, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        from calarb.options.chains import ChainError

        try:
            return handler(args)
        except ChainError as exc:
            print(f"calarb options: error: {exc}", file=sys.stderr)
            return 2

    return run


def implied_vol_table(chain) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per usable quote with its parity forward and bid/ask/mid implied vols; quotes of
    an expiry without a parity forward (no strike quoted on both sides) are counted unusable."""
    import numpy as np
    import pandas as pd

    from calarb.options.implied import implied_vol
    from calarb.options.parity import chain_forwards

    forwards = chain_forwards(chain)
    forward = np.array([forwards[e].forward if e in forwards else np.nan for e in chain.expiration])
    discount = np.array(
        [forwards[e].discount if e in forwards else np.nan for e in chain.expiration]
    )
    ok = np.isfinite(forward)
    unusable = dict(chain.unusable)
    if (~ok).any():
        unusable["no_forward"] = int((~ok).sum())

    def vols(price):
        return implied_vol(
            price[ok],
            forward[ok],
            chain.strike[ok],
            chain.time[ok],
            discount[ok],
            chain.is_call[ok],
        )

    table = pd.DataFrame(
        {
            "contractSymbol": chain.symbol[ok],
            "option_type": np.where(chain.is_call[ok], "call", "put"),
            "strike": chain.strike[ok],
            "expiration": chain.expiration[ok],
            "bid": chain.bid[ok],
            "ask": chain.ask[ok],
            "iv_bid": vols(chain.bid),
            "iv_ask": vols(chain.ask),
            "iv_mid": vols(chain.mid),
            "forward": forward[ok],
            "discount_factor": discount[ok],
            "time_to_expiry": chain.time[ok],
        }
    )
    return table, unusable


def run_iv(args: argparse.Namespace) -> int:
    from calarb.options.chains import read_chain

    chain = read_chain(args.chain, as_of=args.as_of, max_age_days=args.max_age_days)
    table, unusable = implied_vol_table(chain)
    table.to_parquet(args.out, index=False)
    summary = {
        "input": str(args.chain),
        "as_of": chain.as_of.isoformat(),
        "out": str(args.out),
        "rows": len(table),
        "unusable": unusable,
        "iv_mid_missing": int(table["iv_mid"].isna().sum()),
    }
    _print(summary, args.json)
    return 0


def _surface_input(args) -> dict:
    """k, time, vol (and strike, forward, discount for Heston) from a grid folder or a chain:
    out-of-the-money quotes of a chain, by their mid implied vol."""
    import numpy as np

    from calarb.options.chains import ChainError, read_chain
    from calarb.options.grid import read_vol_grid

    if args.input.is_dir():
        grid = read_vol_grid(args.input, args.maturity_rounding)
        return dict(
            strike=grid.strike,
            time=grid.time,
            vol=grid.vol,
            forward=grid.forward,
            discount=grid.discount,
            unusable={},
        )
    chain = read_chain(args.input, as_of=args.as_of, max_age_days=args.max_age_days)
    table, unusable = implied_vol_table(chain)
    otm = (table["option_type"] == "call") == (table["strike"] >= table["forward"])
    table = table[otm & np.isfinite(table["iv_mid"]) & (table["iv_mid"] > 0)]
    if table.empty:
        raise ChainError(f"{args.input}: no usable out-of-the-money quote to fit")
    return dict(
        strike=table["strike"].to_numpy(),
        time=table["time_to_expiry"].to_numpy(),
        vol=table["iv_mid"].to_numpy(),
        forward=table["forward"].to_numpy(),
        discount=table["discount_factor"].to_numpy(),
        unusable=unusable,
    )


def run_fit(args: argparse.Namespace) -> int:
    import numpy as np

    from calarb.options.heston import calibrate_heston, heston_price
    from calarb.options.implied import implied_vol
    from calarb.options.ssvi import fit_ssvi, ssvi_total_variance
    from calarb.options.svi import SviSlice, fit_svi

    data = _surface_input(args)
    k = np.log(data["strike"] / data["forward"])
    if args.model == "heston":
        fit = calibrate_heston(
            data["strike"], data["time"], data["vol"], data["forward"], data["discount"]
        )
        residuals = fit.residuals_vol_points
        result = {
            "model": "heston",
            "quotes": int(residuals.size),
            "sse_vol_points": fit.sse_vol_points,
            "rmse_vol_points": float(np.sqrt(np.mean(residuals**2))),
            "arbitrage_free": True,  # prices of a martingale model
            "parameters": {name: float(v) for name, v in fit.to_dict()["parameters"].items()},
        }

        def model_vol(grid_k, t):
            at = np.nonzero(data["time"] == t)[0][0]
            f, d = data["forward"][at], data["discount"][at]
            strikes = f * np.exp(grid_k)
            calls = strikes >= f
            price = heston_price(f, strikes, t, d, calls, fit.params)
            return implied_vol(price, f, strikes, t, d, calls)
    else:
        surface = (fit_svi if args.model == "svi" else fit_ssvi)(k, data["time"], data["vol"])
        result = surface.to_dict()
        p = surface.parameters
        expiries = p["expiries"]

        def model_vol(grid_k, t):
            i = expiries.index(t)
            if args.model == "svi":
                w = SviSlice(**p["slices"][i]).total_variance(grid_k)[0]
            else:
                w = ssvi_total_variance(grid_k, p["theta"][i], p["rho"], p["eta"], p["gamma"])[0]
            return np.sqrt(np.maximum(w, 0.0) / t)

    result = {"input": str(args.input), **result, "unusable": data["unusable"]}
    if args.html:
        from calarb.options.plots import write_fit_html

        write_fit_html(
            args.html,
            f"{args.model} fit of {args.input}",
            k,
            data["time"],
            data["vol"],
            model_vol,
            result,
        )
        result["html"] = str(args.html)
    _print(result, args.json)
    return 0


def run_arbitrage(args: argparse.Namespace) -> int:
    from calarb.options.arbitrage import ScanConfig, scan_chain
    from calarb.options.chains import read_chain

    chain = read_chain(args.chain, as_of=args.as_of, max_age_days=args.max_age_days, spot=args.spot)
    config = ScanConfig(fee=args.fee, multiplier=args.multiplier, rate=args.rate)
    violations = scan_chain(chain, config)
    if args.json:
        print(json.dumps(violations, indent=2))
    else:
        print(f"{len(violations)} violations; unusable rows: {chain.unusable or 'none'}")
        for v in violations[:50]:
            legs = ", ".join(
                f"{leg['side']} {leg['quantity']} {leg['contractSymbol']}" for leg in v["legs"]
            )
            print(
                f"{v['kind']:9} {v['option_type']:4} {v['expirations']} {v['strikes']} edge {v['edge']:.2f}: {legs}"
            )
    if chain.unusable:
        print(f"unusable rows by reason: {json.dumps(chain.unusable)}", file=sys.stderr)
    return 0


def run_bench_command(args: argparse.Namespace) -> int:
    from calarb.options.benchmark import run_bench

    _print(run_bench(args.quotes, args.quantlib_quotes, repeat=args.repeat), args.json)
    return 0


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
