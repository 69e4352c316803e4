"""Typed, immutable ITTO 4.0 messages, one NamedTuple class per message type.

The classes are generated from the layout table (`calarb.itch.options_spec`): fields are the
specification's names in wire order after the type letter (tracking_number, timestamp, ...);
the letter is the class attribute `message_type`. Alpha fields are str without padding;
prices are integers in the field's own scale (Price(4): 1/10,000; Price(2): 1/100).
"""

from __future__ import annotations

from calarb.itch.options_spec import OPTIONS_MESSAGE_CLASSES as _CLASSES

SystemEvent = _CLASSES["S"]
OptionsDirectory = _CLASSES["R"]
TradingAction = _CLASSES["H"]
SecurityOpen = _CLASSES["O"]
AddOrderShort = _CLASSES["a"]
AddOrderLong = _CLASSES["A"]
AddQuoteShort = _CLASSES["j"]
AddQuoteLong = _CLASSES["J"]
SingleSideExecuted = _CLASSES["E"]
SingleSideExecutedWithPrice = _CLASSES["C"]
OrderCancel = _CLASSES["X"]
SingleSideReplaceShort = _CLASSES["u"]
SingleSideReplaceLong = _CLASSES["U"]
SingleSideDelete = _CLASSES["D"]
SingleSideUpdate = _CLASSES["G"]
QuoteReplaceShort = _CLASSES["k"]
QuoteReplaceLong = _CLASSES["K"]
QuoteDelete = _CLASSES["Y"]
OptionsTrade = _CLASSES["P"]
OptionsCrossTrade = _CLASSES["Q"]
BrokenTrade = _CLASSES["B"]
NetOrderImbalanceIndicator = _CLASSES["I"]
