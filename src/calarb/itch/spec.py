"""The TotalView-ITCH 5.0 message layouts, as data.

One table drives every codec in calarb (streaming decode, encode, bulk NumPy decode,
Parquet export), so a layout is written once. Facts are from NASDAQ's "TotalView-ITCH 5.0"
specification: all integers are big-endian unsigned; alpha fields are ASCII, left-justified
and space-padded; Price(4) has 4 implied decimals, Price(8) has 8; timestamps are 6-byte
nanoseconds since midnight.

Every message starts with the same 11-byte header:
message_type (1), stock_locate (2), tracking_number (2), timestamp (6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["alpha", "uint", "timestamp", "price2", "price4", "price8"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str  # snake_case of the specification's field name
    size: int  # bytes on the wire
    kind: FieldKind
    offset: int = 0  # from the start of the message (filled in by MessageSpec)


@dataclass(frozen=True, slots=True)
class MessageSpec:
    type_code: str  # the one-letter Message Type
    name: str  # CamelCase of the specification's message name
    fields: tuple[FieldSpec, ...]  # including the common header
    length: int  # bytes of the whole message (without any file/packet length prefix)


HEADER = (
    ("message_type", 1, "alpha"),
    ("stock_locate", 2, "uint"),
    ("tracking_number", 2, "uint"),
    ("timestamp", 6, "timestamp"),
)
HEADER_LENGTH = 11

_LAYOUTS: dict[str, tuple[str, tuple[tuple[str, int, str], ...]]] = {
    # 1.1 System Event
    "S": ("SystemEvent", (("event_code", 1, "alpha"),)),
    # 1.2.1 Stock Directory
    "R": ("StockDirectory", (
        ("stock", 8, "alpha"),
        ("market_category", 1, "alpha"),
        ("financial_status_indicator", 1, "alpha"),
        ("round_lot_size", 4, "uint"),
        ("round_lots_only", 1, "alpha"),
        ("issue_classification", 1, "alpha"),
        ("issue_sub_type", 2, "alpha"),
        ("authenticity", 1, "alpha"),
        ("short_sale_threshold_indicator", 1, "alpha"),
        ("ipo_flag", 1, "alpha"),
        ("luld_reference_price_tier", 1, "alpha"),
        ("etp_flag", 1, "alpha"),
        ("etp_leverage_factor", 4, "uint"),
        ("inverse_indicator", 1, "alpha"),
    )),
    # 1.2.2 Stock Trading Action
    "H": ("StockTradingAction", (
        ("stock", 8, "alpha"),
        ("trading_state", 1, "alpha"),
        ("reserved", 1, "alpha"),
        ("reason", 4, "alpha"),
    )),
    # 1.2.3 Reg SHO Short Sale Price Test Restricted Indicator
    "Y": ("RegShoRestriction", (
        ("stock", 8, "alpha"),
        ("reg_sho_action", 1, "alpha"),
    )),
    # 1.2.4 Market Participant Position
    "L": ("MarketParticipantPosition", (
        ("mpid", 4, "alpha"),
        ("stock", 8, "alpha"),
        ("primary_market_maker", 1, "alpha"),
        ("market_maker_mode", 1, "alpha"),
        ("market_participant_state", 1, "alpha"),
    )),
    # 1.2.5.1 MWCB Decline Level
    "V": ("MwcbDeclineLevel", (
        ("level1", 8, "price8"),
        ("level2", 8, "price8"),
        ("level3", 8, "price8"),
    )),
    # 1.2.5.2 MWCB Status
    "W": ("MwcbStatus", (("breached_level", 1, "alpha"),)),
    # 1.2.6 IPO Quoting Period Update
    "K": ("IpoQuotingPeriodUpdate", (
        ("stock", 8, "alpha"),
        ("ipo_quotation_release_time", 4, "uint"),
        ("ipo_quotation_release_qualifier", 1, "alpha"),
        ("ipo_price", 4, "price4"),
    )),
    # 1.2.7 LULD Auction Collar
    "J": ("LuldAuctionCollar", (
        ("stock", 8, "alpha"),
        ("auction_collar_reference_price", 4, "price4"),
        ("upper_auction_collar_price", 4, "price4"),
        ("lower_auction_collar_price", 4, "price4"),
        ("auction_collar_extension", 4, "uint"),
    )),
    # 1.2.8 Operational Halt
    "h": ("OperationalHalt", (
        ("stock", 8, "alpha"),
        ("market_code", 1, "alpha"),
        ("operational_halt_action", 1, "alpha"),
    )),
    # 1.3.1 Add Order - No MPID Attribution
    "A": ("AddOrder", (
        ("order_reference_number", 8, "uint"),
        ("buy_sell_indicator", 1, "alpha"),
        ("shares", 4, "uint"),
        ("stock", 8, "alpha"),
        ("price", 4, "price4"),
    )),
    # 1.3.2 Add Order with MPID Attribution
    "F": ("AddOrderMpid", (
        ("order_reference_number", 8, "uint"),
        ("buy_sell_indicator", 1, "alpha"),
        ("shares", 4, "uint"),
        ("stock", 8, "alpha"),
        ("price", 4, "price4"),
        ("attribution", 4, "alpha"),
    )),
    # 1.4.1 Order Executed
    "E": ("OrderExecuted", (
        ("order_reference_number", 8, "uint"),
        ("executed_shares", 4, "uint"),
        ("match_number", 8, "uint"),
    )),
    # 1.4.2 Order Executed With Price
    "C": ("OrderExecutedWithPrice", (
        ("order_reference_number", 8, "uint"),
        ("executed_shares", 4, "uint"),
        ("match_number", 8, "uint"),
        ("printable", 1, "alpha"),
        ("execution_price", 4, "price4"),
    )),
    # 1.4.3 Order Cancel
    "X": ("OrderCancel", (
        ("order_reference_number", 8, "uint"),
        ("cancelled_shares", 4, "uint"),
    )),
    # 1.4.4 Order Delete
    "D": ("OrderDelete", (("order_reference_number", 8, "uint"),)),
    # 1.4.5 Order Replace
    "U": ("OrderReplace", (
        ("original_order_reference_number", 8, "uint"),
        ("new_order_reference_number", 8, "uint"),
        ("shares", 4, "uint"),
        ("price", 4, "price4"),
    )),
    # 1.5.1 Trade Message (Non-Cross)
    "P": ("Trade", (
        ("order_reference_number", 8, "uint"),
        ("buy_sell_indicator", 1, "alpha"),
        ("shares", 4, "uint"),
        ("stock", 8, "alpha"),
        ("price", 4, "price4"),
        ("match_number", 8, "uint"),
    )),
    # 1.5.2 Cross Trade
    "Q": ("CrossTrade", (
        ("shares", 8, "uint"),
        ("stock", 8, "alpha"),
        ("cross_price", 4, "price4"),
        ("match_number", 8, "uint"),
        ("cross_type", 1, "alpha"),
    )),
    # 1.5.3 Broken Trade / Order Execution
    "B": ("BrokenTrade", (("match_number", 8, "uint"),)),
    # 1.6 Net Order Imbalance Indicator (NOII)
    "I": ("NetOrderImbalanceIndicator", (
        ("paired_shares", 8, "uint"),
        ("imbalance_shares", 8, "uint"),
        ("imbalance_direction", 1, "alpha"),
        ("stock", 8, "alpha"),
        ("far_price", 4, "price4"),
        ("near_price", 4, "price4"),
        ("current_reference_price", 4, "price4"),
        ("cross_type", 1, "alpha"),
        ("price_variation_indicator", 1, "alpha"),
    )),
    # 1.7 Retail Price Improvement Indicator (RPII)
    "N": ("RetailPriceImprovementIndicator", (
        ("stock", 8, "alpha"),
        ("interest_flag", 1, "alpha"),
    )),
    # 1.8 Direct Listing with Capital Raise Price Discovery
    "O": ("DirectListingCapitalRaisePriceDiscovery", (
        ("stock", 8, "alpha"),
        ("open_eligibility_status", 1, "alpha"),
        ("minimum_allowable_price", 4, "price4"),
        ("maximum_allowable_price", 4, "price4"),
        ("near_execution_price", 4, "price4"),
        ("near_execution_time", 8, "uint"),
        ("lower_price_range_collar", 4, "price4"),
        ("upper_price_range_collar", 4, "price4"),
    )),
}


def build_message_spec(
    type_code: str,
    name: str,
    header: tuple[tuple[str, int, str], ...],
    body: tuple[tuple[str, int, str], ...],
) -> MessageSpec:
    """A message's layout from its (name, size, kind) fields, the protocol's header first
    (ITCH 5.0 here; ITTO in calarb.itch.options_spec), with each field's offset."""
    fields = []
    offset = 0
    for fname, size, kind in header + body:
        fields.append(FieldSpec(fname, size, kind, offset))  # type: ignore[arg-type]
        offset += size
    return MessageSpec(type_code, name, tuple(fields), offset)


MESSAGE_SPECS: dict[str, MessageSpec] = {
    code: build_message_spec(code, name, HEADER, body) for code, (name, body) in _LAYOUTS.items()
}
"""Message type letter -> layout, in the order the specification lists them."""

MESSAGE_LENGTHS: dict[str, int] = {code: spec.length for code, spec in MESSAGE_SPECS.items()}
"""Message type letter -> length in bytes (without a length prefix)."""

# Facts the specification fixes; a check at import keeps the table honest.
_EXPECTED_LENGTHS = {
    "S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28, "J": 35,
    "h": 21, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44,
    "Q": 40, "B": 19, "I": 50, "N": 20, "O": 48,
}
assert MESSAGE_LENGTHS == _EXPECTED_LENGTHS, "ITCH layout table disagrees with the spec lengths"

ORDER_MESSAGE_TYPES = frozenset("AFECXDU")
"""Messages that change the displayed (L3) book."""
