"""Operations of a running `calarb demo` (real processes, loopback): the engine's and the venue
process's /metrics parsed with prometheus_client, the control's token check over HTTP, and
the dashboard driven in Debian's chromium by Playwright (page, live charts, an alert made to
fire by freezing the venue process, kill switch refused without the token and engaged with
it, a screenshot in the report folder).

One demo serves the whole module (it takes a while to start on a shared machine); the tests
run in file order and the kill switch comes last."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tomli_w
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.network, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
START_TIMEOUT_S = 120.0
TRADE_TIMEOUT_S = 90.0
# The module's waits add up to several minutes on a loaded 2-core CI machine: the demo must
# outlive them all (the fixture stops it with SIGINT when the module is done).
DEMO_DURATION_S = 3600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


class Demo:
    def __init__(self, folder: Path) -> None:
        self.report = Path(os.environ.get("CALARB_OPS_REPORT_DIR", folder / "report"))
        self.engine_metrics_port = free_port()
        self.venue_metrics_port = free_port()
        engine = tomllib.loads((REPO / "configs/demo_engine.toml").read_text())
        for pair in engine["pairs"]:  # trade soon: fewer observations, nearer bands
            pair.update(min_observations=300, entry=1.0, exit=0.2)
        engine["metrics"] = {"port": self.engine_metrics_port}
        engine["dashboard"] = {"push_interval_ms": 500}
        engine["alerts"] = {"evaluate_interval_ms": 100, "stale_model_ms": 1500}
        venues = tomllib.loads((REPO / "configs/demo_venues.toml").read_text())
        venues["metrics"] = {"port": self.venue_metrics_port}
        self.engine_config = folder / "engine.toml"
        self.engine_config.write_text(tomli_w.dumps(engine))
        self.venues_config = folder / "venues.toml"
        self.venues_config.write_text(tomli_w.dumps(venues))
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.url = self.token = ""
        self.venue_pid = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "calarb.cli", "demo", "--duration", str(DEMO_DURATION_S),
             "--report", str(self.report), "--engine-config", str(self.engine_config),
             "--venues-config", str(self.venues_config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (self.url and self.token):
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no dashboard line: {self.stderr[-20:]}") from None
            if line is None:
                raise AssertionError(f"the demo ended: {self.stderr[-20:]}")
            if match := re.match(r"dashboard: (http://\S+)", line):
                self.url = match[1]
            if match := re.match(r"dashboard control token: (\S+)", line):
                self.token = match[1]
        pids = children(self.process.pid)
        assert len(pids) == 1, f"expected the venue child, found {pids}"
        self.venue_pid = pids[0]

    def _read(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.venue_pid, signal.SIGCONT)
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.venue_pid, signal.SIGKILL)


    def ended(self) -> str:
        """Why the demo is gone ('' while it runs): its exit status and last lines."""
        if self.process is None or self.process.poll() is None:
            return ""
        return f"the demo exited with {self.process.returncode}: {self.stderr[-20:]}"


DEMO: Demo | None = None  # the module's running demo, so that a refused request says why


def fetch(url: str | urllib.request.Request):
    """urlopen, but a refused connection names the demo's fate rather than only errno 111."""
    try:
        return urllib.request.urlopen(url, timeout=30)
    except urllib.error.URLError as error:
        if isinstance(error, urllib.error.HTTPError) or DEMO is None or not DEMO.ended():
            raise
        raise AssertionError(DEMO.ended()) from error


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """/metrics parsed: sample name -> {sorted labels: value}."""
    with fetch(f"http://127.0.0.1:{port}/metrics") as response:
        text = response.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(samples: dict[str, dict[tuple, float]], name: str) -> float:
    return sum(samples.get(name, {}).values())


def scrape_until(port: int, condition, timeout_s: float, what: str):
    """Scrape until `condition(samples)` holds; those samples."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            samples = scrape(port)
        except TimeoutError:  # a process starved by a saturated machine: ask again
            continue
        if condition(samples):
            return samples
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def state(demo: Demo) -> dict:
    with fetch(demo.url + "api/state") as response:
        return json.loads(response.read())


def post(url: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method="POST", data=b"")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with fetch(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    global DEMO
    running = DEMO = Demo(tmp_path_factory.mktemp("ops-demo"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_engine_metrics_move_as_orders_and_fills_happen(demo):
    first = scrape(demo.engine_metrics_port)
    assert first["calarb_trading_state"][(("state", "ACTIVE"),)] in (0.0, 1.0)
    # Prometheus names, base units: the histogram of tick to trade in seconds has buckets.
    assert "calarb_tick_to_trade_seconds_bucket" in first
    assert "calarb_event_loop_lag_seconds" in first
    traded = scrape_until(
        demo.engine_metrics_port,
        lambda s: (
            total(s, "calarb_fills_total") > total(first, "calarb_fills_total")
            and total(s, "calarb_orders_total") > total(first, "calarb_orders_total")
        ),
        TRADE_TIMEOUT_S,
        "orders and fills in the engine's metrics",
    )
    assert total(traded, "calarb_orders_total") > total(first, "calarb_orders_total")
    assert total(traded, "calarb_fills_total") > total(first, "calarb_fills_total")
    sides = {dict(labels)["side"] for labels in traded["calarb_orders_total"]}
    venues = {dict(labels)["venue"] for labels in traded["calarb_orders_total"]}
    assert sides <= {"buy", "sell"} and venues <= {"ALPHA", "BETA"}
    assert total(traded, "calarb_filled_shares_total") >= total(traded, "calarb_fills_total")
    ttt_count = traded["calarb_tick_to_trade_seconds_count"][()]
    assert ttt_count > 0
    assert traded["calarb_tick_to_trade_seconds_bucket"][(("le", "+Inf"),)] == ttt_count
    assert traded["calarb_trading_state"][(("state", "ACTIVE"),)] == 1.0
    for venue in ("ALPHA", "BETA"):
        assert traded["calarb_fix_session_up"][(("venue", venue),)] == 1.0
        assert traded["calarb_fix_next_sender_seq"][(("venue", venue),)] > 1
        assert traded["calarb_feed_messages_total"][(("venue", venue),)] > 0
    assert set(dict(k)["component"] for k in traded["calarb_pnl"]) == {
        "realized", "unrealized", "fees", "net",
    }  # fmt: skip
    limits = {dict(k)["limit"] for k in traded["calarb_risk_limit_utilisation_ratio"]}
    assert {"gross_exposure", "daily_loss", "open_orders", "position:AAA"} <= limits


def test_venue_process_metrics_count_the_engines_orders(demo):
    samples = scrape_until(
        demo.venue_metrics_port,
        lambda s: total(s, "calarb_venue_order_requests_total") > 0,
        TRADE_TIMEOUT_S,
        "order requests in the venue process's metrics",
    )
    assert total(samples, "calarb_venue_execution_reports_total") > 0
    assert total(samples, "calarb_venue_feed_messages_total") > 0
    up = samples["calarb_venue_fix_session_up"]
    assert set(up.values()) == {1.0} and len(up) == 2
    later = scrape_until(
        demo.venue_metrics_port,
        lambda s: (
            total(s, "calarb_venue_feed_messages_total")
            > total(samples, "calarb_venue_feed_messages_total")
        ),
        30,
        "the venue's feed counter to move",
    )
    assert total(later, "calarb_venue_order_requests_total") >= total(
        samples, "calarb_venue_order_requests_total"
    )


def test_controls_refuse_requests_without_the_token(demo):
    deadline = time.monotonic() + 60  # a loaded machine may still be warming up (feeds)
    before = state(demo)
    while before["trading_state"] == "WARMING_UP" and time.monotonic() < deadline:
        time.sleep(0.5)
        before = state(demo)
    assert before["trading_state"] == "ACTIVE"
    for token in (None, "", "wrong-" + demo.token):
        status, body = post(demo.url + "api/kill", token)
        assert status == 401, body
        status, body = post(demo.url + "api/pairs/BBB/AAA/halt", token)
        assert status == 401, body
    after = state(demo)
    assert after["trading_state"] == "ACTIVE"
    assert after["halted_pairs"] == [] and not after["pairs"]["BBB/AAA"]["halted"]
    # With the token: a pair halts (its legs refused by the risk gate) and resumes.
    status, body = post(demo.url + "api/pairs/BBB/AAA/halt", demo.token)
    assert status == 200 and body == {"pair": "BBB/AAA", "halted": True}
    assert state(demo)["pairs"]["BBB/AAA"]["halted"]
    assert scrape(demo.engine_metrics_port)["calarb_pair_halted"][(("pair", "BBB/AAA"),)] == 1
    status, body = post(demo.url + "api/pairs/BBB/AAA/resume", demo.token)
    assert status == 200 and body["halted"] is False
    status, body = post(demo.url + "api/pairs/NOPE/halt", demo.token)
    assert status == 404, body


def _launch(playwright, user_data: Path):
    return playwright.chromium.launch_persistent_context(
        str(user_data), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


def test_dashboard_in_chromium(demo, tmp_path):
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip(
            "Debian chromium is not installed (.ci/run installs it: apt-get install -y chromium)"
        )
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        context = _launch(playwright, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.set_default_timeout(60_000)  # a shared 2-core machine: generous waits
            page.goto(demo.url, wait_until="load")
            # Loaded: plotly.js came from the engine (no network), charts exist, updates flow.
            page.wait_for_function("() => Number(document.body.dataset.updates || 0) >= 3")
            points = page.evaluate("() => document.getElementById('pnl-chart').data[0].x.length")
            page.wait_for_function(
                f"() => document.getElementById('pnl-chart').data[0].x.length > {points} + 3"
            )
            assert page.locator("#z-BBB\\/AAA .main-svg").count() >= 1
            assert page.locator("#feeds td").count() > 0
            assert page.locator("#limits .limit-row").count() >= 5
            # An alert made to fire: the venue process frozen, no market data, the models go
            # stale; it resolves when the venue runs again. First the models must be live (a
            # starved engine can fall behind its feeds: then this says so).
            stale = "#alerts li.firing[data-rule='stale_model']"
            try:
                page.wait_for_function(f'() => !document.querySelector("{stale}")')
            except playwright_api.TimeoutError:
                pytest.fail(f"models stale before the fault: feeds {state(demo)['feeds']}")
            os.kill(demo.venue_pid, signal.SIGSTOP)
            try:
                page.locator(stale).first.wait_for()
            finally:
                os.kill(demo.venue_pid, signal.SIGCONT)
            page.screenshot(path=str(demo.report / "dashboard-alert.png"), full_page=True)
            page.locator(
                "#alert-history li[data-kind='resolved'][data-rule='stale_model']"
            ).first.wait_for(state="attached")
            # Kill switch without the token: refused, still trading.
            page.fill("#token", "")
            page.click("#kill")
            page.wait_for_function(
                "() => document.getElementById('control-result').dataset.status === '401'"
            )
            assert state(demo)["trading_state"] == "ACTIVE"
            assert page.inner_text("#trading-state") == "ACTIVE"
            # With the token: HALTED, in the page, the engine and its metrics.
            page.fill("#token", demo.token)
            page.click("#kill")
            page.wait_for_function(
                "() => document.getElementById('trading-state').textContent === 'HALTED'"
            )
            assert state(demo)["trading_state"] == "HALTED"
            assert (
                scrape(demo.engine_metrics_port)["calarb_trading_state"][(("state", "HALTED"),)]
                == 1.0
            )
            page.screenshot(path=str(demo.report / "dashboard.png"), full_page=True)
            assert not errors, errors
        finally:
            context.close()
    assert (demo.report / "dashboard.png").stat().st_size > 10_000
