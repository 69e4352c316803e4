"""ITTO 4.0 messages -> option listings, top-of-book changes and trades (sans-I/O).

`OptionsQuoteBook.on_message` takes one decoded ITTO message (`calarb.itch.options_codec`)
and returns the events it causes: an `OptionListed` for each Options Directory, a
`TopOfBook` (symbol: the OCC symbol) whenever an option's best bid or offer changes, and a
`TradeEvent` for each execution or trade. Orders and quote sides are tracked by reference
number (a quote is two references, one per side), with aggregated size per price level, so
the best levels are exact. Prices come out in calarb's 1/10,000 scale (short-form Price(2)
fields are scaled up). A message naming an unknown option or reference raises
`OptionsBookError` naming the message type, the field and the value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from calarb.core.events import TopOfBook, TradeEvent
from calarb.core.option_contract import OptionContract

PRICE2_TO_PRICE4 = 100


class OptionListed(NamedTuple):
    option_id: int
    contract: OptionContract
    tradable: bool


class OptionsBookError(ValueError):
    """The feed refers to something the book never saw (an Option ID or a reference)."""


class _Side:
    """One side of one option: size per price and the best price."""

    __slots__ = ("levels", "is_bid")

    def __init__(self, is_bid: bool) -> None:
        self.levels: dict[int, int] = {}
        self.is_bid = is_bid

    def add(self, price: int, size: int) -> None:
        self.levels[price] = self.levels.get(price, 0) + size

    def remove(self, price: int, size: int) -> None:
        left = self.levels[price] - size
        if left > 0:
            self.levels[price] = left
        else:
            del self.levels[price]

    def best(self) -> tuple[int, int]:
        if not self.levels:
            return 0, 0
        price = max(self.levels) if self.is_bid else min(self.levels)
        return price, self.levels[price]


class OptionsQuoteBook:
    """Top of book per option from an ITTO message stream."""

    def __init__(self) -> None:
        self.contracts: dict[int, OptionContract] = {}
        self.symbols: dict[int, str] = {}
        self._sides: dict[int, tuple[_Side, _Side]] = {}
        # reference -> [option_id, is_bid, price (1/10,000), size]
        self._orders: dict[int, list[Any]] = {}
        self._tops: dict[int, TopOfBook] = {}

    def contracts_by_symbol(self) -> dict[str, OptionContract]:
        return {contract.symbol: contract for contract in self.contracts.values()}

    def top(self, option_id: int) -> TopOfBook | None:
        return self._tops.get(option_id)

    def on_message(self, m: Any) -> list[Any]:
        handler = _HANDLERS.get(m.message_type)
        return handler(self, m) if handler is not None else []

    # -- directory ------------------------------------------------------------------------
    def _directory(self, m: Any) -> list[Any]:
        contract = OptionContract(
            m.security_symbol,
            dt.date(2000 + m.expiration_year, m.expiration_month, m.expiration_date),
            m.option_type,
            m.explicit_strike_price,
        )
        self.contracts[m.option_id] = contract
        self.symbols[m.option_id] = contract.symbol
        self._sides[m.option_id] = (_Side(True), _Side(False))
        return [OptionListed(m.option_id, contract, m.tradable == "Y")]

    # -- orders and quotes ----------------------------------------------------------------
    def _add(
        self, option_id: int, reference: int, is_bid: bool, price: int, size: int, what: str
    ) -> None:
        sides = self._sides.get(option_id)
        if sides is None:
            raise OptionsBookError(f"ITTO {what}: unknown option_id {option_id}")
        if reference in self._orders:
            raise OptionsBookError(f"ITTO {what}: reference {reference} is already live")
        self._orders[reference] = [option_id, is_bid, price, size]
        sides[0 if is_bid else 1].add(price, size)

    def _remove(self, reference: int, size: int | None, what: str) -> int:
        order = self._orders.get(reference)
        if order is None:
            raise OptionsBookError(f"ITTO {what}: unknown reference {reference}")
        option_id, is_bid, price, live = order
        taken = live if size is None else min(size, live)
        self._sides[option_id][0 if is_bid else 1].remove(price, taken)
        if taken == live:
            del self._orders[reference]
        else:
            order[3] = live - taken
        return option_id

    def _add_order(self, m: Any, scale: int) -> list[Any]:
        self._add(
            m.option_id,
            m.order_reference_number,
            m.market_side == "B",
            m.price * scale,
            m.volume,
            m.message_type,
        )
        return self._changed(m.option_id, m.timestamp)

    def _add_quote(self, m: Any, scale: int) -> list[Any]:
        what = m.message_type
        self._add(m.option_id, m.bid_reference_number, True, m.bid_price * scale, m.bid_size, what)
        self._add(m.option_id, m.ask_reference_number, False, m.ask_price * scale, m.ask_size, what)
        return self._changed(m.option_id, m.timestamp)

    def _replace(self, m: Any, scale: int) -> list[Any]:
        order = self._orders.get(m.original_reference_number)
        if order is None:
            raise OptionsBookError(
                f"ITTO {m.message_type}: unknown reference {m.original_reference_number}"
            )
        option_id, is_bid = order[0], order[1]
        self._remove(m.original_reference_number, None, m.message_type)
        self._add(
            option_id, m.new_reference_number, is_bid, m.price * scale, m.volume, m.message_type
        )
        return self._changed(option_id, m.timestamp)

    def _quote_replace(self, m: Any, scale: int) -> list[Any]:
        what = m.message_type
        option_id = self._remove(m.original_bid_reference_number, None, what)
        self._remove(m.original_ask_reference_number, None, what)
        self._add(option_id, m.bid_reference_number, True, m.bid_price * scale, m.bid_size, what)
        self._add(option_id, m.ask_reference_number, False, m.ask_price * scale, m.ask_size, what)
        return self._changed(option_id, m.timestamp)

    def _update(self, m: Any) -> list[Any]:
        order = self._orders.get(m.reference_number)
        if order is None:
            raise OptionsBookError(f"ITTO G: unknown reference {m.reference_number}")
        option_id, is_bid = order[0], order[1]
        self._remove(m.reference_number, None, "G")
        self._add(option_id, m.reference_number, is_bid, m.price, m.volume, "G")
        return self._changed(option_id, m.timestamp)

    def _delete(self, m: Any) -> list[Any]:
        option_id = self._remove(m.reference_number, None, "D")
        return self._changed(option_id, m.timestamp)

    def _quote_delete(self, m: Any) -> list[Any]:
        option_id = self._remove(m.bid_reference_number, None, "Y")
        self._remove(m.ask_reference_number, None, "Y")
        return self._changed(option_id, m.timestamp)

    def _cancel(self, m: Any) -> list[Any]:
        option_id = self._remove(m.order_reference_number, m.cancelled_contracts, "X")
        return self._changed(option_id, m.timestamp)

    def _executed(self, m: Any) -> list[Any]:
        order = self._orders.get(m.reference_number)
        if order is None:
            raise OptionsBookError(f"ITTO E: unknown reference {m.reference_number}")
        price, is_bid = order[2], order[1]
        option_id = self._remove(m.reference_number, m.executed_contracts, "E")
        trade = TradeEvent(
            self.symbols[option_id],
            m.timestamp,
            price,
            m.executed_contracts,
            m.match_number,
            not is_bid,
        )
        return [trade, *self._changed(option_id, m.timestamp)]

    def _executed_with_price(self, m: Any) -> list[Any]:
        order = self._orders.get(m.reference_number)
        if order is None:
            raise OptionsBookError(f"ITTO C: unknown reference {m.reference_number}")
        is_bid = order[1]
        option_id = self._remove(m.reference_number, m.volume, "C")
        trade = TradeEvent(
            self.symbols[option_id], m.timestamp, m.price, m.volume, m.match_number, not is_bid
        )
        return [trade, *self._changed(option_id, m.timestamp)]

    def _trade(self, m: Any) -> list[Any]:
        symbol = self.symbols.get(m.option_id)
        if symbol is None:
            raise OptionsBookError(f"ITTO {m.message_type}: unknown option_id {m.option_id}")
        buys = None if m.message_type == "Q" else m.buy_sell_indicator == "B"
        return [TradeEvent(symbol, m.timestamp, m.price, m.volume, m.match_number, buys)]

    def _changed(self, option_id: int, timestamp: int) -> list[Any]:
        bid, ask = self._sides[option_id]
        bid_price, bid_size = bid.best()
        ask_price, ask_size = ask.best()
        before = self._tops.get(option_id)
        if before is not None and (
            before.bid_price,
            before.bid_shares,
            before.ask_price,
            before.ask_shares,
        ) == (bid_price, bid_size, ask_price, ask_size):
            return []
        top = TopOfBook(
            self.symbols[option_id], timestamp, bid_price, bid_size, ask_price, ask_size
        )
        self._tops[option_id] = top
        return [top]


_HANDLERS = {
    "R": OptionsQuoteBook._directory,
    "a": lambda book, m: book._add_order(m, PRICE2_TO_PRICE4),
    "A": lambda book, m: book._add_order(m, 1),
    "j": lambda book, m: book._add_quote(m, PRICE2_TO_PRICE4),
    "J": lambda book, m: book._add_quote(m, 1),
    "u": lambda book, m: book._replace(m, PRICE2_TO_PRICE4),
    "U": lambda book, m: book._replace(m, 1),
    "k": lambda book, m: book._quote_replace(m, PRICE2_TO_PRICE4),
    "K": lambda book, m: book._quote_replace(m, 1),
    "G": OptionsQuoteBook._update,
    "D": OptionsQuoteBook._delete,
    "Y": OptionsQuoteBook._quote_delete,
    "X": OptionsQuoteBook._cancel,
    "E": OptionsQuoteBook._executed,
    "C": OptionsQuoteBook._executed_with_price,
    "P": OptionsQuoteBook._trade,
    "Q": OptionsQuoteBook._trade,
}
