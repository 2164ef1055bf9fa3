// The operations page: GET /ops/summary every few seconds, GET /drift, and a SKU's explain as a
// waterfall. No framework and no build step. Every text from the engine (SKUs, reasons) goes
// into the page as text, never as HTML: a dead letter's reason may quote a hostile record.
"use strict";

const TOKEN_KEY = "stockstream.token";
const REFRESH_MS = 5000;
const DRIFT_ROWS = 50;
const SVG = "http://www.w3.org/2000/svg";

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

const cell = (value, numeric = false) => el("td", numeric ? {class: "num"} : {}, value ?? "–");

function rows(tbody, items, render, empty) {
  const head = tbody.closest("table").tHead;
  tbody.replaceChildren(...(items.length ? items.map(render)
    : [el("tr", {class: "empty"}, el("td", {colspan: head ? head.rows[0].cells.length : 2}, empty))]));
}

// Reads carry the token the user gave (sessionStorage: gone with the tab), as the API wants it.
async function getJSON(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, {headers: token ? {Authorization: `Bearer ${token}`} : {}, cache: "no-store"});
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: the status says enough */ }
  return {status: response.status, body};
}

function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return iso.slice(0, 10);
}

const when = (iso) => el("time", {datetime: iso, title: iso ?? ""}, ago(iso));
function waited(seconds) {
  if (seconds === null) return "unknown";
  if (seconds < 1) return "–";
  return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

function refused(status, what) {
  if (status === 401 || status === 403) return `${what}: this worker protects reads — use a token with the read scope`;
  if (status === 503) return `${what}: the worker is rebalancing or Kafka is away; retrying`;
  return `${what}: the worker answered ${status}`;
}

// ---- the summary -----------------------------------------------------------------------

async function refresh() {
  let summary, drift;
  try {
    [summary, drift] = await Promise.all([getJSON("/ops/summary"), getJSON("/drift")]);
  } catch (_) {  // the worker is gone (stopped, restarting): say so, try again at the next tick
    $("#status").textContent = `${location.host} does not answer; retrying`;
    $("#status").className = "warn";
    return;
  }
  if (summary.status === 200) {
    showSummary(summary.body);
    $("#status").textContent = `updated ${new Date().toLocaleTimeString()} · ${location.host}`;
    $("#status").className = "muted";
  } else {
    $("#status").textContent = refused(summary.status, "summary");
    $("#status").className = "warn";
  }
  showDrift(drift);
}

function showSummary(summary) {
  rows($("#channels tbody"), summary.channels, (c) => el("tr", {"data-channel": c.channel},
    el("td", {}, c.channel), cell(c.published, true), el("td", {}, when(c.last_published_at)),
    cell(c.lag_records, true), cell(waited(c.lag_seconds), true), cell(`${c.publish_interval} s`, true)),
    "no channels in the policies in force (stockstream policies apply)");

  rows($("#sinks tbody"), summary.sinks, (s) => el("tr", {"data-sink": s.sink},
    el("td", {}, s.sink), cell(s.channel), el("td", {}, el("span", {class: `badge ${s.status.replace(" ", "-")}`}, s.status)),
    cell(s.lag_records, true), cell(s.lag_records === null ? null : waited(s.lag_seconds), true), cell(s.dlq_records, true)),
    "no sink has run against this deployment yet");

  const letters = summary.dead_letters;
  $("#dlq-records").textContent = `${letters.records} in inventory.dlq`;
  const lost = letters.workers.unreachable.length;
  $("#dlq-workers").textContent = `since each worker started · ${letters.workers.counted} worker(s)` +
    (lost ? ` · ${lost} not answering` : "");
  rows($("#dlq-reasons tbody"), letters.by_reason, (r) => el("tr", {},
    cell(r.stage), cell(r.reason), cell(r.count, true)), "none");
  const latest = $("#dlq-latest");
  latest.replaceChildren(...letters.latest.map((l) => el("li", {},
    when(l.failed_at), " ", el("span", {class: "stage"}, l.stage ?? "?"), " ", el("span", {class: "reason"}, l.reason),
    el("span", {class: "muted"}, ` ${l.topic ?? "?"}[${l.partition ?? "?"}]@${l.offset ?? "?"}`))));
  if (!letters.latest.length) latest.replaceChildren(el("li", {class: "muted"}, "no dead letters"));
}

function showDrift({status, body}) {
  const tbody = $("#drift tbody");
  if (status !== 200) {
    $("#drift-note").textContent = status === 404 ? "not available on this worker (GET /drift answered 404)"
      : refused(status, "drift");
    tbody.replaceChildren();
    return;
  }
  const entries = body.drift;
  $("#drift-note").textContent = entries.length > DRIFT_ROWS ? `the newest ${DRIFT_ROWS} of ${entries.length}` : "";
  rows(tbody, entries.slice(0, DRIFT_ROWS), (d) => el("tr", {"data-action": d.action},
    el("td", {}, `${d.sku} @ ${d.location}`), cell(d.erp, true), cell(d.engine_at_watermark, true),
    cell(d.drift > 0 ? `+${d.drift}` : d.drift, true), cell((d.causes || []).join(", ")),
    cell(d.action), el("td", {}, when(d.detected_at))), "no drift recorded");
}

// ---- a SKU, explained ------------------------------------------------------------------

// The formula's steps as a waterfall: each location's contribution up to the pool, then what
// each rule takes away (a step with from/to), the totals in between (from 0), ending with
// what the channel was last sent. A kit shows how many sets each component makes instead.
function waterfall(x) {
  const steps = [];
  const step = (label, from, to) => steps.push({label, kind: "step", from, to});
  const total = (label, to) => steps.push({label, kind: "total", from: 0, to});
  if (x.kit) {
    for (const c of x.kit.components) total(`${c.sku} ÷ ${c.qty}`, Math.floor(Math.max(c.available, 0) / c.qty));
    total("available (fewest sets)", x.available);
  } else {
    let running = 0;
    for (const loc of x.locations) { step(loc.location, running, running + loc.counted); running += loc.counted; }
    total("pool", x.pool);
    if (x.buffer) step("buffer", x.pool, x.after_buffer);
    let left = x.after_buffer;
    for (const [name, fence] of Object.entries(x.ring_fences).sort(([a], [b]) => (a < b ? -1 : 1))) {
      step(`ring fence ${name}`, left, left - fence);
      left -= fence;
    }
    if (x.allocation_percent !== 100) step(`${x.allocation_percent} %`, x.after_ring_fences, x.allocated);
    else if (x.allocated !== x.after_ring_fences) step("not below 0", x.after_ring_fences, x.allocated);
    if (x.max_qty !== null) step(`cap ${x.max_qty}`, x.allocated, x.after_max_qty);
    if (x.floor !== null) step(`floor ${x.floor}`, x.after_max_qty, x.available);
    total("available", x.available);
  }
  if (x.published) total("published", x.published.available);
  return steps;
}

function drawWaterfall(svg, steps) {
  const ROW = 28, LABEL = 150, BAR = 330, VALUE = 60, PAD = 6;
  const values = steps.flatMap((s) => [s.from, s.to]);
  const lo = Math.min(0, ...values), hi = Math.max(1, ...values);
  const x = (v) => LABEL + ((v - lo) / (hi - lo)) * BAR;
  svg.setAttribute("viewBox", `0 0 ${LABEL + BAR + VALUE} ${steps.length * ROW + PAD}`);
  svg.setAttribute("width", LABEL + BAR + VALUE);
  svg.setAttribute("height", steps.length * ROW + PAD);
  const parts = [el("svg:line", {class: "axis", x1: x(0), x2: x(0), y1: 0, y2: steps.length * ROW + PAD})];
  steps.forEach((s, i) => {
    const y = i * ROW + PAD;
    const change = s.kind === "total" ? "total" : s.to >= s.from ? "up" : "down";
    const left = x(Math.min(s.from, s.to)), width = Math.max(x(Math.max(s.from, s.to)) - left, 1);
    const shown = s.kind === "total" ? `${s.to}` : `${s.to - s.from >= 0 ? "+" : "−"}${Math.abs(s.to - s.from)}`;
    parts.push(el("svg:g", {class: `step ${change}`, "data-label": s.label, "data-kind": s.kind, "data-from": s.from, "data-to": s.to},
      el("svg:text", {class: "label", x: LABEL - 8, y: y + ROW / 2, "text-anchor": "end", "dominant-baseline": "middle"}, s.label),
      el("svg:rect", {x: left, y: y + 3, width, height: ROW - 10, rx: 2}),
      el("svg:text", {class: "value", x: LABEL + BAR + 8, y: y + ROW / 2, "dominant-baseline": "middle"}, shown)));
    if (i + 1 < steps.length && steps[i + 1].kind === "step") {  // where the next step starts
      parts.push(el("svg:line", {class: "link", x1: x(s.to), x2: x(s.to), y1: y + ROW - 7, y2: y + ROW + 3}));
    }
  });
  svg.replaceChildren(...parts);
}

const NUMBERS = [["pool", "pool"], ["buffer", "buffer"], ["after_buffer", "after buffer"],
  ["after_ring_fences", "after ring fences"], ["allocation_percent", "allocation %"], ["allocated", "allocated"],
  ["max_qty", "cap"], ["after_max_qty", "after cap"], ["floor", "floor"], ["available", "available"]];

function showNumbers(x) {
  const entries = NUMBERS.map(([key, label]) => [key, label, x[key]]);
  for (const [name, fence] of Object.entries(x.ring_fences)) entries.splice(3, 0, [`ring_fences.${name}`, `ring fence ${name}`, fence]);
  const published = x.published;
  entries.push(["published.available", "published", published ? published.available : null],
               ["published.version", "version", published ? published.version : null],
               ["published.pending", "pending increase", published ? published.pending : null]);
  rows($("#numbers tbody"), entries, ([key, label, value]) => el("tr", {"data-key": key},
    el("th", {}, label), cell(value === null ? "none" : value, true)), "");
}

function showPositions(x) {
  rows($("#positions tbody"), x.locations, (loc) => {
    const p = loc.position || {};
    const unsellable = p.on_hand === undefined ? null : `${p.held} · ${p.quarantined} · ${p.damaged}`;
    return el("tr", {"data-location": loc.location}, el("td", {}, loc.location), cell(p.on_hand, true),
      cell(p.reserved, true), cell(p.picked, true), cell(unsellable, true), cell(loc.safety_stock, true),
      cell(loc.ats, true), cell(loc.incoming, true), cell(loc.counted, true),
      el("td", {}, p.event_id ? el("span", {title: p.occurred_at}, p.event_id) : "–"));
  }, "the channel draws on no location");
}

let current = {sku: null, channel: null};

async function search(sku, channel) {
  $("#sku-message").textContent = "";
  const path = `/availability/${encodeURIComponent(sku)}`;
  const {status, body} = await getJSON(path);
  if (status !== 200) {
    $("#sku-result").hidden = true;
    $("#sku-message").textContent = status === 404 ? `${sku}: ${body?.error ?? "not found"}` : refused(status, sku);
    return;
  }
  const names = Object.keys(body.channels);
  channel = names.includes(channel) ? channel : names[0];
  current = {sku, channel};
  history.replaceState(null, "", `#sku=${encodeURIComponent(sku)}&channel=${encodeURIComponent(channel ?? "")}`);
  rows($("#sku-channels tbody"), names, (name) => {
    const c = body.channels[name];
    const row = el("tr", {"data-channel": name, class: name === channel ? "selected" : "", tabindex: 0},
      el("td", {}, name), cell(c.available, true), cell(c.version, true), cell(c.pending, true), cell(c.target, true));
    row.addEventListener("click", () => search(sku, name));
    return row;
  }, "no channels");
  $("#sku-result").hidden = false;
  if (channel) await explain(sku, channel);
}

async function explain(sku, channel) {
  const {status, body} = await getJSON(`/availability/${encodeURIComponent(sku)}/explain?channel=${encodeURIComponent(channel)}`);
  if (status !== 200) {
    $("#sku-message").textContent = refused(status, `${sku} on ${channel}`);
    return;
  }
  $("#waterfall-title").textContent = `${body.sku} on ${body.channel}: from the pool to what was published`;
  drawWaterfall($("#waterfall"), waterfall(body));
  showNumbers(body);
  showPositions(body);
  $("#sku").dataset.explained = `${body.sku}\u0000${body.channel}`;  // for tests: this answer is drawn
}

// ---- wiring ------------------------------------------------------------------------------

function fromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const sku = params.get("sku");
  if (sku) {
    $("#sku-input").value = sku;
    search(sku, params.get("channel"));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token").value = sessionStorage.getItem(TOKEN_KEY) ?? "";
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    refresh();
    if (current.sku) search(current.sku, current.channel);
  });
  $("#forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); $("#token").value = ""; refresh(); });
  $("#search").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("#sku-input").value.trim(), current.channel);
  });
  window.addEventListener("hashchange", fromHash);  // a link to another SKU, followed in this tab
  refresh();
  setInterval(refresh, REFRESH_MS);
  fromHash();
});
