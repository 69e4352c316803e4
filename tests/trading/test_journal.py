from __future__ import annotations

import json

import pytest

from calarb.core.order_events import CancelReject, VenueOrder
from calarb.core.types import Side
from calarb.trading.journal import FsyncPolicy, Journal, JournalCorruptError, read_journal
from calarb.trading.oms import OrderManager
from calarb.trading.orders import OrderPurpose, OrdStatus, OrdType, TimeInForce
from calarb.trading.portfolio import Portfolio


def order(cl, side=Side.BUY, qty=100, symbol="AAA"):
    return VenueOrder(
        cl,
        cl.split(".")[0],
        "V1",
        symbol,
        side,
        qty,
        1_000_000,
        OrdType.LIMIT,
        TimeInForce.DAY,
        "pair-1",
    )


def run_session(journal, venue):
    portfolio = Portfolio()
    oms = OrderManager([portfolio], journal=journal)
    a, b, c = order("A.1"), order("B.1", Side.SELL, 50, "BBB"), order("C.1", qty=70)
    for o in (a, b, c):
        oms.submit(o, 1)
    oms.on_execution_report(venue.ack(a), 2)
    oms.on_execution_report(venue.ack(b), 2)
    oms.on_execution_report(venue.reject(c, "no"), 2)
    oms.on_execution_report(venue.fill("A.1", 40, 1_000_100), 3)
    oms.on_execution_report(venue.fill("B.1", 50, 999_900), 3)
    replace = oms.request_replace("A.1", 80, 999_000, 4)
    oms.on_execution_report(venue.replace(replace), 5)
    cancel = oms.request_cancel("A.1/1", 6)
    oms.on_cancel_reject(
        CancelReject(
            "V1", cancel.cl_ord_id, "A.1/1", "O1", OrdStatus.PARTIALLY_FILLED, False, "busy"
        ),
        7,
    )
    oms.close_locally("nothing", OrdStatus.CANCELED, "noop", 8)
    return oms, portfolio


def rebuild(path):
    journal, contents = Journal.open(path)
    portfolio = Portfolio()
    oms = OrderManager([portfolio], journal=journal)
    oms.replay(contents.entries)
    return oms, portfolio, journal, contents


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_restart_rebuilds_identical_state(tmp_path, venue, policy):
    path = tmp_path / "orders.jsonl"
    with Journal(path, policy) as journal:
        oms, portfolio = run_session(journal, venue)
        assert journal.records_written == 13
    rebuilt, rebuilt_portfolio, journal, contents = rebuild(path)
    assert contents.truncated_bytes == 0 and len(contents.entries) == 13
    assert rebuilt.state() == oms.state()
    assert rebuilt_portfolio.state() == portfolio.state()
    assert rebuilt.anomalies == oms.anomalies
    assert rebuilt.order("A.1").status is OrdStatus.PARTIALLY_FILLED
    # The rebuilt OMS goes on journaling where the old one stopped.
    request = rebuilt.request_cancel("A.1/1", 9)
    assert request.cl_ord_id == "A.1/3"
    journal.close()
    assert read_journal(path).entries[-1].payload == request


def test_truncated_last_line_is_reported_and_cut(tmp_path, venue):
    path = tmp_path / "orders.jsonl"
    with Journal(path) as journal:
        oms, portfolio = run_session(journal, venue)
    data = path.read_bytes()
    cut = data[: len(data) - 25]  # the last record loses its end (crash mid-write)
    path.write_bytes(cut)
    rebuilt, rebuilt_portfolio, journal, contents = rebuild(path)
    assert len(contents.entries) == 12
    last_line_start = cut.rfind(b"\n") + 1
    assert contents.truncated_bytes == len(cut) - last_line_start
    assert contents.truncation_reason
    assert path.stat().st_size == last_line_start
    assert rebuilt_portfolio.state() == portfolio.state()  # the lost line was not a fill
    assert rebuilt.request_cancel("A.1/1", 9) is not None
    journal.close()
    again = read_journal(path)
    assert again.truncated_bytes == 0 and len(again.entries) == 13


def test_corrupt_line_inside_the_file_raises_with_position(tmp_path, venue):
    path = tmp_path / "orders.jsonl"
    with Journal(path) as journal:
        run_session(journal, venue)
    lines = path.read_bytes().split(b"\n")
    lines[3] = b'{"k":"report","t":1,"v":[' + lines[3][30:]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalCorruptError) as error:
        read_journal(path)
    assert error.value.line == 4
    assert error.value.offset == sum(len(line) + 1 for line in lines[:3])
    assert "line 4" in str(error.value)


def test_order_purpose_is_journaled_and_older_lines_read_as_manual(tmp_path):
    path = tmp_path / "orders.jsonl"
    deleverage = order("DELEV-1.1")._replace(purpose=OrderPurpose.DELEVERAGE)
    with Journal(path) as journal:
        OrderManager([], journal=journal).submit(deleverage, 1)
    rebuilt, _, journal, contents = rebuild(path)
    journal.close()
    assert contents.entries[0].payload == deleverage
    assert rebuilt.order("DELEV-1.1").purpose is OrderPurpose.DELEVERAGE
    line = json.loads(path.read_text())
    assert line["v"].pop() == "deleverage"  # a line written before orders had a purpose
    path.write_text(json.dumps(line) + "\n")
    [entry] = read_journal(path).entries
    assert entry.payload == deleverage._replace(purpose=OrderPurpose.MANUAL)


def test_missing_journal_is_empty(tmp_path):
    contents = read_journal(tmp_path / "none.jsonl")
    assert contents.entries == [] and contents.truncated_bytes == 0
