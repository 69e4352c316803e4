import numpy as np
import QuantLib as ql

from calarb.options.black import (
    black_greeks,
    black_price,
    black_scholes_greeks,
    black_scholes_price,
)


def test_black_matches_quantlib_black_formula():
    rng = np.random.default_rng(3)
    for _ in range(200):
        f, k = 100.0, float(rng.uniform(50, 150))
        t, vol, d = float(rng.uniform(0.01, 5)), float(rng.uniform(0.05, 1)), 0.97
        for is_call, kind in ((True, ql.Option.Call), (False, ql.Option.Put)):
            ours = float(black_price(f, k, t, vol, d, is_call))
            theirs = ql.blackFormula(kind, k, f, vol * np.sqrt(t), d)
            assert abs(ours - theirs) <= 1e-12 * max(1.0, theirs)


def test_put_call_parity_and_zero_vol():
    f, k, t, d = 100.0, np.array([80.0, 100.0, 120.0]), 0.5, 0.98
    call = black_price(f, k, t, 0.3, d, True)
    put = black_price(f, k, t, 0.3, d, False)
    np.testing.assert_allclose(call - put, d * (f - k), rtol=0, atol=1e-12)
    np.testing.assert_allclose(black_price(f, k, t, 0.0, d, True), d * np.maximum(f - k, 0))


def test_greeks_match_finite_differences():
    s, k, t, vol, r, q = 100.0, 110.0, 0.75, 0.25, 0.03, 0.01
    for is_call in (True, False):
        g = black_scholes_greeks(s, k, t, vol, r, q, is_call)

        def price(s=s, t=t, vol=vol, r=r, is_call=is_call):
            return float(black_scholes_price(s, k, t, vol, r, q, is_call))

        h = 1e-4
        assert abs(g["delta"] - (price(s=s + h) - price(s=s - h)) / (2 * h)) < 1e-7
        assert abs(g["gamma"] - (price(s=s + h) - 2 * price() + price(s=s - h)) / h**2) < 1e-4
        assert abs(g["vega"] - (price(vol=vol + h) - price(vol=vol - h)) / (2 * h)) < 1e-6
        assert abs(g["rho"] - (price(r=r + h) - price(r=r - h)) / (2 * h)) < 1e-6
        # theta: calendar time passing = time to expiry shrinking
        assert abs(g["theta"] + (price(t=t + h) - price(t=t - h)) / (2 * h)) < 1e-6
    g76 = black_greeks(100.0, 90.0, 1.0, 0.2, 0.95, True)
    bump = (
        black_price(100.01, 90.0, 1.0, 0.2, 0.95) - black_price(99.99, 90.0, 1.0, 0.2, 0.95)
    ) / 0.02
    assert abs(g76["delta"] - bump) < 1e-6


def test_greeks_at_expiry_take_their_limits_without_warnings():
    import warnings

    forward = np.array([100.0, 100.0, 100.0, 100.0, 100.0])
    strike = np.array([90.0, 100.0, 110.0, 110.0, 90.0])
    is_call = np.array([True, True, True, False, False])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NaN from 0/0 would warn
        spent = black_greeks(forward, strike, 0.0, 0.2, 0.9, is_call)
        flat = black_greeks(forward, strike, 0.5, 0.0, 0.9, is_call)
    for greeks in (spent, flat):
        np.testing.assert_allclose(greeks["delta"], [0.9, 0.45, 0.0, -0.9, 0.0])
        for name in ("gamma", "vega", "theta"):
            assert np.all(greeks[name] == 0.0), name
    # Just before expiry the greeks approach those limits (no jump at the boundary).
    near = black_greeks(forward, strike, 1e-10, 0.2, 0.9, is_call)
    np.testing.assert_allclose(near["delta"][[0, 2, 3, 4]], [0.9, 0.0, -0.9, 0.0], atol=1e-12)
