"""Typed, immutable ITCH 5.0 messages, one class per message type.

Each class is a NamedTuple whose fields are the specification's field names in wire order,
starting with the common header (stock_locate, tracking_number, timestamp); the Message Type
letter is the class attribute `message_type`. Alpha fields are str without their space
padding; prices are integers in the field's own scale (Price(4): 1/10,000, Price(8):
1/100,000,000); timestamps are nanoseconds since midnight. Layouts live in
`calarb.itch.spec`; generated from it once, and a test checks the two agree.
"""

from __future__ import annotations

from typing import NamedTuple


class SystemEvent(NamedTuple):
    """ITCH 'S'."""

    message_type = "S"

    stock_locate: int
    tracking_number: int
    timestamp: int
    event_code: str


class StockDirectory(NamedTuple):
    """ITCH 'R'."""

    message_type = "R"

    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: str
    market_category: str
    financial_status_indicator: str
    round_lot_size: int
    round_lots_only: str
    issue_classification: str
    issue_sub_type: str
    authenticity: str
    short_sale_threshold_indicator: str
    ipo_flag: str
    luld_reference_price_tier: str
    etp_flag: str
    etp_leverage_factor: int
    inverse_indicator: str


class StockTradingAction(NamedTuple):
    """ITCH 'H'."""

    message_type = "H"

    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: str
    trading_state: str
    reserved: str
    reason: str


class RegShoRestriction(NamedTuple):
    """ITCH 'Y'."""

    message_type = "Y"

    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: str
    reg_sho_action: str


class MarketParticipantPosition(NamedTuple):
    """ITCH 'L'."""

    message_type = "L"

    stock_locate: int
    tracking_number: int
    timestamp: int
    mpid: str
    stock: str
    primary_market_maker: str
    market_maker_mode: str
    market_participant_state: str


class MwcbDeclineLevel(NamedTuple):
    """ITCH 'V'."""

    message_type = "V"

    stock_locate: int
    tracking_number: int
    timestamp: int
    level1: int
    level2: int
    level3: int


class MwcbStatus(NamedTuple):
    """ITCH 'W'."""

    message_type = "W"

    stock_locate: int
    tracking_number: int
    timestamp: int
    breached_level: str


class IpoQuotingPeriodUpdate(NamedTuple):
    """ITCH 'K'."""

    message_type = "K"

    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: str
    ipo_quotation_release_time: int
    ipo_quotation_release_qualifier: str
    ipo_price: int


class LuldAuctionCollar(NamedTuple):
    """ITCH 'J'."""

    message_type = "J"

    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: str
    auction_collar_reference_price: int
    upper_auction_collar_price: int
    lower_auction_collar_price: int
    auction_collar_extension: int


class OperationalHalt(NamedTuple):
    """ITCH 'h'."""

    message_type = "h"

    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: str
    market_code: str
    operational_halt_action: str


class AddOrder(NamedTuple):
    """ITCH 'A'."""

    message_type = "A"

    stock_locate: int
    tracking_number: int
    timestamp: int
    order_reference_number: int
    buy_sell_indicator: str
    shares: int
    stock: str
    price: int


class AddOrderMpid(NamedTuple):
    """ITCH 'F'."""

    message_type = "F"

    stock_locate: int
    tracking_number: int
    timestamp: int
    order_reference_number: int
    buy_sell_indicator: str
    shares: int
    stock: str
    price: int
    attribution: str


class OrderExecuted(NamedTuple):
    """ITCH 'E'."""

    message_type = "E"

    stock_locate: int
    tracking_number: int
    timestamp: int
    order_reference_number: int
    executed_shares: int
    match_number: int


class OrderExecutedWithPrice(NamedTuple):
    """ITCH 'C'."""

    message_type = "C"

    stock_locate: int
    tracking_number: int
    timestamp: int
    order_reference_number: int
    executed_shares: int
    match_number: int
    printable: str
    execution_price: int


class OrderCancel(NamedTuple):
    """ITCH 'X'."""

    message_type = "X"

    stock_locate: int
    tracking_number: int
    timestamp: int
    order_reference_number: int
    cancelled_shares: int


class OrderDelete(NamedTuple):
    """ITCH 'D'."""

    message_type = "D"

    stock_locate: int
    tracking_number: int
    timestamp: int
    order_reference_number: int


class OrderReplace(NamedTuple):
    """ITCH 'U'."""

    message_type = "U"

    stock_locate: int
    tracking_number: int
    timestamp: int
    original_order_reference_number: int
    new_order_reference_number: int
    shares: int
    price: int


class Trade(NamedTuple):
    """ITCH 'P'."""

    message_type = "P"

    stock_locate: int
    tracking_number: int
    timestamp: int
    order_reference_number: int
    buy_sell_indicator: str
    shares: int
    stock: str
    price: int
    match_number: int


class CrossTrade(NamedTuple):
    """ITCH 'Q'."""

    message_type = "Q"

    stock_locate: int
    tracking_number: int
    timestamp: int
    shares: int
    stock: str
    cross_price: int
    match_number: int
    cross_type: str


class BrokenTrade(NamedTuple):
    """ITCH 'B'."""

    message_type = "B"

    stock_locate: int
    tracking_number: int
    timestamp: int
    match_number: int


class NetOrderImbalanceIndicator(NamedTuple):
    """ITCH 'I'."""

    message_type = "I"

    stock_locate: int
    tracking_number: int
    timestamp: int
    paired_shares: int
    imbalance_shares: int
    imbalance_direction: str
    stock: str
    far_price: int
    near_price: int
    current_reference_price: int
    cross_type: str
    price_variation_indicator: str


class RetailPriceImprovementIndicator(NamedTuple):
    """ITCH 'N'."""

    message_type = "N"

    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: str
    interest_flag: str


class DirectListingCapitalRaisePriceDiscovery(NamedTuple):
    """ITCH 'O'."""

    message_type = "O"

    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: str
    open_eligibility_status: str
    minimum_allowable_price: int
    maximum_allowable_price: int
    near_execution_price: int
    near_execution_time: int
    lower_price_range_collar: int
    upper_price_range_collar: int


ItchMessage = (
    SystemEvent
    | StockDirectory
    | StockTradingAction
    | RegShoRestriction
    | MarketParticipantPosition
    | MwcbDeclineLevel
    | MwcbStatus
    | IpoQuotingPeriodUpdate
    | LuldAuctionCollar
    | OperationalHalt
    | AddOrder
    | AddOrderMpid
    | OrderExecuted
    | OrderExecutedWithPrice
    | OrderCancel
    | OrderDelete
    | OrderReplace
    | Trade
    | CrossTrade
    | BrokenTrade
    | NetOrderImbalanceIndicator
    | RetailPriceImprovementIndicator
    | DirectListingCapitalRaisePriceDiscovery
)

MESSAGE_CLASSES: dict[str, type[ItchMessage]] = {
    "S": SystemEvent,
    "R": StockDirectory,
    "H": StockTradingAction,
    "Y": RegShoRestriction,
    "L": MarketParticipantPosition,
    "V": MwcbDeclineLevel,
    "W": MwcbStatus,
    "K": IpoQuotingPeriodUpdate,
    "J": LuldAuctionCollar,
    "h": OperationalHalt,
    "A": AddOrder,
    "F": AddOrderMpid,
    "E": OrderExecuted,
    "C": OrderExecutedWithPrice,
    "X": OrderCancel,
    "D": OrderDelete,
    "U": OrderReplace,
    "P": Trade,
    "Q": CrossTrade,
    "B": BrokenTrade,
    "I": NetOrderImbalanceIndicator,
    "N": RetailPriceImprovementIndicator,
    "O": DirectListingCapitalRaisePriceDiscovery,
}
"""Message type letter -> class."""
