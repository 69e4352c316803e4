"""What the demo prints about itself: its clock, what it holds at the end (marked), and why
two runs over sockets differ (the run itself is in test_demo.py)."""

from __future__ import annotations

from calarb.demo import DETERMINISM_NOTE, _holding_text, clock_text, venue_speed


def test_the_clock_is_stated_in_simulated_seconds_per_real_second():
    assert venue_speed({"speed": 20.0}) == 20.0 and venue_speed({}) == 1.0
    text = clock_text(20.0, 30)
    assert "20 simulated seconds per real second" in text
    assert "30 s of trading = 600 simulated seconds" in text


def test_the_end_is_flat_or_the_holdings_are_listed_with_their_marks():
    assert _holding_text({"positions": {"AAA": 0}}).startswith("positions: flat at the end")
    text = _holding_text({"positions": {"AAA": -185, "BBB": 0, "CCC": 360},
                          "marks": {"AAA": 39.91, "CCC": 25.5}})  # fmt: skip
    lines = text.splitlines()
    assert "does not close positions" in lines[0] and "marked at the last mid" in lines[0]
    assert lines[1:] == [
        "  symbol  shares   mark  market value",
        "  AAA       -185  39.91     -7,383.35",
        "  CCC        360  25.50      9,180.00",
    ]


def test_the_note_says_socket_runs_differ_and_backtests_do_not():
    assert "differs from the next" in DETERMINISM_NOTE
    assert "same orders every time" in DETERMINISM_NOTE
