"""The options strategy, run by the trading engine, against the simulator: in the backtest it
trades the planted mispricings at a profit net of fees on several seeds, with its delta within
the limit; the paper run over loopback (the engine's FixOrderGateway writing FIX 4.4 option
orders, ITTO and ITCH 5.0 over MoldUDP64 multicast, lock-step) sends the same orders and gets
the same fills."""

from __future__ import annotations

import pytest

from calarb.backtest.options_market import OptionsMarketConfig
from calarb.backtest.options_paper import run_options_paper
from calarb.backtest.options_run import OptionsRunConfig, run_options_backtest
from calarb.core.option_contract import contract_multiplier
from calarb.core.types import PRICE_SCALE
from calarb.fix.codec import decode
from calarb.fix.messages.options import option_contract_from_fix


def config(seed: int, seconds: float = 40.0) -> OptionsRunConfig:
    market = OptionsMarketConfig(seed=seed, mispricings_per_minute=6.0)
    return OptionsRunConfig(market=market, seconds=seconds)


@pytest.mark.parametrize("seed", [3, 5, 6])
def test_backtest_trades_the_planted_mispricings_at_a_profit(seed):
    result = run_options_backtest(config(seed))
    summary = result.summary()
    entries = [o for o in result.orders if o[5] == "entry"]
    assert entries, summary
    # every entry is on an option whose quote was planted at that time: no false signals
    for time_ns, symbol, *_ in entries:
        assert any(
            p.symbol == symbol and p.start_ns <= time_ns <= p.end_ns for p in result.plants
        ), (time_ns, symbol, result.plants)
    assert summary["plants_traded"] >= 2, summary
    assert result.pnl > summary["fees"] > 0, summary  # net of fees, and fees were paid
    assert summary["worst_abs_delta_shares"] <= result.risk.limits.max_delta_shares
    assert summary["worst_abs_delta_shares"] <= 2 * result.strategy.config.hedge_band_shares
    assert summary["hedge_fills"] >= 1
    # the engine's books agree: every order went through its gate and OMS, all filled or done
    engine = result.engine
    assert engine.orders_sent == len(result.orders) == engine.intents
    assert engine.oms.open_count == 0 and not engine.oms.anomalies
    assert len(engine.fills) == summary["option_fills"] + summary["hedge_fills"]
    # the engine's own P&L counts a contract as 100 shares: it reconciles with the fills
    # (cash) and the final marks, and the report is it less the option fees, nothing after
    portfolio = engine.portfolio
    cash = sum(
        -int(f.side) * f.quantity * f.price * contract_multiplier(f.symbol) for f in engine.fills
    )
    held = sum(p.quantity * p.mark * p.multiplier for p in portfolio.positions.values())
    assert portfolio.realized + portfolio.unrealized == cash + held
    assert {p.multiplier for s, p in portfolio.positions.items() if s != "SYNTH"} == {100}
    assert result.pnl == (portfolio.net_pnl - result.fees) / PRICE_SCALE


@pytest.mark.network
def test_paper_run_over_loopback_matches_the_backtest():
    run = config(3, seconds=30.0)
    backtest = run_options_backtest(run)
    paper = run_options_paper(run)
    assert len(backtest.orders) >= 4 and len(backtest.reports) >= 4
    assert paper.orders == backtest.orders
    assert paper.reports == backtest.reports
    assert paper.pnl == backtest.pnl > 0
    venue = paper.summary()
    assert venue["fix_orders_sent"] == len(paper.orders)
    assert venue["fix_errors"] == 0 and venue["fix_rejects"] == 0
    assert venue["options_messages"] == backtest.summary()["options_messages"]
    # what went over the wire: each option order's instrument block agrees with its OCC
    # symbol (the venue's own check), the hedges carry none
    sent = [decode(raw) for raw in paper.fix_sent if decode(raw).msg_type == b"D"]
    assert len(sent) == len(paper.orders)
    for message in sent:
        symbol = message.get(55).decode()
        contract = option_contract_from_fix(message)
        if symbol == "SYNTH":
            assert contract is None and message.get(167) is None
        else:
            assert contract is not None and contract.symbol == symbol
            assert message.get(167) == b"OPT" and message.get(201) in (b"0", b"1")


def test_trader_feeds_refuse_hostile_messages_with_one_line_each_and_go_on():
    from calarb.backtest.options_run import TraderFeeds
    from calarb.itch.options_codec import encode_options_message
    from calarb.itch.options_messages import AddQuoteLong, OptionsDirectory

    feeds = TraderFeeds()
    directory = OptionsDirectory(
        0, 1, 9, "SYNTH", 26, 3, 6, 1_000_000, "C", 1, "SYNTH", "N", "Y", "E"
    )
    feeds.on_options_bytes(encode_options_message(directory))
    quote = encode_options_message(AddQuoteLong(1, 2, 1, 2, 9, 30_000, 5, 31_000, 5))
    feeds.on_options_bytes(quote[:20])  # truncated
    feeds.on_options_bytes(b"Z" + bytes(20))  # unknown type
    feeds.on_options_bytes(encode_options_message(AddQuoteLong(1, 2, 3, 4, 77, 1, 1, 2, 1)))
    feeds.on_options_bytes(quote)
    assert feeds.refused == 3
    assert "length 20 disagrees with the type's length 45" in feeds.errors[0]
    assert "byte offset 0 (message type 'J')" in feeds.errors[0]
    assert "unknown ITTO message type byte 0x5a" in feeds.errors[1]
    assert "unknown option_id 77" in feeds.errors[2]
    assert all("\n" not in line for line in feeds.errors)
    assert [c.symbol for c in feeds.listed] == ["SYNTH 260306C00100000"]
    (top,) = feeds.waiting.values()  # for the engine, once it is built
    assert (top.bid_price, top.ask_price) == (30_000, 31_000)


@pytest.mark.network
def test_a_bad_option_order_over_tcp_gets_a_reject_naming_the_tag_and_trading_goes_on():
    import asyncio

    from calarb.backtest.options_market import OptionsMarket
    from calarb.backtest.options_paper import LoopbackTransport
    from calarb.backtest.options_run import VENUE, TraderFeeds, build_engine
    from calarb.core.option_contract import parse_occ_symbol
    from calarb.core.order_events import VenueOrder
    from calarb.core.orders import OrdType, TimeInForce
    from calarb.core.types import Side
    from calarb.fix.messages.options import encode_option_order, option_order
    from calarb.venue.itch_publisher import ItchPublisher
    from calarb.venue.options_publisher import OptionsItchPublisher

    async def scenario():
        run = config(1)
        market = OptionsMarket(run.market)
        feeds = TraderFeeds()
        publisher = OptionsItchPublisher(market.symbols)
        transport = await LoopbackTransport.create(
            market, feeds, publisher, ItchPublisher([market.underlying])
        )
        try:
            await transport.start_of_day(market.now_ns)
            engine, _strategy, _risk = build_engine(run, feeds, transport)
            symbol = market.symbols[7]
            contract = parse_occ_symbol(symbol)
            body = encode_option_order(
                option_order("bad1", contract, Side.BUY, 1, 10_000, market.now_ns, "3")
            )
            transport.initiator.send_body(b"D", body.replace(b"202=", b"202=1"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not transport.rejects and loop.time() < deadline:
                await asyncio.sleep(0.005)
            (reject,) = transport.rejects
            assert (reject.get(371), reject.get(372), reject.get(373)) == (b"202", b"D", b"5")
            # the engine's own order entry goes on: an option order through its OMS and
            # FixOrderGateway is filled
            top = market.engine.top_of_book(symbol)
            order = VenueOrder("good1", "good1", VENUE, symbol, Side.BUY, 1, top.ask_price,
                               OrdType.LIMIT, TimeInForce.IOC)  # fmt: skip
            engine.oms.submit(order, market.now_ns)
            transport.gateway.send_new_order(order, market.now_ns)
            await transport.settle(engine.oms)
            record = engine.oms.order("good1")
            assert record.cum_qty == 1 and record.symbol == symbol
            assert engine.portfolio.quantity(symbol) == 1
        finally:
            await transport.close()

    asyncio.run(scenario())
