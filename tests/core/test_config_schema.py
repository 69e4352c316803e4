"""The configuration validation layer: one line naming the file, the key and the reason."""

from __future__ import annotations

from typing import Literal

import pytest

from calarb.core.config_schema import (
    ConfigError,
    FixedPort,
    MulticastGroup,
    PositiveInt,
    Schema,
    check_distinct,
    did_you_mean,
    load_toml,
    validate,
)


class Leg(Schema, kw_only=True):
    symbol: str
    size: PositiveInt = 100
    style: Literal["limit", "ioc"] = "ioc"


class Feed(Schema, kw_only=True):
    group: MulticastGroup
    port: FixedPort


class File(Schema, kw_only=True):
    legs: list[Leg] = []
    feed: Feed | None = None
    entry: float = 2.0


@pytest.mark.parametrize(
    "document, message",
    [
        ({"entyr": 1.5}, "f.toml: entyr: unknown key (did you mean 'entry'?)"),
        ({"legs": [{"symbol": "A"}, {"symbol": "B", "sise": 5}]},
         "f.toml: legs[1].sise: unknown key (did you mean 'size'?)"),
        ({"legs": [{"symbol": "A", "size": -5}]}, "f.toml: legs[0].size: expected int >= 1, got -5"),
        ({"legs": [{"symbol": "A", "size": "lots"}]},
         "f.toml: legs[0].size: expected int, got 'lots'"),
        ({"legs": [{"size": 5}]}, "f.toml: legs[0].symbol: required key missing"),
        ({"legs": [{"symbol": "A", "style": "fok"}]},
         "f.toml: legs[0].style: must be one of 'limit', 'ioc', got 'fok'"),
        ({"entry": "high"}, "f.toml: entry: expected float, got 'high'"),
        ({"feed": {"group": "10.0.0.1", "port": 1}},
         "f.toml: feed.group: expected an IPv4 multicast group (224.0.0.0 to 239.255.255.255), "
         "got '10.0.0.1'"),
        ({"feed": {"group": "239.1.1.1", "port": 70000}},
         "f.toml: feed.port: expected int <= 65535, got 70000"),
    ],
)  # fmt: skip
def test_the_first_problem_is_one_line_with_file_key_and_reason(document, message):
    with pytest.raises(ConfigError) as caught:
        validate(document, File, "f.toml")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_a_valid_document_passes_and_floats_accept_integers():
    checked = validate({"entry": 3, "legs": [{"symbol": "A"}]}, File, "f.toml")
    assert checked.entry == 3.0 and checked.legs[0].size == 100


def test_lax_mode_reads_numbers_from_text_as_ini_files_hold_them():
    assert validate({"legs": [{"symbol": "A", "size": "7"}]}, File, "x.cfg", strict=False)
    with pytest.raises(ConfigError, match=r"x.cfg: S\[0\].legs\[0\].size: expected int >= 1"):
        validate({"legs": [{"symbol": "A", "size": "0"}]}, File, "x.cfg", "S[0]", strict=False)


def test_conflicts_name_both_entries():
    with pytest.raises(ConfigError, match=r"^f: venues\[1\].port: UDP port 5 is also used by "
                       r"venues\[0\].port$"):
        check_distinct("f", [("venues[0].port", 5), ("venues[1].port", 5)], "UDP port")
    check_distinct("f", [("a", 1), ("b", 2)], "UDP port")


def test_did_you_mean_and_files(tmp_path):
    assert did_you_mean("Pasword", ["Password", "Username"]) == " (did you mean 'Password'?)"
    assert did_you_mean("heartbtint", ["HeartBtInt"]) == " (did you mean 'HeartBtInt'?)"
    assert did_you_mean("colour", ["size", "entry"]) == ""
    with pytest.raises(ConfigError, match="nosuch.toml: no such configuration file"):
        load_toml(tmp_path / "nosuch.toml")
    (tmp_path / "bad.toml").write_text("a = 1\nb = = 2\n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML: .*line"):
        load_toml(tmp_path / "bad.toml")
