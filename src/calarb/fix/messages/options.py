"""Option order entry: NewOrderSingle (D) with the instrument block of an option (FIX 4.4).

An option order names its contract twice, as US options venues take it: Symbol (55) is the
OCC (OSI) symbol, the key every later message (F, G, H, ExecutionReport) repeats, and the
Instrument component spells the contract out: SecurityType (167) = OPT, MaturityMonthYear
(200, YYYYMM), PutOrCall (201: 0 put, 1 call), StrikePrice (202) and MaturityDate (541,
YYYYMMDD). A venue reads the block with `option_contract_from_fix`, which checks that it
agrees with the symbol and raises `MessageRejected` naming the tag otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from calarb.core.option_contract import OptionContract, option_contract_of, parse_occ_symbol
from calarb.core.types import Side
from calarb.fix.codec import FixMessage
from calarb.fix.errors import MessageRejected
from calarb.fix.errors import SessionRejectReason as R
from calarb.fix.messages.fields import encode_fields, format_price, parse_price
from calarb.fix.messages.orders import NewOrderSingle

SECURITY_TYPE_OPTION = "OPT"
PUT_OR_CALL = {"P": "0", "C": "1"}
_RIGHTS = {b"0": "P", b"1": "C"}

_OPTION_FIELDS = (
    ("security_type", 167, "str", True),
    ("maturity_month_year", 200, "str", False),
    ("put_or_call", 201, "int", True),
    ("strike_price", 202, "price", True),
    ("maturity_date", 541, "str", True),
)


class OptionNewOrderSingle(NamedTuple):
    """A NewOrderSingle for one option contract (`symbol`: its OCC symbol)."""

    cl_ord_id: str
    symbol: str
    side: Side
    order_qty: int
    ord_type: str
    transact_time_ns: int
    price: int | None
    time_in_force: str | None
    security_type: str
    maturity_month_year: str
    put_or_call: int
    strike_price: int
    maturity_date: str
    account: str | None = None
    handl_inst: str | None = "1"
    msg_type = b"D"
    FIELDS = tuple(sorted(NewOrderSingle.FIELDS + _OPTION_FIELDS, key=lambda f: f[1]))


def option_order(
    cl_ord_id: str, contract: OptionContract, side: Side, quantity: int, price: int | None,
    transact_time_ns: int, time_in_force: str = "0",
) -> OptionNewOrderSingle:  # fmt: skip
    """The NewOrderSingle for `quantity` contracts (limit at `price`, market when None)."""
    return OptionNewOrderSingle(
        cl_ord_id, contract.symbol, side, quantity, "1" if price is None else "2",
        transact_time_ns, price, time_in_force, SECURITY_TYPE_OPTION,
        f"{contract.expiry:%Y%m}", int(PUT_OR_CALL[contract.right]), contract.strike,
        f"{contract.expiry:%Y%m%d}",
    )  # fmt: skip


def encode_option_order(message: OptionNewOrderSingle) -> bytes:
    """The body of an option NewOrderSingle."""
    return encode_fields(message, OptionNewOrderSingle.FIELDS)


def instrument_fields(symbol: str) -> bytes:
    """The option instrument block (167, 200, 201, 202, 541) for an order on `symbol` when
    it is an OCC option symbol, else b"" (an equity). Asked once per symbol by the engine's
    `FixOrderGateway`, which appends it to the NewOrderSingle body."""
    contract = option_contract_of(symbol)
    if contract is None:
        return b""
    return (
        b"167=%s\x01200=%s\x01201=%s\x01202=%s\x01541=%s\x01"
        % (
            SECURITY_TYPE_OPTION.encode(), f"{contract.expiry:%Y%m}".encode(),
            PUT_OR_CALL[contract.right].encode(), format_price(contract.strike),
            f"{contract.expiry:%Y%m%d}".encode(),
        )
    )  # fmt: skip


def option_contract_from_fix(message: FixMessage) -> OptionContract | None:
    """The option an order-entry message names, or None when it has no SecurityType (167)
    OPT. MessageRejected names the tag of a missing, malformed or disagreeing field."""
    fields = message.by_text
    security_type = fields.get(b"167")
    if security_type is None:
        return None
    if security_type != SECURITY_TYPE_OPTION.encode():
        raise MessageRejected(
            R.VALUE_IS_INCORRECT, 167, f"SecurityType {security_type!r} is not OPT"
        )
    symbol = _required(fields, 55).decode("latin-1")
    try:
        named = parse_occ_symbol(symbol)
    except ValueError as exc:
        raise MessageRejected(R.VALUE_IS_INCORRECT, 55, str(exc)) from None
    right = _RIGHTS.get(_required(fields, 201))
    if right is None:
        raise MessageRejected(R.VALUE_IS_INCORRECT, 201, "PutOrCall is neither 0 nor 1")
    try:
        strike = parse_price(_required(fields, 202))
    except ValueError as exc:
        raise MessageRejected(R.INCORRECT_DATA_FORMAT, 202, str(exc)) from None
    maturity = _required(fields, 541)
    try:
        if len(maturity) != 8 or not maturity.isdigit():
            raise ValueError
        expiry = dt.date(int(maturity[:4]), int(maturity[4:6]), int(maturity[6:]))
    except ValueError:
        raise MessageRejected(
            R.INCORRECT_DATA_FORMAT, 541, f"MaturityDate {maturity!r} is not YYYYMMDD"
        ) from None
    month_year = fields.get(b"200")
    if month_year is not None and month_year != f"{expiry:%Y%m}".encode():
        raise MessageRejected(
            R.VALUE_IS_INCORRECT, 200, "MaturityMonthYear disagrees with MaturityDate"
        )
    for tag, value, wanted in (
        (201, right, named.right),
        (202, strike, named.strike),
        (541, expiry, named.expiry),
    ):
        if value != wanted:
            raise MessageRejected(
                R.VALUE_IS_INCORRECT, tag, f"disagrees with the OCC symbol {symbol!r}"
            )
    return named


def _required(fields: dict[bytes, bytes], tag: int) -> bytes:
    value = fields.get(b"%d" % tag)
    if not value:
        raise MessageRejected(R.REQUIRED_TAG_MISSING, tag)
    return value
