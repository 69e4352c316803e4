"""FIX option order entry: the instrument block (167/200/201/202/541) as bytes, read back by
a venue, and each bad field refused naming its tag."""

from __future__ import annotations

import datetime as dt

import pytest

from calarb.core.option_contract import OptionContract
from calarb.core.types import Side
from calarb.fix.codec import decode, frame
from calarb.fix.errors import MessageRejected
from calarb.fix.messages import decode_order_request
from calarb.fix.messages.options import (
    encode_option_order,
    instrument_fields,
    option_contract_from_fix,
    option_order,
)
from calarb.fix.messages.orders import encode_new_order_single

CONTRACT = OptionContract("SYNTH", dt.date(2026, 2, 4), "P", 955_000)
T = 1_767_605_400_000_000_000


def message(body: bytes):
    header = b"35=D\x0149=CALARB\x0156=V1\x0134=2\x0152=20260105-14:30:00.000\x01"
    return decode(frame(b"FIX.4.4", header + body))


def test_option_order_bytes_and_the_venue_reading_them():
    body = encode_option_order(option_order("o1", CONTRACT, Side.BUY, 5, 12_300, T, "3"))
    assert body == (
        b"11=o1\x0121=1\x0138=5\x0140=2\x0144=1.23\x0154=1\x0155=SYNTH 260204P00095500\x01"
        b"59=3\x0160=20260105-09:30:00.000\x01167=OPT\x01200=202602\x01201=0\x01"
        b"202=95.5\x01541=20260204\x01"
    )
    received = message(body)
    assert option_contract_from_fix(received) == CONTRACT
    request = decode_order_request(received)
    assert (request.symbol, request.order_qty, request.price, request.time_in_force) == (
        CONTRACT.symbol,
        5,
        12_300,
        "3",
    )


@pytest.mark.parametrize(
    ("old", "new", "tag"),
    [
        (b"201=0", b"201=1", 201),  # a call where the symbol says put
        (b"201=0", b"201=7", 201),
        (b"202=95.5", b"202=95.x", 202),
        (b"202=95.5", b"202=96", 202),
        (b"541=20260204", b"541=2026024", 541),
        (b"200=202602", b"200=202603", 200),
        (b"167=OPT", b"167=CS", 167),
        (b"55=SYNTH 260204P00095500", b"55=SYNTH", 55),
        (b"541=20260204\x01", b"", 541),
    ],
)
def test_bad_option_fields_are_refused_naming_the_tag(old, new, tag):
    body = encode_option_order(option_order("o1", CONTRACT, Side.BUY, 5, 12_300, T))
    assert old in body
    with pytest.raises(MessageRejected) as info:
        option_contract_from_fix(message(body.replace(old, new)))
    assert info.value.tag == tag


def test_an_equity_order_has_no_option_block():
    assert (
        option_contract_from_fix(message(b"11=e1\x0138=100\x0140=1\x0154=1\x0155=AAA\x01")) is None
    )


def test_instrument_fields_by_symbol_for_the_engines_gateway():
    """What the engine's FixOrderGateway appends to a NewOrderSingle: the block for an OCC
    symbol (read back by the venue as the same contract), nothing for anything else."""
    block = instrument_fields(CONTRACT.symbol)
    assert block == b"167=OPT\x01200=202602\x01201=0\x01202=95.5\x01541=20260204\x01"
    body = encode_new_order_single(
        b"o1", CONTRACT.symbol.encode(), Side.BUY, 5, 12_300, b"20260105-09:30:00.000", b"3"
    )
    assert option_contract_from_fix(message(body + block)) == CONTRACT
    assert instrument_fields("AAA") == b""
    assert instrument_fields("SYNTH 260204X00095500") == b""  # OCC length, not an option
    assert instrument_fields("SYNTH 261304P00095500") == b""  # month 13
