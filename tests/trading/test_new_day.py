"""`calarb run` starts a new trading day unless told to resume: a flat journal is archived
and the run starts with nothing; one that is not flat stops the start, saying what it holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from calarb.core.order_events import ExecutionReport, VenueOrder
from calarb.core.orders import ExecType, OrdStatus, OrdType, TimeInForce
from calarb.core.types import Side
from calarb.trading.config import load_config
from calarb.trading.journal import Journal
from calarb.trading.live import CarryOverError, LiveEngine

ENGINE = Path(__file__).resolve().parents[2] / "src" / "calarb" / "configs" / "engine.toml"
PRICE = 100 * 10_000


def config_in(folder: Path):
    path = folder / "engine.toml"
    path.write_text(ENGINE.read_text())
    return load_config(path)


def trade(journal: Journal, number: int, side: Side, now_ns: int) -> None:
    """An order for 100 AAA on ALPHA, acknowledged and filled, as the OMS journals it."""
    cl_ord_id = f"MANUAL{number}.1"
    order = VenueOrder(cl_ord_id, f"MANUAL{number}", "ALPHA", "AAA", side, 100, PRICE,
                       OrdType.LIMIT, TimeInForce.DAY)  # fmt: skip
    journal.record("order", now_ns, order)
    common = dict(venue="ALPHA", cl_ord_id=cl_ord_id, order_id=str(number), symbol="AAA",
                  side=side, order_qty=100, price=PRICE)  # fmt: skip
    journal.record("report", now_ns + 1, ExecutionReport(
        exec_id=f"E{number}a", exec_type=ExecType.NEW, ord_status=OrdStatus.NEW, cum_qty=0,
        leaves_qty=100, avg_px=0, **common))  # fmt: skip
    journal.record("report", now_ns + 2, ExecutionReport(
        exec_id=f"E{number}b", exec_type=ExecType.TRADE, ord_status=OrdStatus.FILLED,
        cum_qty=100, leaves_qty=0, avg_px=PRICE, last_qty=100, last_px=PRICE,
        cum_notional=100 * PRICE, **common))  # fmt: skip


def test_a_journal_holding_a_position_needs_resume(tmp_path):
    config = config_in(tmp_path)
    config.journal.parent.mkdir(parents=True)
    with Journal(config.journal) as journal:
        trade(journal, 1, Side.BUY, 1_000)
    with pytest.raises(CarryOverError, match=r"journal.jsonl: the last run ended holding AAA "
                       r"\+100 and 0 open order\(s\); `calarb run --resume` carries"):
        LiveEngine(config, new_day=True)
    assert config.journal.exists() and not config.journal.with_name("journal.1.jsonl").exists()

    resumed = LiveEngine(config)  # --resume: the position and its P&L carry over
    assert resumed.engine.portfolio.quantity("AAA") == 100
    assert resumed.summary()["journal"]["replayed_fills"] == 1
    resumed.journal.close()


def test_a_flat_journal_is_archived_and_the_day_starts_empty(tmp_path):
    config = config_in(tmp_path)
    config.journal.parent.mkdir(parents=True)
    with Journal(config.journal) as journal:
        trade(journal, 1, Side.BUY, 1_000)
        trade(journal, 2, Side.SELL, 2_000)
    lines = config.journal.read_text()

    live = LiveEngine(config, new_day=True)
    archived = config.journal.with_name("journal.1.jsonl")
    assert live.archived_journal == archived and archived.read_text() == lines
    assert live.holdings() == {}
    assert live.engine.portfolio.realized == 0
    summary = live.summary()
    assert summary["journal"]["archived"] == str(archived)
    assert summary["journal"]["replayed_entries"] == 0
    live.journal.close()
    # the next new day numbers its archive after the first
    with Journal(config.journal) as journal:
        trade(journal, 3, Side.BUY, 3_000)
        trade(journal, 4, Side.SELL, 4_000)
    second = LiveEngine(config, new_day=True)
    assert second.archived_journal == config.journal.with_name("journal.2.jsonl")
    second.journal.close()
