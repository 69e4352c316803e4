"""`[metrics]`, `[dashboard]`, `[alerts]` checked before anything starts: one clear line naming
the table and key, a non-zero exit from the commands; the latency histogram's conversion to
Prometheus buckets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from calarb.ops.metrics import LATENCY_BUCKETS_S, histogram_buckets
from calarb.ops.settings import OperationsSettingsError, parse_metrics, parse_operations
from calarb.trading.config import ConfigError, parse_config

REPO = Path(__file__).resolve().parents[2]


def test_defaults_bind_loopback_and_keep_metrics_off():
    settings = parse_operations({})
    assert settings.metrics.port == 0 and settings.metrics.host == "127.0.0.1"
    assert settings.dashboard.host == "127.0.0.1" and not settings.dashboard.enabled
    assert settings.alerts.webhook_url == ""


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"metrics": {"prot": 9000}}, r"metrics\.prot: unknown key \(did you mean 'port'\?\)"),
        ({"metrics": {"port": 70000}}, r"metrics\.port: expected int <= 65535, got 70000"),
        ({"metrics": {"port": "9000"}}, r"metrics\.port: expected int, got '9000'"),
        ({"dashboard": {"push_interval_ms": 5000}}, r"dashboard\.push_interval_ms: expected"),
        ({"alerts": {"risk_utilisation": 1.5}}, r"alerts\.risk_utilisation: expected float"),
        ({"alerts": {"webhook_url": "ftp://x/"}}, r"alerts: webhook_url .* must start with http://"),
        ({"alerts": [1, 2]}, r"alerts: expected a table, got list"),
    ],
)
def test_bad_tables_name_the_table_and_key(document, message):
    with pytest.raises(OperationsSettingsError, match=message):
        parse_operations(document)


def test_run_config_carries_the_tables_and_rejects_bad_ones():
    document = {
        "pairs": [{"leg_a": "BBB", "leg_b": "AAA"}],
        "venues": [
            {"name": "V", "fix": {"BeginString": "FIX.4.4", "SenderCompID": "A",
                                  "TargetCompID": "B", "SocketConnectHost": "127.0.0.1",
                                  "SocketConnectPort": 1},
             "feed": {"group": "239.1.1.1", "port": 1000, "retransmission_port": 1001}},
        ],
        "metrics": {"port": 9100},
        "alerts": {"stale_model_ms": 100},
    }  # fmt: skip
    config = parse_config(document, REPO)
    assert config.operations.metrics.port == 9100
    assert config.operations.alerts.stale_model_ms == 100
    assert config.with_dashboard().operations.dashboard.enabled
    document["dashboard"] = {"tokne": "x"}
    with pytest.raises(ConfigError, match=r"dashboard\.tokne: unknown key \(did you mean 'token'\?\)"):
        parse_config(document, REPO)


def test_venue_metrics_table():
    assert parse_metrics({"metrics": {"port": 9101}}).port == 9101
    with pytest.raises(OperationsSettingsError, match=r"metrics\.dashboard: unknown key"):
        parse_metrics({"metrics": {"dashboard": True}})


def test_commands_exit_with_one_line_on_a_bad_table(tmp_path):
    engine = tmp_path / "engine.toml"
    engine.write_text((REPO / "configs/demo_engine.toml").read_text() + "\n[alerts]\nnope = 1\n")
    run = subprocess.run(
        [sys.executable, "-m", "calarb.cli", "run", "--config", str(engine), "--duration", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "alerts.nope: unknown key" in run.stderr
    venues = tmp_path / "venues.toml"
    venues.write_text((REPO / "configs/demo_venues.toml").read_text() + "\n[metrics]\nport = -1\n")
    venue = subprocess.run(
        [sys.executable, "-m", "calarb.cli", "venue", "--config", str(venues), "--duration", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert venue.returncode == 2
    assert venue.stderr.count("\n") == 1 and "metrics.port: expected int >= 0" in venue.stderr
    assert str(venues) in venue.stderr
    flag = subprocess.run(
        [sys.executable, "-m", "calarb.cli", "venue", "--config",
         str(REPO / "configs/demo_venues.toml"), "--metrics-port", "70000"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert flag.returncode == 2 and flag.stderr == (
        "calarb venue: --metrics-port 70000 is not a port\n"
    )


def test_histogram_buckets_are_cumulative_seconds():
    histogram = HdrHistogram(1, 60_000_000_000, 3)
    for value_ns, count in ((800, 3), (1_500, 2), (40_000, 4), (3_000_000_000, 1)):
        histogram.record_value(value_ns, count)
    buckets, total_s = histogram_buckets(histogram)
    bounds = dict(buckets)
    assert len(buckets) == len(LATENCY_BUCKETS_S) + 1
    assert bounds["1e-06"] == 3  # 800 ns
    assert bounds["2.5e-06"] == 5  # + 1.5 us
    assert bounds["5e-05"] == 9  # + 40 us
    assert bounds["1.0"] == 9 and bounds["+Inf"] == 10  # 3 s only in +Inf
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)
    assert total_s == pytest.approx(3 * 800e-9 + 2 * 1.5e-6 + 4 * 40e-6 + 3.0, rel=1e-3)


def test_percentiles_match_hdrh_and_buckets_match_a_direct_count():
    import numpy as np

    from calarb.ops.histograms import percentiles_us

    rng = np.random.default_rng(7)
    values = (rng.lognormal(10, 1.5, 3000).astype(np.int64) + 1).tolist()
    histogram = HdrHistogram(1, 60_000_000_000, 3)
    for value in values:
        histogram.record_value(value)
    summary = percentiles_us(histogram)
    for name, percentile in (("p50", 50.0), ("p99", 99.0), ("p999", 99.9)):
        assert summary[name] == histogram.get_value_at_percentile(percentile) / 1_000
    assert summary["count"] == 3000
    buckets, _ = histogram_buckets(histogram)
    for bound, count in buckets[:-1]:
        # At 3 significant digits a value within 0.1% of the bound may fall either side.
        low = sum(v <= float(bound) * 1e9 * 0.999 for v in values)
        high = sum(v <= float(bound) * 1e9 * 1.001 for v in values)
        assert low <= count <= high, (bound, count, low, high)
    assert summary["sum_us"] == pytest.approx(sum(values) / 1_000, rel=1e-3)
    assert percentiles_us(HdrHistogram(1, 60_000_000_000, 3)) == {
        "p50": 0.0, "p99": 0.0, "p999": 0.0, "count": 0, "sum_us": 0.0,
    }  # fmt: skip


def test_a_metrics_port_in_use_is_one_line_and_exit_1():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        venue = subprocess.run(
            [sys.executable, "-m", "calarb.cli", "venue", "--config",
             str(REPO / "configs/demo_venues.toml"), "--metrics-port", str(port),
             "--duration", "5"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert venue.returncode == 1
    assert venue.stderr == f"calarb venue: metrics: cannot listen on 127.0.0.1:{port}: " + (
        "Address already in use\n"
    )
