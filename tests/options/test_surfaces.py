"""SSVI fits (a 50-expiry, 10,000-quote surface; its time is a benchmark figure of
`calarb options bench`, not asserted here) and the no-arbitrage checks catching a surface that
has arbitrage."""

import numpy as np

from calarb.options.benchmark import ssvi_fit_seconds
from calarb.options.ssvi import fit_ssvi, ssvi_total_variance
from calarb.options.surface import arbitrage_report, check_grid
from calarb.options.svi import SviSlice


def test_ssvi_fits_50_expiries_10000_quotes():
    seconds, fit = ssvi_fit_seconds()
    print(f"SSVI fit of 10,000 quotes / 50 expiries: {seconds:.3f} s")
    assert fit["quotes"] == 10_000 and fit["arbitrage_free"]
    assert fit["rmse_vol_points"] < 0.3  # the surface's noise is 0.2 vol points
    assert abs(fit["parameters"]["rho"] + 0.6) < 0.02


def test_ssvi_recovers_its_parameters_and_is_arbitrage_free():
    t = np.repeat(np.linspace(0.1, 2.0, 6), 40)
    k = np.tile(np.linspace(-0.5, 0.3, 40), 6)
    w = ssvi_total_variance(k, 0.04 * t, -0.5, 1.2, 0.3)[0]
    fit = fit_ssvi(k, t, np.sqrt(w / t))
    assert fit.rmse_vol_points < 1e-4
    assert abs(fit.parameters["rho"] + 0.5) < 1e-4
    assert fit.arbitrage["arbitrage_free"]
    warm = fit_ssvi(k, t, np.sqrt(w / t), start=fit)
    assert warm.rmse_vol_points < 1e-4
    assert abs(warm.parameters["rho"] + 0.5) < 1e-4


def test_checks_flag_butterfly_and_calendar_arbitrage():
    grid = check_grid(np.array([-0.5, 0.5]))
    sound = SviSlice(a=0.02, b=0.1, rho=-0.3, m=0.0, sigma=0.2)
    assert arbitrage_report([sound.total_variance(grid)], grid)["arbitrage_free"]
    # b (1 + |rho|) far above 2: wings steeper than Lee's bound, g < 0
    steep = SviSlice(a=0.001, b=3.0, rho=-0.9, m=0.0, sigma=0.05)
    assert not arbitrage_report([steep.total_variance(grid)], grid)["arbitrage_free"]
    lower = SviSlice(a=0.01, b=0.1, rho=-0.3, m=0.0, sigma=0.2)
    report = arbitrage_report([sound.total_variance(grid), lower.total_variance(grid)], grid)
    assert report["min_calendar_increase"] < 0 and not report["arbitrage_free"]
