"""The scanner finds every violation planted in a generated chain and none in an arbitrage-free
one (property test), net of bid/ask and fees."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from calarb.options.arbitrage import ScanConfig, scan_chain
from calarb.options.chains import Chain

AS_OF = pd.Timestamp("2024-01-02").date()


def to_chain(frame: pd.DataFrame, spot: float | None = 100.0) -> Chain:
    expiration = pd.to_datetime(frame["expiration"]).to_numpy().astype("datetime64[D]")
    return Chain(
        source="generated",
        as_of=AS_OF,
        symbol=frame["contractSymbol"].to_numpy(dtype=object),
        is_call=(frame["option_type"] == "call").to_numpy(),
        strike=frame["strike"].to_numpy(float),
        bid=frame["bid"].to_numpy(float),
        ask=frame["ask"].to_numpy(float),
        expiration=expiration,
        time=(expiration - np.datetime64(AS_OF, "D")).astype(float) / 365.0,
        spot=spot,
    )


def row(frame, expiry_index, strike, option_type):
    expiry = sorted(frame["expiration"].unique())[expiry_index]
    hit = (
        (frame["expiration"] == expiry)
        & (frame["strike"] == strike)
        & (frame["option_type"] == option_type)
    )
    return frame.index[hit][0], expiry


def plant(frame: pd.DataFrame, kind: str, position: int, expiry_index: int, size: float):
    """Move one or two quotes so that a `kind` violation of edge about `size` per unit appears;
    returns the planted (kind, expiry, strike that must be among the violation's strikes)."""
    frame = frame.copy()
    strikes = sorted(frame["strike"].unique())
    k = strikes[position]
    if kind == "vertical":  # call at k bid above the ask of the call one strike lower
        i, expiry = row(frame, expiry_index, k, "call")
        j, _ = row(frame, expiry_index, strikes[position - 1], "call")
        frame.loc[i, "bid"] = frame.loc[j, "ask"] + size
        frame.loc[i, "ask"] = frame.loc[i, "bid"] + 0.05
    elif kind == "butterfly":  # put body above the average of its neighbours' asks
        i, expiry = row(frame, expiry_index, k, "put")
        lo, _ = row(frame, expiry_index, strikes[position - 1], "put")
        hi, _ = row(frame, expiry_index, strikes[position + 1], "put")
        frame.loc[i, "bid"] = 0.5 * (frame.loc[lo, "ask"] + frame.loc[hi, "ask"]) + size
        frame.loc[i, "ask"] = frame.loc[i, "bid"] + 0.05
    elif kind == "calendar":  # near call bid above the far call's ask
        i, expiry = row(frame, 0, k, "call")
        j, _ = row(frame, 1, k, "call")
        frame.loc[i, "bid"] = frame.loc[j, "ask"] + size
        frame.loc[i, "ask"] = frame.loc[i, "bid"] + 0.05
    elif kind == "box":  # a call offered far too cheap against its put and the next strike
        i, expiry = row(frame, expiry_index, k, "call")
        spreads = (
            frame.loc[frame["expiration"] == expiry, "ask"]
            - frame.loc[frame["expiration"] == expiry, "bid"]
        )
        frame.loc[i, "ask"] -= size + 2 * spreads.max()
        frame.loc[i, "bid"] = frame.loc[i, "ask"] - 0.01
    elif kind == "parity":  # a put bid far above parity with the call and the spot
        i, expiry = row(frame, expiry_index, k, "put")
        j, _ = row(frame, expiry_index, k, "call")
        frame.loc[i, "bid"] = frame.loc[j, "ask"] + k - 100.0 + size
        frame.loc[i, "ask"] = frame.loc[i, "bid"] + 0.05
    return frame, expiry, k


def test_arbitrage_free_chain_has_no_violation(make_chain_frame):
    assert scan_chain(to_chain(make_chain_frame())) == []


@settings(
    max_examples=30,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # no shrinking: each example is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    level=st.floats(0.1, 0.6),
    skew=st.floats(-0.3, 0.0),
    smile=st.floats(0.0, 0.5),
    half_spread=st.floats(0.005, 0.05),
    kind=st.sampled_from(["vertical", "butterfly", "calendar", "box", "parity"]),
    position=st.integers(1, 7),
    expiry_index=st.integers(0, 2),
    size=st.floats(0.05, 2.0),
    fee=st.floats(0.0, 1.0),
)
def test_scanner_finds_planted_violations_and_only_then(
    make_chain_frame, level, skew, smile, half_spread, kind, position, expiry_index, size, fee
):
    frame = make_chain_frame(level=level, skew=skew, smile=smile, half_spread=half_spread)
    config = ScanConfig(fee=fee, multiplier=100.0)
    assert scan_chain(to_chain(frame), config) == []
    planted, expiry, strike = plant(frame, kind, position, expiry_index, size)
    found = scan_chain(to_chain(planted), config)
    matches = [
        v
        for v in found
        if v["kind"] == kind and expiry in v["expirations"] and strike in v["strikes"]
    ]
    # the planted edge per contract is >= 100 * size less fees on at most 4 contracts (butterfly:
    # the quantities are 1-2-1 per unit here)
    if 100.0 * size > 4 * fee + 1e-9:
        assert matches, f"planted {kind} at {expiry} {strike} not found among {found[:3]}"
    for v in found:
        assert v["edge"] > 0
        assert v["legs"] and all(leg["side"] in ("buy", "sell") for leg in v["legs"])


def test_fees_are_charged_per_contract(make_chain_frame):
    planted, _, _ = plant(make_chain_frame(), "vertical", 4, 0, 0.05)
    free = scan_chain(to_chain(planted), ScanConfig(fee=0.0))
    fee = 2.0
    charged = scan_chain(to_chain(planted), ScanConfig(fee=fee))
    assert free

    def key(v):
        return (v["kind"], tuple(v["strikes"]), tuple(leg["side"] for leg in v["legs"]))

    after = {key(v): v["edge"] for v in charged if v["kind"] == "vertical"}
    for v in (v for v in free if v["kind"] == "vertical"):
        contracts = sum(
            leg["quantity"] for leg in v["legs"] if leg["contractSymbol"] != "UNDERLYING"
        )
        expected = v["edge"] - fee * contracts
        if expected > 1e-9:
            assert abs(after[key(v)] - expected) < 1e-9
        else:
            assert key(v) not in after
