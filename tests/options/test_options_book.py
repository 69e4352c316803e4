"""ITTO messages (as bytes, decoded) -> listings, top-of-book changes and trades."""

from __future__ import annotations

import datetime as dt

import pytest

from calarb.book.options_book import OptionListed, OptionsBookError, OptionsQuoteBook
from calarb.core.events import TopOfBook, TradeEvent
from calarb.core.option_contract import OptionContract, parse_occ_symbol
from calarb.itch.options_codec import OptionsStreamDecoder, encode_options_framed
from calarb.itch.options_messages import (
    AddOrderShort,
    AddQuoteLong,
    OptionsDirectory,
    QuoteDelete,
    QuoteReplaceLong,
    SingleSideDelete,
    SingleSideExecuted,
)

SYMBOL = "SYNTH 261218C00100000"


def run(messages):
    data = b"".join(encode_options_framed(m) for m in messages)
    book = OptionsQuoteBook()
    events = []
    for m in OptionsStreamDecoder().feed(data):
        events += book.on_message(m)
    return book, events


def test_occ_symbol_round_trip_and_errors():
    contract = OptionContract("SYNTH", dt.date(2026, 12, 18), "C", 1_000_000)
    assert contract.symbol == SYMBOL
    assert parse_occ_symbol(SYMBOL) == contract
    with pytest.raises(ValueError, match="not YYMMDD"):
        parse_occ_symbol("SYNTH 26x218C00100000")
    with pytest.raises(ValueError, match="21"):
        parse_occ_symbol("SYNTH")


def test_quotes_orders_executions_and_deletes_move_the_top_of_book():
    directory = OptionsDirectory(
        0, 1, 42, "SYNTH", 26, 12, 18, 1_000_000, "C", 1, "SYNTH", "N", "Y", "E"
    )
    book, events = run(
        [
            directory,
            AddQuoteLong(1, 10, 1, 2, 42, 51_500, 10, 52_500, 12),
            AddOrderShort(2, 11, 3, "B", 42, 516, 4),  # Price(2): 5.16
            SingleSideExecuted(3, 12, 3, 4, 0, 77),
            QuoteReplaceLong(4, 13, 1, 5, 2, 6, 51_000, 7, 53_000, 8),
            SingleSideDelete(5, 14, 5),
            SingleSideDelete(6, 15, 6),
        ]
    )
    assert events[0] == OptionListed(42, parse_occ_symbol(SYMBOL), True)
    assert events[1:] == [
        TopOfBook(SYMBOL, 10, 51_500, 10, 52_500, 12),
        TopOfBook(SYMBOL, 11, 51_600, 4, 52_500, 12),
        TradeEvent(SYMBOL, 12, 51_600, 4, 77, False),
        TopOfBook(SYMBOL, 12, 51_500, 10, 52_500, 12),
        TopOfBook(SYMBOL, 13, 51_000, 7, 53_000, 8),
        TopOfBook(SYMBOL, 14, 0, 0, 53_000, 8),
        TopOfBook(SYMBOL, 15, 0, 0, 0, 0),
    ]
    assert book.top(42) == events[-1]


def test_unknown_references_and_options_are_named():
    directory = OptionsDirectory(
        0, 1, 42, "SYNTH", 26, 12, 18, 1_000_000, "C", 1, "SYNTH", "N", "Y", "E"
    )
    with pytest.raises(OptionsBookError, match="ITTO Y: unknown reference 9"):
        run([directory, QuoteDelete(1, 2, 9, 10)])
    with pytest.raises(OptionsBookError, match="unknown option_id 7"):
        run([AddQuoteLong(1, 10, 1, 2, 7, 1, 1, 2, 1)])
