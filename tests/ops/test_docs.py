"""docs/operations.md documents every metric the collectors emit and every alert rule; the
Grafana dashboard uses only documented metrics; the Prometheus example names both jobs."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

from calarb.ops import alerts, metrics

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPERATIONS = (DOCS / "operations.md").read_text()
NAME = re.compile(r"calarb_[a-z0-9_]+")


def documented(name: str) -> bool:
    return f"`{name}`" in OPERATIONS or f"`{name}_total`" in OPERATIONS


def test_every_metric_in_the_collectors_is_documented():
    source = inspect.getsource(metrics)
    names = set(NAME.findall(source))
    assert len(names) > 50
    missing = sorted(n for n in names if not documented(n))
    assert not missing, f"not in docs/operations.md: {missing}"


def test_every_alert_rule_is_documented():
    rules = set(re.findall(r'f?"([a-z_0-9]+)(?::\{[a-z]+\})?"\s*:\s*\(', inspect.getsource(alerts)))
    rules |= set(re.findall(r'key = f"([a-z_]+):', inspect.getsource(alerts)))
    rules |= {k.split(":")[0] for k in re.findall(r'f"([a-z_]+):\{', inspect.getsource(alerts))}
    assert {"tick_to_trade_p99", "feed_gap", "fix_session_down", "risk_limit", "daily_loss",
            "reject_rate", "stale_model"} <= rules  # fmt: skip
    for rule in rules:
        assert f"`{rule}" in OPERATIONS, rule


def test_grafana_and_prometheus_examples_use_documented_metrics():
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", n) for e in expressions for n in NAME.findall(e)}
    assert used and all(documented(n) for n in used), sorted(n for n in used if not documented(n))
    prometheus = (DOCS / "prometheus.yml").read_text()
    assert "job_name: calarb-engine" in prometheus and "job_name: calarb-venue" in prometheus
