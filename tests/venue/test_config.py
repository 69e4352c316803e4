"""Venue TOML configuration: the shipped example, every section, and errors that name where."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from calarb.cli import main
from calarb.venue.config import (
    Fault,
    FaultSchedule,
    ParticipantLimits,
    VenueConfigError,
    VenuesConfig,
)
from calarb.venue.itch_publisher import MAX_SHARES

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "venues.toml"

MINIMAL = """
[synthetic]
seed = 1
[[synthetic.symbols]]
symbol = "AAA"
start_price = 10.0
[[synthetic.symbols]]
symbol = "BBB"
start_price = 20.0

[[venues]]
name = "V1"
fix_port = 0
[venues.market_data]
group = "239.255.1.1"
port = 30001
[[venues.participants]]
comp_id = "P1"
username = "u"
password = "p"
"""


def load(text: str) -> VenuesConfig:
    return VenuesConfig.from_mapping(tomllib.loads(text))


def test_the_shipped_example_has_two_venues_and_a_cointegrated_pair() -> None:
    config = VenuesConfig.load(EXAMPLE)
    alpha, beta = config.venues
    assert (alpha.name, alpha.fix_port, alpha.comp_id) == ("ALPHA", 9101, "ALPHA")
    assert alpha.market_data.session == "ALPHA" and alpha.market_data.faults.drop == 0.02
    assert (alpha.fee_per_share, alpha.rebate_per_share) == (30, 20)
    (participant,) = alpha.participants
    assert participant.limits == ParticipantLimits(
        max_order_qty=100_000, max_order_notional=5_000_000 * 10_000, max_open_orders=1_000
    )
    assert beta.symbol_list(config.synthetic) == ["AAA", "BBB"]
    assert beta.order_latency_ms == 0.5 and beta.market_data.latency_ms == 0.3
    (pair,) = config.synthetic.true_parameters()
    assert (pair["dependent"], pair["driver"], pair["hedge_ratio"], pair["half_life_s"]) == (
        "BBB", "AAA", 1.2, 60.0,
    )  # fmt: skip
    # the FIX journals live beside the file, wherever the venue is started from
    assert alpha.fix_store_dir == str(EXAMPLE.parent / "run" / "venue-fix") == beta.fix_store_dir
    schedule = beta.faults.schedule()
    assert [(f.at_ns, f.kind, f.target) for f in schedule.due(10**13)] == [
        (300 * 10**9, "disconnect", "CALARB"),
        (600 * 10**9, "halt", "BBB"),
        (660 * 10**9, "resume", "BBB"),
    ]


def test_fault_schedule_hands_out_each_fault_once_in_time_order() -> None:
    schedule = FaultSchedule([Fault(30, "resume", "A"), Fault(10, "halt", "A")])
    assert schedule.next_at_ns() == 10 and len(schedule) == 2
    assert schedule.due(9) == []
    assert [f.kind for f in schedule.due(30)] == ["halt", "resume"]
    assert schedule.due(100) == [] and schedule.next_at_ns() is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'password = "p"',
            'password = "p"\ncolour = "red"',
            "venues[0].participants[0].colour: unknown key",
        ),
        ('password = "p"', 'password = ""', "venues[0].participants[0].password: must not be empty"),
        ("port = 30001", "port = 30001\nlatency = 1", "venues[0].market_data.latency: unknown key"),
        ('group = "239.255.1.1"', 'group = "10.0.0.1"', "venues[0].market_data.group: expected an IPv4 multicast group"),
        (
            'password = "p"',
            'password = "p"\nmax_order_qty = -5',
            "venues[0].participants[0].max_order_qty: expected int >= 1, got -5",
        ),
        ('password = "p"', f'password = "p"\nmax_order_qty = {MAX_SHARES + 1}', "above ITCH"),
        ("fix_port = 0", 'fix_port = 0\nsymbols = ["ZZZ"]', "symbols ['ZZZ'] are not in"),
        ("seed = 1", "seed = 1\nstep_ns = -1", "synthetic.step_ns: expected int >= 1, got -1"),
    ],
)
def test_errors_name_the_table_and_key(old: str, new: str, message: str) -> None:
    assert old in MINIMAL
    with pytest.raises(VenueConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(MINIMAL.replace(old, new, 1))


def test_faults_must_aim_at_listed_symbols_and_participants() -> None:
    halt = '\n[[venues.faults.halts]]\nsymbol = "CCC"\nat_s = 1.0\n'
    with pytest.raises(VenueConfigError, match="halt of 'CCC'"):
        load(MINIMAL + halt)
    disconnect = '\n[[venues.faults.fix_disconnects]]\nparticipant = "P9"\nat_s = 1.0\n'
    with pytest.raises(VenueConfigError, match="'P9' is not a participant"):
        load(MINIMAL + disconnect)
    backwards = '\n[[venues.faults.halts]]\nsymbol = "AAA"\nat_s = 5.0\nresume_s = 4.0\n'
    with pytest.raises(VenueConfigError, match=r"venues\[0\].faults.halts\[0\]"):
        load(MINIMAL + backwards)
    config = load(MINIMAL + '\n[[venues.faults.fix_disconnects]]\nparticipant = "*"\nat_s = 2\n')
    assert config.venues[0].faults.fix_disconnects[0].participant == "*"


def test_two_venues_may_not_share_a_name_session_or_fix_port() -> None:
    second = MINIMAL[MINIMAL.index("[[venues]]") :]
    with pytest.raises(VenueConfigError, match="name 'V1' is also used"):
        load(MINIMAL + second)
    renamed = second.replace('name = "V1"', 'name = "V2"').replace("fix_port = 0", "fix_port = 9")
    renamed = renamed.replace("239.255.1.1", "239.255.1.2").replace("30001", "30011")
    config = load(MINIMAL.replace("fix_port = 0", "fix_port = 9") + renamed.replace("9", "8", 1))
    assert [v.name for v in config.venues] == ["V1", "V2"]
    with pytest.raises(VenueConfigError, match=r"venues\[1\] \(V2\).fix_port: fix_port 9 is also used by venues\[0\] \(V1\).fix_port"):
        load(MINIMAL.replace("fix_port = 0", "fix_port = 9") + renamed)


def test_two_venues_may_not_share_a_multicast_group_or_a_udp_port() -> None:
    second = MINIMAL[MINIMAL.index("[[venues]]") :].replace('name = "V1"', 'name = "V2"')
    with pytest.raises(VenueConfigError, match=r"venues\[1\] \(V2\).market_data.group: "
                       r"multicast group '239.255.1.1' is also used by venues\[0\]"):
        load(MINIMAL + second.replace("30001", "30011"))
    with pytest.raises(VenueConfigError, match=r"market_data.port: UDP port 30001 is also used"):
        load(MINIMAL + second.replace("239.255.1.1", "239.255.1.2"))


def test_the_command_reports_a_bad_file_and_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MINIMAL.replace("[synthetic]", "[synthetic]\nwhat = 1"))
    assert main(["venue", "--config", str(path)]) == 2
    assert f"{path}: synthetic.what: unknown key" in capsys.readouterr().err
    assert main(["venue", "--config", str(tmp_path / "missing.toml")]) == 2
