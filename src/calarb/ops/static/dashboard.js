// calarb live dashboard: history from /api/history, then one server-sent `state` event per
// snapshot (/api/events). Charts are plotly.js, served by the engine from the plotly package.
"use strict";
const MAX_POINTS = 1200;
const layout = (extra) => Object.assign({
  margin: {l: 45, r: 10, t: 10, b: 30}, showlegend: true, legend: {orientation: "h", y: -0.2},
  xaxis: {title: {text: "s"}}, uirevision: "keep",
}, extra || {});
const config = {displayModeBar: false, responsive: true};
const state = {pairs: {}, updates: 0, pairsBuilt: false};
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? "").replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
const fmt = (v, d = 2) => (v === null || v === undefined) ? "-" : Number(v).toFixed(d);

const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
if (hashToken) $("token").value = hashToken;

function table(el, header, rows) {
  el.innerHTML = "<tr>" + header.map((h) => `<th>${esc(h)}</th>`).join("") + "</tr>" +
    rows.map((r) => "<tr>" + r.map((c) => `<td>${esc(c)}</td>`).join("") + "</tr>").join("");
}

async function control(path) {
  const response = await fetch(path, {method: "POST", headers: {Authorization: "Bearer " + $("token").value}});
  const body = await response.json().catch(() => ({}));
  $("control-result").textContent = response.ok ? "done" : `refused (${response.status}): ${body.error || ""}`;
  $("control-result").dataset.status = String(response.status);
  return response.status;
}
$("kill").addEventListener("click", () => control("/api/kill"));

function bands(pair) {
  const lines = [];
  for (const [level, colour] of [[pair.entry, "#d68910"], [pair.exit, "#1f8a4c"], [pair.stop, "#c0392b"]]) {
    for (const sign of [1, -1]) {
      lines.push({type: "line", xref: "paper", x0: 0, x1: 1, y0: sign * level, y1: sign * level,
                  line: {color: colour, width: 1, dash: "dot"}});
    }
  }
  return lines;
}

function buildPairs(history, snapshot) {
  const container = $("pairs");
  container.innerHTML = "";
  for (const [name, pair] of Object.entries(snapshot.pairs)) {
    const h = history.pairs[name] || {time_s: [], z: [], hedge_ratio: [], trades: []};
    const block = document.createElement("div");
    block.className = "pair";
    block.innerHTML = `<div class="pair-head"><b>${esc(name)}</b> <span id="pair-info-${esc(name)}"></span>
      <button data-pair="${esc(name)}" data-action="halt">Halt</button>
      <button data-pair="${esc(name)}" data-action="resume">Resume</button></div>
      <div id="z-${esc(name)}" class="chart"></div><div id="beta-${esc(name)}" class="chart"></div>`;
    container.appendChild(block);
    const buys = h.trades.filter((t) => t.side === "buy"), sells = h.trades.filter((t) => t.side !== "buy");
    Plotly.newPlot(`z-${name}`, [
      {x: h.time_s, y: h.z, name: "z-score", mode: "lines", line: {width: 1}},
      {x: buys.map((t) => t.time_s), y: buys.map((t) => t.z), name: "buy fills", mode: "markers", marker: {symbol: "triangle-up", color: "#1f8a4c", size: 8}},
      {x: sells.map((t) => t.time_s), y: sells.map((t) => t.z), name: "sell fills", mode: "markers", marker: {symbol: "triangle-down", color: "#c0392b", size: 8}},
    ], layout({shapes: bands(pair), yaxis: {title: {text: "z"}}}), config);
    const truth = pair.true_hedge_ratio;
    Plotly.newPlot(`beta-${name}`, [
      {x: h.time_s, y: h.hedge_ratio, name: "estimated", mode: "lines", line: {width: 1}},
      {x: h.time_s, y: h.time_s.map(() => truth), name: "simulator's true", mode: "lines", line: {dash: "dash", color: "#888"}},
    ], layout({yaxis: {title: {text: "hedge ratio"}}}), config);
  }
  container.querySelectorAll("button[data-pair]").forEach((b) =>
    b.addEventListener("click", () => control(`/api/pairs/${encodeURIComponent(b.dataset.pair)}/${b.dataset.action}`)));
  state.pairsBuilt = true;
}

function extendPairs(snapshot) {
  const t = snapshot.points.time_s;
  for (const [name, point] of Object.entries(snapshot.points.pairs)) {
    const pair = snapshot.pairs[name];
    const buys = point.trades.filter((m) => m.side === "buy"), sells = point.trades.filter((m) => m.side !== "buy");
    Plotly.extendTraces(`z-${name}`, {
      x: [[t], buys.map((m) => m.time_s), sells.map((m) => m.time_s)],
      y: [[point.z], buys.map((m) => m.z), sells.map((m) => m.z)],
    }, [0, 1, 2], MAX_POINTS);
    Plotly.extendTraces(`beta-${name}`, {x: [[t], [t]], y: [[point.hedge_ratio], [pair.true_hedge_ratio]]}, [0, 1], MAX_POINTS);
    $(`pair-info-${name}`).textContent = `${pair.signal}, z ${fmt(pair.z)}, hedge ${fmt(pair.hedge_ratio, 4)}` +
      (pair.true_hedge_ratio ? ` (true ${fmt(pair.true_hedge_ratio, 4)})` : "") + (pair.halted ? " HALTED" : "");
  }
}

function render(snapshot) {
  $("trading-state").textContent = snapshot.trading_state;
  $("trading-state").className = "state " + snapshot.trading_state;
  $("state-reason").textContent = snapshot.trading_state_reason || "";
  $("pnl-net").textContent = `net P&L ${fmt(snapshot.pnl.net)}`;
  $("clock").textContent = `${fmt(snapshot.time_s, 1)} s, ${snapshot.counters.orders_sent} orders, ${snapshot.counters.fills} fills`;
  const p = snapshot.points;
  Plotly.extendTraces("pnl-chart", {
    x: [[p.time_s], [p.time_s], [p.time_s], [p.time_s]],
    y: [[p.pnl.net], [p.pnl.realized], [p.pnl.unrealized], [p.pnl.fees]],
  }, [0, 1, 2, 3], MAX_POINTS);
  extendPairs(snapshot);
  const stages = Object.keys(snapshot.latency).filter((s) => snapshot.latency[s].count);
  Plotly.react("latency-chart", ["p50", "p99", "p999"].map((q) => ({
    type: "bar", name: q, x: stages, y: stages.map((s) => snapshot.latency[s][q]),
  })), layout({barmode: "group", xaxis: {}, yaxis: {type: "log", title: {text: "µs"}}}), config);
  table($("positions"), ["symbol", "shares", "exposure"],
    Object.entries(snapshot.positions).map(([s, q]) => [s, q, fmt(snapshot.exposure[s])]));
  $("limits").innerHTML = snapshot.limits.map((l) => {
    const pct = Math.min(100, 100 * l.utilisation);
    return `<div class="limit-row"><span>${esc(l.limit)}</span><div class="bar${pct >= 90 ? " hot" : ""}"><div style="width:${pct}%"></div></div><span>${pct.toFixed(1)}%</span></div>`;
  }).join("");
  table($("feeds"), ["venue", "caught up", "messages", "gaps", "recovered", "missing now", "next seq"],
    Object.entries(snapshot.feeds).map(([v, f]) => [v, f.caught_up ? "yes" : "no", f.messages_delivered, f.gaps_detected, f.gaps_recovered, f.missing_ranges, f.next_sequence]));
  table($("sessions"), ["venue", "state", "out seq", "in seq", "missed hb", "reconnects"],
    Object.entries(snapshot.sessions).map(([v, s]) => [v, s.state, s.next_sender_seq, s.next_target_seq, s.test_requests, s.reconnects]));
  table($("open-orders"), ["ClOrdID", "venue", "symbol", "side", "price", "leaves", "status"],
    snapshot.open_orders.map((o) => [o.cl_ord_id, o.venue, o.symbol, o.side, fmt(o.price, 4), o.leaves, o.status]));
  table($("fills"), ["time s", "venue", "symbol", "side", "shares", "price", "tag"],
    snapshot.fills.slice().reverse().map((f) => [fmt(f.time_s, 2), f.venue, f.symbol, f.side, f.quantity, fmt(f.price, 4), f.tag]));
  const alerts = snapshot.alerts.active;
  $("alerts").innerHTML = alerts.length ? alerts.map((a) =>
    `<li class="firing" data-rule="${esc(a.rule)}">${esc(a.key)}: ${esc(a.message)} (since ${fmt(a.fired_s, 1)} s)</li>`).join("")
    : '<li class="muted">none</li>';
  $("alert-history").innerHTML = snapshot.alerts.recent.slice().reverse().map((e) =>
    `<li data-kind="${esc(e.kind)}" data-rule="${esc(e.rule)}">${esc(e.kind)} ${esc(e.key)}: ${esc(e.message)}</li>`).join("");
  state.updates += 1;
  document.body.dataset.updates = String(state.updates);
}

async function start() {
  const [history, snapshot] = await Promise.all([
    fetch("/api/history").then((r) => r.json()), fetch("/api/state").then((r) => r.json()),
  ]);
  Plotly.newPlot("pnl-chart", ["net", "realized", "unrealized", "fees"].map((k) => ({
    x: history.time_s, y: history.pnl[k], name: k, mode: "lines", line: {width: 1},
  })), layout({yaxis: {title: {text: "currency"}}}), config);
  Plotly.newPlot("latency-chart", [], layout(), config);
  buildPairs(history, snapshot);
  const events = new EventSource("/api/events");
  events.addEventListener("state", (e) => render(JSON.parse(e.data)));
  events.onerror = () => { $("trading-state").textContent = "reconnecting"; };
}
start();
