import pytest

from calarb.core import (
    Instrument,
    Side,
    SimulatedClock,
    TopOfBook,
    format_price,
    price_from_float,
    price_from_str,
)


def test_price_text_round_trip_is_exact():
    assert price_from_str("12.3456") == 123456
    assert price_from_str("0.0001") == 1
    assert format_price(123456) == "12.3456"
    assert format_price(-5) == "-0.0005"
    assert price_from_str(format_price(987654321)) == 987654321


def test_price_with_too_many_decimals_is_refused():
    with pytest.raises(ValueError, match="more than 4 decimal"):
        price_from_str("1.00001")
    with pytest.raises(ValueError, match="not a price"):
        price_from_str("abc")


def test_price_from_float_rounds_to_nearest_unit():
    assert price_from_float(10.1) == 101000
    assert price_from_float(0.00015) == 2  # half to even


def test_side_codes():
    assert Side.from_code("B") is Side.BUY
    assert Side.from_code(b"S") is Side.SELL
    assert Side.from_code("2") is Side.SELL
    assert Side.BUY.opposite is Side.SELL and Side.SELL.code == "S"
    with pytest.raises(ValueError, match="unknown side"):
        Side.from_code("X")


def test_instrument_checks_tick_and_lot():
    inst = Instrument("AAPL", locate=1, tick_size=100, lot_size=1)
    inst.check_price(1_500_100)
    with pytest.raises(ValueError, match="tick size"):
        inst.check_price(1_500_150)
    with pytest.raises(ValueError, match="quantity"):
        inst.check_quantity(0)


def test_simulated_clock_only_moves_forward():
    clock = SimulatedClock(start_ns=100, wall_origin_ns=1_000)
    assert clock.monotonic_ns() == 100 and clock.wall_ns() == 1_100
    clock.advance_to(50)
    assert clock.monotonic_ns() == 100
    clock.advance(5)
    assert clock.monotonic_ns() == 105
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_top_of_book_crossed_locked_and_prices():
    tob = TopOfBook("X", 0, 100, 10, 102, 30)
    assert not tob.crossed and not tob.locked
    assert tob.mid_price() == 101
    assert tob.microprice() == pytest.approx((100 * 30 + 102 * 10) / 40)
    assert TopOfBook("X", 0, 102, 1, 102, 1).locked
    assert TopOfBook("X", 0, 103, 1, 102, 1).crossed
    assert TopOfBook("X", 0, 0, 0, 102, 1).mid_price() is None
