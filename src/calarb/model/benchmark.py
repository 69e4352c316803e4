"""`calarb bench scan` and `calarb bench model`: scanner throughput and per-tick model cost.

bench scan: pairs tested per second on a synthetic log-price panel (clusters of symbols sharing
a random-walk factor, so some pairs are cointegrated): calarb in one process, a naive loop of
statsmodels `coint` (both orderings, like calarb) on a sample of the pairs, a local process
pool and a Dask LocalCluster with 2 workers, all in the same run. It also checks the naive
p-values equal calarb's.

bench model: nanoseconds per online update for each hedge estimator, the z-score statistics
and the whole PairModel top-of-book path.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from calarb.core.events import TopOfBook
from calarb.model.hedge import EwmOlsHedge, KalmanHedge, OlsHedge, RollingOlsHedge
from calarb.model.live import PairModel
from calarb.model.scanner import ScanConfig, scan_pairs
from calarb.model.spread import SpreadStats


def synthetic_panel(symbols: int, observations: int, seed: int) -> pd.DataFrame:
    """Log-normal prices: groups of 5 symbols load on one random-walk factor plus AR(1) noise."""
    rng = np.random.default_rng(seed)
    groups = max(1, symbols // 5)
    factors = np.cumsum(rng.normal(0, 0.01, (observations, groups)), axis=0)
    group_of = np.arange(symbols) % groups
    loadings = rng.uniform(0.5, 1.5, symbols)
    noise = np.empty((observations, symbols))
    noise[0] = rng.normal(0, 0.01, symbols)
    shocks = rng.normal(0, 0.01, (observations, symbols))
    for t in range(1, observations):
        noise[t] = 0.9 * noise[t - 1] + shocks[t]
    log_prices = 4.0 + factors[:, group_of] * loadings + noise
    index = pd.bdate_range("2020-01-01", periods=observations)
    return pd.DataFrame(
        np.exp(log_prices), index=index, columns=[f"S{i:03d}" for i in range(symbols)]
    )


def _naive(prices: pd.DataFrame, pairs: list[tuple[str, str]]) -> tuple[float, dict]:
    from statsmodels.tsa.stattools import coint

    logs = np.log(prices)
    pvalues = {}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, b in pairs:
            forward = coint(logs[a], logs[b])[1]
            backward = coint(logs[b], logs[a])[1]
            pvalues[(a, b)] = forward
            pvalues[(b, a)] = backward
    return time.perf_counter() - start, pvalues


def run_scan_bench(args: argparse.Namespace) -> int:
    # One BLAS thread for both sides: the ratio then measures algorithms, not how a busy
    # machine treats spinning BLAS threads (statsmodels' small OLS fits suffer badly from it).
    with threadpool_limits(1):
        return _scan_bench(args)


def _scan_bench(args: argparse.Namespace) -> int:
    prices = synthetic_panel(args.symbols, args.observations, args.seed)
    config = ScanConfig(prefilter="none")
    n_pairs = args.symbols * (args.symbols - 1) // 2
    start = time.perf_counter()
    table = scan_pairs(prices, config)
    calarb_s = time.perf_counter() - start

    rng = np.random.default_rng(args.seed)
    sample = rng.choice(len(table), size=min(args.naive_pairs, len(table)), replace=False)
    pairs = [(table.at[i, "a"], table.at[i, "b"]) for i in sample]
    naive_s, naive_p = _naive(prices, pairs)
    mismatch = max(
        abs(table.at[i, "pvalue"] - naive_p[(table.at[i, "a"], table.at[i, "b"])]) for i in sample
    )

    start = time.perf_counter()
    scan_pairs(prices, config, workers=args.workers)
    pool_s = time.perf_counter() - start

    result = {
        "symbols": args.symbols,
        "observations": args.observations,
        "pairs": n_pairs,
        "orderings_per_pair": 2,
        "pairs_per_s": n_pairs / calarb_s,
        "naive_pairs_per_s": len(pairs) / naive_s,
        "naive_pairs_timed": len(pairs),
        "pool_pairs_per_s": n_pairs / pool_s,
        "workers": args.workers,
        "blas_threads": 1,
        "max_pvalue_diff_vs_statsmodels": float(mismatch),
    }
    if not args.no_dask:
        from dask.distributed import LocalCluster

        start = time.perf_counter()
        with LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            # warm-up: workers import calarb, statsmodels and scipy on their first task
            scan_pairs(prices.iloc[:, :4], config, scheduler=cluster.scheduler_address)
            result["dask_startup_s"] = time.perf_counter() - start
            start = time.perf_counter()
            scan_pairs(prices, config, scheduler=cluster.scheduler_address)
            result["dask_pairs_per_s"] = n_pairs / (time.perf_counter() - start)
    result["ratio_vs_naive"] = result["pairs_per_s"] / result["naive_pairs_per_s"]
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


def _time_updates(update, xs: list[float], ys: list[float]) -> float:
    start = time.perf_counter_ns()
    for x, y in zip(xs, ys, strict=True):
        update(x, y)
    return (time.perf_counter_ns() - start) / len(xs)


def run_model_bench(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    xs_array = 4.0 + np.cumsum(rng.normal(0, 1e-4, args.ticks))
    ys_array = 0.3 + 0.9 * xs_array + rng.normal(0, 1e-4, args.ticks)
    xs, ys = xs_array.tolist(), ys_array.tolist()
    result: dict[str, float | int] = {"ticks": args.ticks}
    for estimator in (OlsHedge(), RollingOlsHedge(500), EwmOlsHedge(500.0), KalmanHedge()):
        key = estimator.name.replace("-", "_") + "_update_ns"
        result[key] = _time_updates(estimator.update, xs, ys)
    stats = SpreadStats(window=500)
    result["rolling_zscore_update_ns"] = _time_updates(lambda x, _y: stats.update(x), xs, ys)
    stats = SpreadStats(halflife=500.0)
    result["ewm_zscore_update_ns"] = _time_updates(lambda x, _y: stats.update(x), xs, ys)

    a_mid = np.exp(ys_array) * 10_000
    b_mid = np.exp(xs_array) * 10_000
    tops = []
    for i in range(args.ticks):
        symbol, mid = ("A", a_mid[i]) if i % 2 else ("B", b_mid[i])
        tick = int(mid)
        tops.append(TopOfBook(symbol, i, tick - 100, 300, tick + 100, 500))
    model = PairModel("A", "B", KalmanHedge(), zscore_halflife=500.0)
    start = time.perf_counter_ns()
    for top in tops:
        model.on_top_of_book(top)
    result["pair_model_tick_ns"] = (time.perf_counter_ns() - start) / len(tops)
    print(json.dumps(result, indent=None if args.json else 1))
    return 0
