"""The synthetic ITCH generator: deterministic bytes, exact counts, and a market an exchange
could have published (replayed here against an independent dict of live orders)."""

from __future__ import annotations

import gzip
from collections import Counter

import pytest

from calarb.itch.files import file_stats, read_messages
from calarb.itch.generate import (
    fixed_message_count,
    generate_itch_file,
    generate_messages,
    symbol_names,
)

ORDER_FLOW = set("AFECXDUP")


def replay(messages) -> dict:
    """Check every rule of a valid feed while rebuilding the books; return what was seen."""
    live: dict[int, list] = {}  # reference -> [locate, side, price, shares]
    books: dict[tuple[int, str], Counter] = {}  # (locate, side) -> price -> shares
    directory: dict[int, str] = {}
    last_reference = 0
    last_timestamp = -1
    last_match = 0
    executions_at_best = 0

    def best(locate, side):
        prices = [p for p, n in books.get((locate, side), Counter()).items() if n > 0]
        if not prices:
            return None
        return max(prices) if side == "B" else min(prices)

    def rest(reference, locate, side, price, shares):
        nonlocal last_reference
        assert reference > last_reference, "order references must increase"
        last_reference = reference
        assert shares > 0 and price > 0 and price % 100 == 0
        live[reference] = [locate, side, price, shares]
        books.setdefault((locate, side), Counter())[price] += shares

    def take(reference, shares):
        assert reference in live, f"reference {reference} is not a live order"
        order = live[reference]
        assert 0 < shares <= order[3], "cannot take more shares than are left"
        order[3] -= shares
        books[(order[0], order[1])][order[2]] -= shares
        if order[3] == 0:
            del live[reference]
        return order

    for message in messages:
        code = message.message_type
        assert message.timestamp >= last_timestamp, "timestamps must not decrease"
        last_timestamp = message.timestamp
        if code in ORDER_FLOW:
            assert message.stock_locate in directory
        if code == "R":
            directory[message.stock_locate] = message.stock
        elif code in "AF":
            assert message.stock == directory[message.stock_locate]
            rest(message.order_reference_number, message.stock_locate,
                 message.buy_sell_indicator, message.price, message.shares)  # fmt: skip
        elif code in "EC":
            assert message.match_number > last_match
            last_match = message.match_number
            order = live.get(message.order_reference_number)
            assert order is not None, "execution of an unknown or dead order"
            assert order[0] == message.stock_locate
            assert order[2] == best(order[0], order[1]), "executions hit the best price"
            oldest = next(r for r, o in live.items() if o[:3] == order[:3])
            assert oldest == message.order_reference_number, "time priority at the price"
            executions_at_best += 1
            take(message.order_reference_number, message.executed_shares)
        elif code == "X":
            order = live.get(message.order_reference_number)
            assert order is not None and message.cancelled_shares < order[3]
            take(message.order_reference_number, message.cancelled_shares)
        elif code == "D":
            order = live.get(message.order_reference_number)
            assert order is not None, "delete of an unknown or dead order"
            take(message.order_reference_number, order[3])
        elif code == "U":
            order = live.get(message.original_order_reference_number)
            assert order is not None, "replace of an unknown or dead order"
            locate, side = order[0], order[1]
            take(message.original_order_reference_number, order[3])
            rest(message.new_order_reference_number, locate, side, message.price, message.shares)
        elif code == "P":
            assert message.match_number > last_match
            last_match = message.match_number
        if code in "AFUECXD":
            bid, ask = best(message.stock_locate, "B"), best(message.stock_locate, "S")
            assert bid is None or ask is None or bid < ask, "the book must never lock or cross"
    return {"live": live, "directory": directory, "executions_at_best": executions_at_best}


@pytest.mark.parametrize("messages, symbols, seed", [(20_000, 5, 1), (3_000, 40, 99)])
def test_generated_flow_is_a_valid_market(messages, symbols, seed):
    generated = list(generate_messages(messages, symbols, seed))
    assert len(generated) == messages
    seen = replay(generated)
    assert seen["executions_at_best"] > 0
    assert sorted(seen["directory"]) == list(range(1, symbols + 1))
    counts = Counter(m.message_type for m in generated)
    assert set(counts) >= ORDER_FLOW, f"order flow lacks {ORDER_FLOW - set(counts)}"
    assert counts["R"] == counts["H"] == counts["Y"] == symbols
    assert counts["S"] == 6
    # books keep depth: plenty of orders rest at the end
    assert len(seen["live"]) > 5 * symbols


def test_day_structure():
    generated = list(generate_messages(500, 4, 3))
    names = symbol_names(4, 3)
    assert [m.event_code for m in generated[:1]] == ["O"]
    assert [m.event_code for m in generated if m.message_type == "S"] == list("OSQMEC")
    assert [m.event_code for m in generated[-3:]] == list("MEC")
    directory = [m for m in generated if m.message_type == "R"]
    assert [(m.stock_locate, m.stock) for m in directory] == list(enumerate(names, 1))
    actions = [m for m in generated if m.message_type == "H"]
    assert {(m.stock, m.trading_state) for m in actions} == {(n, "T") for n in names}
    reg_sho = [m for m in generated if m.message_type == "Y"]
    assert {m.stock for m in reg_sho} == set(names)
    market_open = next(i for i, m in enumerate(generated) if getattr(m, "event_code", "") == "Q")
    assert all(m.message_type in ORDER_FLOW for m in generated[market_open + 1 : -3])


def test_symbol_names_are_distinct_four_letter_and_deterministic():
    names = symbol_names(500, 11)
    assert len(set(names)) == 500 and names == sorted(names)
    assert all(len(n) == 4 and n.isalpha() and n.isupper() for n in names)
    assert symbol_names(500, 11) == names and symbol_names(500, 12) != names


def test_prices_walk():
    """Each symbol's prices wander away from where they started (a random walk)."""
    generated = list(generate_messages(60_000, 2, 5))
    for locate in (1, 2):
        prices = [m.price for m in generated if m.message_type == "A" and m.stock_locate == locate]
        first, last = prices[:200], prices[-200:]
        assert len(set(prices)) > 20
        assert abs(sum(first) / len(first) - sum(last) / len(last)) >= 100  # a tick or more


def test_same_seed_same_bytes_and_file_matches_the_messages(tmp_path):
    one, two, other = tmp_path / "one.itch", tmp_path / "two.itch", tmp_path / "other.itch"
    summary = generate_itch_file(one, 5_000, 6, 42)
    generate_itch_file(two, 5_000, 6, 42)
    generate_itch_file(other, 5_000, 6, 43)
    assert one.read_bytes() == two.read_bytes()
    assert one.read_bytes() != other.read_bytes()
    assert read_messages(one) == list(generate_messages(5_000, 6, 42))
    stats = file_stats(one)
    assert summary["bytes"] == one.stat().st_size == stats["bytes"]
    assert summary["messages"] == stats["messages"] == 5_000
    assert summary["by_type"] == stats["by_type"]
    assert stats["symbols"] == 6
    assert summary["first_timestamp_ns"] == stats["first_timestamp_ns"]
    assert summary["last_timestamp_ns"] == stats["last_timestamp_ns"]


def test_gzip_output_is_reproducible_and_decodes_the_same(tmp_path):
    plain, packed, again = tmp_path / "a.itch", tmp_path / "a.itch.gz", tmp_path / "b.itch.gz"
    generate_itch_file(plain, 2_000, 3, 8)
    generate_itch_file(packed, 2_000, 3, 8)
    generate_itch_file(again, 2_000, 3, 8)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert packed.read_bytes() == again.read_bytes()
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()


def test_too_few_messages_is_refused_before_writing(tmp_path):
    assert fixed_message_count(10) == 36
    with pytest.raises(ValueError, match="36"):
        generate_messages(35, 10, 1)
    path = tmp_path / "x.itch"
    with pytest.raises(ValueError):
        generate_itch_file(path, 35, 10, 1)
    assert not path.exists()
    assert len(list(generate_messages(36, 10, 1))) == 36  # the fixed part alone is fine
    with pytest.raises(ValueError, match="symbols"):
        generate_messages(100, 0, 1)
