// Weir console: plain DOM, no framework; charts by uPlot (from its WebJar). Every number comes from
// this server's JSON under /console/api/ and its admin pages /usage and /events. Text from the
// server is only ever set with textContent, never parsed as HTML.
"use strict";

const TOKEN_KEY = "weir-admin-token";
const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);
const charts = {};
let timer = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch(path, Object.assign({}, options, { headers, credentials: "omit", cache: "no-store" }));
  if (response.status === 401) throw new Unauthorized();
  const text = await response.text();
  if (!response.ok) throw new Error(path + ": " + response.status + " " + text.trim());
  return (response.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : text;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

const fmtInt = (n) => n == null ? "–" : Math.round(n).toLocaleString("en-US");
const fmtUsd = (n) => n == null ? "–" : n.toFixed(n !== 0 && Math.abs(n) < 0.01 ? 6 : 2);
const fmtPct = (n) => n == null ? "–" : (n * 100).toFixed(1) + " %";
const fmtMs = (n) => n == null ? "–" : (n >= 1000 ? (n / 1000).toFixed(2) + " s" : n.toFixed(1) + " ms");

function showStatus(message) {
  const s = $("status");
  s.textContent = message || "";
  s.hidden = !message;
}

function showLogin(message) {
  stop();
  document.querySelectorAll(".page").forEach((p) => { p.hidden = true; });
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("sign-out").hidden = true;
}

async function guarded(work) {
  try {
    await work();
    showStatus("");
  } catch (e) {
    if (e instanceof Unauthorized) {
      showLogin(token() ? "That token was refused." : "");
    } else {
      showStatus(e.message);
    }
  }
}

function chart(id, series, opts = {}) {
  const target = $(id);
  const width = Math.max(300, target.clientWidth || 500);
  if (!charts[id]) {
    charts[id] = new uPlot(Object.assign({
      width, height: 200,
      series: [{}].concat(series),
      axes: [{}, { size: 60 }],
      legend: { live: false },
    }, opts), [[]].concat(series.map(() => [])), target);
  }
  return charts[id];
}

// ---- Overview ----

async function overview() {
  const o = await api("/console/api/overview");
  const t = o.totals;
  $("overview-since").textContent = "since " + new Date(o.startedEpochSeconds * 1000).toLocaleString() + " (this replica)";
  $("total-requests").textContent = fmtInt(t.requests);
  $("total-prompt-tokens").textContent = fmtInt(t.promptTokens);
  $("total-completion-tokens").textContent = fmtInt(t.completionTokens);
  $("cache-hit-rate").textContent = fmtPct(t.cacheHitRate);
  $("total-blocked").textContent = fmtInt(t.blocked);
  $("total-limited").textContent = fmtInt(t.limited);
  $("total-errors").textContent = fmtInt(t.errors);
  $("latency").textContent = t.p50Ms != null && t.p99Ms != null && t.p99Ms < 1000
    ? t.p50Ms.toFixed(1) + " / " + t.p99Ms.toFixed(1) + " ms" : fmtMs(t.p50Ms) + " / " + fmtMs(t.p99Ms);
  const s = o.series;
  chart("chart-traffic", [
    { label: "requests/min", stroke: "#2c6bed", scale: "req" },
    { label: "tokens/min", stroke: "#8e44ad", scale: "tok" },
  ], { axes: [{}, { scale: "req", size: 60 }, { scale: "tok", side: 1, size: 70, grid: { show: false } }] })
    .setData([s.t, s.requestsPerMinute, s.tokensPerMinute]);
  chart("chart-latency", [
    { label: "p50 ms", stroke: "#2e7d32", spanGaps: true },
    { label: "p99 ms", stroke: "#c62828", spanGaps: true },
  ]).setData([s.t, s.p50Ms, s.p99Ms]);
  chart("chart-trouble", [
    { label: "blocked", stroke: "#8a5a00" },
    { label: "limited", stroke: "#e09c00" },
    { label: "errors", stroke: "#c62828" },
  ]).setData([s.t, s.blocked, s.limited, s.errors]);
  chart("chart-cache", [{ label: "hit rate", stroke: "#00897b", spanGaps: true }],
    { scales: { y: { range: [0, 1] } } }).setData([s.t, s.cacheHitRate]);
  const today = new Date().toISOString().slice(0, 10);
  const usage = await api("/usage?from=" + today + "&to=" + today + "&groupBy=consumer&format=json");
  $("cost-today").textContent = fmtUsd(usage.totals ? usage.totals.cost : null);
}

// ---- Consumers ----

function describe(l) {
  const kind = { tokens_per_minute: "tokens per minute", requests_per_minute: "requests per minute",
    token_quota: "tokens per " + l.span, budget: "USD per " + l.span }[l.kind] || l.kind;
  return l.limit + " · " + kind + " (" + l.level + ")";
}

async function consumers() {
  const list = await api("/console/api/consumers");
  const root = $("consumers");
  root.replaceChildren();
  for (const c of list) {
    const card = el("div", { class: "consumer", "data-consumer": c.name },
      el("h3", { text: c.name }), el("div", { class: "hint", text: "models: " + c.models.join(", ") }));
    if (c.limits.length === 0) card.append(el("div", { class: "hint", text: "no limits apply" }));
    for (const l of c.limits) {
      const usd = l.unit === "usd";
      const fmt = usd ? fmtUsd : fmtInt;
      const row = el("div", { class: "limit", "data-limit": l.limit, "data-kind": l.kind });
      row.append(el("span", { text: describe(l) }));
      if (l.used == null) {
        row.append(el("span", { class: "hint", text: l.error ? l.error : "counted per " + l.key }),
          el("span", { class: "numbers", text: "limit " + fmt(l.ceiling) }));
      } else {
        const ratio = l.ceiling > 0 ? Math.min(1, l.used / l.ceiling) : 0;
        const fill = el("div", { class: "fill" + (ratio >= 1 ? " full" : ratio >= 0.8 ? " warn" : "") });
        fill.style.width = (ratio * 100).toFixed(1) + "%";
        row.append(el("div", { class: "bar", title: fmtPct(ratio) }, fill),
          el("span", { class: "numbers used", text: fmt(l.used) + " of " + fmt(l.ceiling) + (usd ? " USD" : "") }));
      }
      card.append(row);
    }
    root.append(card);
  }
}

// ---- Models and backends ----

async function backends() {
  const b = await api("/console/api/backends");
  const cp = b.controlPlane;
  $("control-plane").textContent = cp.reachable
    ? "Control plane " + cp.url + ", config version " + cp.version + ". Drain and undrain go through this server."
    : "Control plane " + cp.url + " not reachable: " + (cp.error || "") + " (drain state unknown).";
  const root = $("pools");
  root.replaceChildren();
  for (const p of b.pools) {
    const body = el("tbody");
    for (const m of p.members) {
      const drain = el("button", { type: "button", "data-backend": m.backend,
        "data-action": m.drained ? "undrain" : "drain", text: m.drained ? "Undrain" : "Drain" });
      if (!b.actions || m.drained == null) {
        drain.disabled = true;
        drain.title = !b.actions ? "set security.adminToken to allow actions" : "control plane not reachable";
      }
      drain.addEventListener("click", () => guarded(() => act(m.backend, drain.dataset.action)));
      const weight = m.weightOverride != null ? m.weightOverride + " (set; configured " + m.weight + ")" : String(m.weight);
      body.append(el("tr", { "data-member": m.backend },
        el("td", { text: m.backend }), el("td", { text: m.provider }), el("td", { text: String(m.priority) }),
        el("td", { text: weight }),
        el("td", {}, el("span", { class: "badge " + m.health, text: m.health })),
        el("td", { class: "numbers", text: m.answers + " answers, " + m.errors + " errors" }),
        el("td", {}, el("span", { class: "badge drained-state" + (m.drained ? " drained" : ""),
          text: m.drained == null ? "unknown" : m.drained ? "drained" : "serving" })),
        el("td", {}, drain)));
    }
    const head = el("thead", {}, el("tr", {}, ...["backend", "provider", "priority", "weight", "health (5 min)",
      "answers (5 min)", "state", ""].map((h) => el("th", { text: h }))));
    root.append(el("div", { class: "pool", "data-pool": p.name },
      el("h3", { text: "pool " + p.name + " · " + p.strategy + " · models: " + p.models.join(", ") }),
      el("table", {}, head, body)));
  }
}

async function act(backend, action) {
  await api("/console/api/backends/" + encodeURIComponent(backend) + "/" + action, { method: "POST" });
  await backends();
}

// ---- Recent exchanges ----

// Events are UsageEvent in protobuf's JSON form: zero values are left out, 64-bit numbers are strings.
const num = (v) => v == null ? 0 : Number(v);
const EVENT_COLUMNS = [
  ["time", (e) => e.time ? new Date(e.time).toLocaleTimeString("en-GB") : ""],
  ["consumer", (e) => e.consumer || ""],
  ["model", (e) => e.modelServed && e.modelServed !== e.modelRequested
    ? (e.modelRequested || "") + " → " + e.modelServed : (e.modelRequested || "")],
  ["backend", (e) => e.backend || ""],
  ["status", (e) => num(e.status)],
  ["outcome", (e) => e.outcome + (e.errorCode ? " (" + e.errorCode + ")" : "")],
  ["tokens in / out", (e) => fmtInt(num(e.promptTokens)) + " / " + fmtInt(num(e.completionTokens))],
  ["cost (USD)", (e) => fmtUsd(num(e.costUsd))],
  ["latency", (e) => fmtMs(num(e.totalLatencyMs))],
];

async function exchanges() {
  const q = new URLSearchParams({ limit: $("events-limit").value });
  if ($("events-consumer").value) q.set("consumer", $("events-consumer").value);
  if ($("events-outcome").value) q.set("outcome", $("events-outcome").value);
  const events = await api("/events?" + q);
  // Prompt and answer text exist only when prompt logging is on for the exchange's policy.
  const withText = events.some((e) => e.prompt != null || e.answer != null);
  const columns = withText ? EVENT_COLUMNS.concat([["prompt", (e) => e.prompt], ["answer", (e) => e.answer]])
    : EVENT_COLUMNS;
  const table = $("events");
  table.tHead.replaceChildren(el("tr", {}, ...columns.map(([h]) => el("th", { text: h }))));
  table.tBodies[0].replaceChildren(...events.map((e) => el("tr", { "data-request-id": e.requestId || "" },
    ...columns.map(([h, f]) => el("td", { class: h === "prompt" || h === "answer" ? "prompt" : "",
      text: String(f(e) ?? "") })))));
}

// ---- Usage per consumer over days ----

function isoDay(d) { return d.toISOString().slice(0, 10); }

async function usage() {
  if (!$("usage-from").value) {
    const to = new Date();
    $("usage-to").value = isoDay(to);
    $("usage-from").value = isoDay(new Date(to.getTime() - 13 * 86400000));
  }
  const from = $("usage-from").value;
  const to = $("usage-to").value;
  const measure = $("usage-measure").value;
  const u = await api("/usage?" + new URLSearchParams({ from, to, groupBy: "consumer,day", format: "json" }));
  const value = (r) => measure === "cost" ? r.cost : measure === "requests" ? r.requests
    : r.promptTokens + r.completionTokens;
  const days = [];
  for (let d = new Date(from + "T00:00:00Z"); isoDay(d) <= to; d = new Date(d.getTime() + 86400000)) days.push(isoDay(d));
  const consumersSeen = [...new Set(u.rows.map((r) => r.consumer))].sort();
  const byKey = new Map(u.rows.map((r) => [r.consumer + "|" + r.day, r]));
  const palette = ["#2c6bed", "#8e44ad", "#00897b", "#e09c00", "#c62828", "#5f6b7a", "#6d4c41", "#1e88e5"];
  const xs = days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
  const values = consumersSeen.map((c) => days.map((d) => {
    const r = byKey.get(c + "|" + d);
    return r ? value(r) : 0;
  }));
  // Stacked bars: series i is the sum of consumers 0..i, drawn tallest first so each shows its own part.
  const stacked = values.map((_, i) => days.map((_, j) => values.slice(0, i + 1).reduce((a, v) => a + v[j], 0)));
  const order = consumersSeen.map((_, i) => consumersSeen.length - 1 - i);
  if (charts["chart-usage"]) {
    charts["chart-usage"].destroy();
    delete charts["chart-usage"];
  }
  const bars = uPlot.paths.bars({ size: [0.6, 60] });
  const fmt = measure === "cost" ? fmtUsd : fmtInt;
  charts["chart-usage"] = new uPlot({
    width: Math.max(400, $("chart-usage").clientWidth || 800), height: 260,
    series: [{ value: (self, v) => v == null ? "--" : new Date(v * 1000).toISOString().slice(0, 10) }]
      .concat(order.map((i) => ({ label: consumersSeen[i], stroke: palette[i % palette.length],
        fill: palette[i % palette.length] + "99", paths: bars, points: { show: false },
        value: (self, v, si, idx) => idx == null ? "--" : fmt(values[i][idx]) }))),
    axes: [{}, { size: 70 }],
  }, [xs].concat(order.map((i) => stacked[i])), $("chart-usage"));
  const table = $("usage");
  table.tHead.replaceChildren(el("tr", {}, ...["day", "consumer", "requests", "prompt tokens", "completion tokens",
    "cached tokens", "cost (USD)", "cached savings (USD)"].map((h) => el("th", { text: h }))));
  const rows = u.rows.slice().sort((a, b) => (a.day + a.consumer).localeCompare(b.day + b.consumer));
  table.tBodies[0].replaceChildren(...rows.map((r) => el("tr", { "data-consumer": r.consumer, "data-day": r.day },
    el("td", { text: r.day }), el("td", { text: r.consumer }), el("td", { text: fmtInt(r.requests) }),
    el("td", { text: fmtInt(r.promptTokens) }), el("td", { text: fmtInt(r.completionTokens) }),
    el("td", { text: fmtInt(r.cachedTokens) }), el("td", { class: "cost", text: fmtUsd(r.cost) }),
    el("td", { text: fmtUsd(r.cachedSavings) }))));
}

// ---- Navigation ----

const PAGES = { overview, consumers, backends, exchanges, usage };
const LIVE = new Set(["overview", "consumers", "backends"]);

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
}

function show() {
  const page = (location.hash || "#overview").slice(1);
  const load = PAGES[page] || overview;
  const name = PAGES[page] ? page : "overview";
  $("login").hidden = true;
  $("sign-out").hidden = !token();
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "page-" + name; });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  stop();
  document.body.dataset.loaded = "";
  guarded(load).then(() => { document.body.dataset.loaded = name; });
  if (LIVE.has(name)) timer = setInterval(() => guarded(load), REFRESH_MS);
}

window.addEventListener("hashchange", show);
window.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("login-token").value);
    $("login-token").value = "";
    show();
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("");
  });
  $("events-filter").addEventListener("submit", (e) => { e.preventDefault(); guarded(exchanges); });
  $("usage-filter").addEventListener("submit", (e) => { e.preventDefault(); guarded(usage); });
  show();
});
