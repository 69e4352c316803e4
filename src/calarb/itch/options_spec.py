"""The Nasdaq Options Market "ITCH to Trade Options" (ITTO) 4.0 message layouts, as data.

ITTO is the options member of NASDAQ's ITCH family (the same layout is published as BX
Options Depth of Market); calarb's simulator publishes it over MoldUDP64 exactly as it
publishes TotalView-ITCH 5.0. Facts from the ITTO 4.0 specification: integers are big-endian
unsigned; alpha fields ASCII, left-justified, space-padded; long-form prices are Price(4)
(4 implied decimals, calarb's own integer scale), short-form prices Price(2) (2 implied
decimals, 2 bytes) and short-form sizes 2 bytes; timestamps are 6-byte nanoseconds since
midnight; options are named by a 4-byte Option ID that the Options Directory ('R') defines.

Every message starts with a 9-byte header: message_type (1), tracking_number (2),
timestamp (6) (no stock locate: the Option ID in the body does that job).

The table reuses `FieldSpec`/`MessageSpec` of `calarb.itch.spec` and the codec compiler of
`calarb.itch.codec`, so a layout is written once and decoded by the same machinery.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from calarb.itch.spec import MessageSpec, build_message_spec

HEADER = (
    ("message_type", 1, "alpha"),
    ("tracking_number", 2, "uint"),
    ("timestamp", 6, "timestamp"),
)
HEADER_LENGTH = 9

_LAYOUTS: dict[str, tuple[str, tuple[tuple[str, int, str], ...]]] = {
    # 4.1 System Event
    "S": ("SystemEvent", (("event_code", 1, "alpha"),)),
    # 4.2 Options Directory
    "R": ("OptionsDirectory", (
        ("option_id", 4, "uint"),
        ("security_symbol", 6, "alpha"),
        ("expiration_year", 1, "uint"),  # years after 2000
        ("expiration_month", 1, "uint"),
        ("expiration_date", 1, "uint"),
        ("explicit_strike_price", 4, "price4"),
        ("option_type", 1, "alpha"),  # 'C' call, 'P' put
        ("source", 1, "uint"),
        ("underlying_symbol", 13, "alpha"),
        ("options_closing_type", 1, "alpha"),  # 'N' normal, 'L' late
        ("tradable", 1, "alpha"),  # 'Y' / 'N'
        ("mpv", 1, "alpha"),  # 'E' penny everywhere, 'S' scaled, 'P' penny pilot
    )),
    # 4.3.1 Trading Action
    "H": ("TradingAction", (
        ("option_id", 4, "uint"),
        ("current_trading_state", 1, "alpha"),  # 'H' halt, 'T' trading, 'B', 'S' suspended
    )),
    # 4.3.2 Security Open / Closed
    "O": ("SecurityOpen", (("option_id", 4, "uint"), ("open_state", 1, "alpha"))),
    # 4.4.1 Add Order, short and long form
    "a": ("AddOrderShort", (
        ("order_reference_number", 8, "uint"),
        ("market_side", 1, "alpha"),
        ("option_id", 4, "uint"),
        ("price", 2, "price2"),
        ("volume", 2, "uint"),
    )),
    "A": ("AddOrderLong", (
        ("order_reference_number", 8, "uint"),
        ("market_side", 1, "alpha"),
        ("option_id", 4, "uint"),
        ("price", 4, "price4"),
        ("volume", 4, "uint"),
    )),
    # 4.4.2 Add Quote, short and long form
    "j": ("AddQuoteShort", (
        ("bid_reference_number", 8, "uint"),
        ("ask_reference_number", 8, "uint"),
        ("option_id", 4, "uint"),
        ("bid_price", 2, "price2"),
        ("bid_size", 2, "uint"),
        ("ask_price", 2, "price2"),
        ("ask_size", 2, "uint"),
    )),
    "J": ("AddQuoteLong", (
        ("bid_reference_number", 8, "uint"),
        ("ask_reference_number", 8, "uint"),
        ("option_id", 4, "uint"),
        ("bid_price", 4, "price4"),
        ("bid_size", 4, "uint"),
        ("ask_price", 4, "price4"),
        ("ask_size", 4, "uint"),
    )),
    # 4.5.1 Single Side Executed
    "E": ("SingleSideExecuted", (
        ("reference_number", 8, "uint"),
        ("executed_contracts", 4, "uint"),
        ("cross_number", 4, "uint"),
        ("match_number", 4, "uint"),
    )),
    # 4.5.2 Single Side Executed with Price
    "C": ("SingleSideExecutedWithPrice", (
        ("reference_number", 8, "uint"),
        ("cross_number", 4, "uint"),
        ("match_number", 4, "uint"),
        ("printable", 1, "alpha"),
        ("price", 4, "price4"),
        ("volume", 4, "uint"),
    )),
    # 4.5.3 Order Cancel
    "X": ("OrderCancel", (
        ("order_reference_number", 8, "uint"),
        ("cancelled_contracts", 4, "uint"),
    )),
    # 4.5.4 Single Side Replace, short and long form
    "u": ("SingleSideReplaceShort", (
        ("original_reference_number", 8, "uint"),
        ("new_reference_number", 8, "uint"),
        ("price", 2, "price2"),
        ("volume", 2, "uint"),
    )),
    "U": ("SingleSideReplaceLong", (
        ("original_reference_number", 8, "uint"),
        ("new_reference_number", 8, "uint"),
        ("price", 4, "price4"),
        ("volume", 4, "uint"),
    )),
    # 4.5.5 Single Side Delete
    "D": ("SingleSideDelete", (("reference_number", 8, "uint"),)),
    # 4.5.6 Single Side Update
    "G": ("SingleSideUpdate", (
        ("reference_number", 8, "uint"),
        ("reason", 1, "alpha"),  # 'U' user, 'R' reprice, 'S' suspend
        ("price", 4, "price4"),
        ("volume", 4, "uint"),
    )),
    # 4.5.7 Quote Replace, short and long form
    "k": ("QuoteReplaceShort", (
        ("original_bid_reference_number", 8, "uint"),
        ("bid_reference_number", 8, "uint"),
        ("original_ask_reference_number", 8, "uint"),
        ("ask_reference_number", 8, "uint"),
        ("bid_price", 2, "price2"),
        ("bid_size", 2, "uint"),
        ("ask_price", 2, "price2"),
        ("ask_size", 2, "uint"),
    )),
    "K": ("QuoteReplaceLong", (
        ("original_bid_reference_number", 8, "uint"),
        ("bid_reference_number", 8, "uint"),
        ("original_ask_reference_number", 8, "uint"),
        ("ask_reference_number", 8, "uint"),
        ("bid_price", 4, "price4"),
        ("bid_size", 4, "uint"),
        ("ask_price", 4, "price4"),
        ("ask_size", 4, "uint"),
    )),
    # 4.5.8 Quote Delete
    "Y": ("QuoteDelete", (
        ("bid_reference_number", 8, "uint"),
        ("ask_reference_number", 8, "uint"),
    )),
    # 4.6.1 Options Trade (non-auction)
    "P": ("OptionsTrade", (
        ("buy_sell_indicator", 1, "alpha"),
        ("option_id", 4, "uint"),
        ("cross_number", 4, "uint"),
        ("match_number", 4, "uint"),
        ("price", 4, "price4"),
        ("volume", 4, "uint"),
    )),
    # 4.6.2 Options Cross Trade
    "Q": ("OptionsCrossTrade", (
        ("option_id", 4, "uint"),
        ("cross_number", 4, "uint"),
        ("match_number", 4, "uint"),
        ("cross_type", 1, "alpha"),
        ("price", 4, "price4"),
        ("volume", 4, "uint"),
    )),
    # 4.6.3 Broken Trade / Order Execution
    "B": ("BrokenTrade", (("cross_number", 4, "uint"), ("match_number", 4, "uint"))),
    # 4.7 Net Order Imbalance Indicator
    "I": ("NetOrderImbalanceIndicator", (
        ("auction_id", 4, "uint"),
        ("auction_type", 1, "alpha"),
        ("paired_contracts", 4, "uint"),
        ("imbalance_direction", 1, "alpha"),
        ("option_id", 4, "uint"),
        ("imbalance_price", 4, "price4"),
        ("imbalance_volume", 4, "uint"),
        ("customer_firm_indicator", 1, "alpha"),
        ("reserved", 3, "alpha"),
    )),
}


OPTIONS_MESSAGE_SPECS: dict[str, MessageSpec] = {
    code: build_message_spec(code, name, HEADER, body) for code, (name, body) in _LAYOUTS.items()
}
"""ITTO message type letter -> layout."""

OPTIONS_MESSAGE_LENGTHS: dict[str, int] = {
    code: spec.length for code, spec in OPTIONS_MESSAGE_SPECS.items()
}

# The specification's message lengths; a check at import keeps the table honest.
_EXPECTED_LENGTHS = {
    "S": 10, "R": 44, "H": 14, "O": 14, "a": 26, "A": 30, "j": 37, "J": 45, "E": 29,
    "C": 34, "X": 21, "u": 29, "U": 33, "D": 17, "G": 26, "k": 49, "K": 57, "Y": 25,
    "P": 30, "Q": 30, "B": 17, "I": 35,
}
assert OPTIONS_MESSAGE_LENGTHS == _EXPECTED_LENGTHS, "ITTO layout table disagrees with the spec"


def _message_class(spec: MessageSpec) -> type:
    """A NamedTuple whose fields are the layout's (after the type letter), in wire order; the
    type letter is the class attribute `message_type`."""
    types: list[tuple[str, Any]] = [
        (f.name, str if f.kind == "alpha" else int) for f in spec.fields[1:]
    ]
    cls = NamedTuple(spec.name, types)  # type: ignore[misc]
    cls.message_type = spec.type_code  # type: ignore[attr-defined]
    cls.__doc__ = f"ITTO 4.0 '{spec.type_code}' ({spec.name})."
    cls.__module__ = "calarb.itch.options_messages"
    return cls


OPTIONS_MESSAGE_CLASSES: dict[str, type] = {
    code: _message_class(spec) for code, spec in OPTIONS_MESSAGE_SPECS.items()
}
"""ITTO message type letter -> its NamedTuple class."""

# System event codes (4.1).
START_OF_MESSAGES = "O"
START_OF_SYSTEM_HOURS = "S"
START_OF_OPENING_PROCESS = "Q"
END_OF_NORMAL_HOURS = "N"
END_OF_LATE_HOURS = "L"
END_OF_SYSTEM_HOURS = "E"
END_OF_MESSAGES = "C"
