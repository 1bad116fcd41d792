// ccpulse what-if staffing: fetches staffing.json (same query string) and draws one table
// per queue and channel. Numbers are the worker's; this page only formats them.
"use strict";

function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
function secs(v) { return v === null || v === undefined ? "∞" : v.toFixed(1) + " s"; }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function slCell(value, target) {
  const cls = value === null || value === undefined || target === null ? null
    : value >= target ? "good" : "bad";
  return el("td", { class: cls }, pct(value));
}

function queueSection(q) {
  const title = el("h2", {}, q.queue + " · " + q.channel);
  const target = "target " + pct(q.target_ratio) + " in " + q.threshold_seconds + " s";
  if (!q.rows.length) {
    return el("section", {}, title, el("p", { class: "inputs" }, target + " — " + q.reason));
  }
  const needed = "needed now: Erlang C " + (q.required_agents.erlang_c ?? "–")
    + ", Erlang A " + (q.required_agents.erlang_a ?? "–");
  const inputs = (q.arrival_rate_per_second * 3600).toFixed(1) + " contacts/h · AHT "
    + secs(q.aht_seconds) + " · " + q.traffic_erlangs.toFixed(2) + " erlangs · patience "
    + (q.patience_seconds === null ? "not observed (no abandons)" : secs(q.patience_seconds))
    + " · staffed " + q.agents_staffed + " · " + needed + " · " + target;
  const head = el("tr", {}, ...["agents", "Erlang C SL", "Erlang C ASA", "Erlang A SL",
    "Erlang A ASA", "Erlang A abandon"].map((h) => el("th", { scope: "col" }, h)));
  const body = q.rows.map((r) => el("tr", {
    class: r.agents === q.agents_staffed ? "staffed" : null, "data-agents": String(r.agents),
  },
  el("td", {}, String(r.agents)),
  slCell(r.erlang_c.service_level, q.target_ratio), el("td", {}, secs(r.erlang_c.asa_seconds)),
  r.erlang_a ? slCell(r.erlang_a.service_level, q.target_ratio) : el("td", {}, "–"),
  el("td", {}, r.erlang_a ? secs(r.erlang_a.asa_seconds) : "–"),
  el("td", {}, r.erlang_a ? pct(r.erlang_a.abandon_ratio) : "–")));
  return el("section", { "data-queue": q.queue, "data-channel": q.channel }, title,
    el("p", { class: "inputs" }, inputs), el("table", {}, el("thead", {}, head),
      el("tbody", {}, ...body)));
}

// clock.js (timeOfDay) loads before this script; if it did not, the time is told without it.
const clockText = typeof timeOfDay === "function" ? timeOfDay
  : (ms, zone) => new Date(ms).toLocaleTimeString("en-GB", { timeZone: zone, hour12: false });

async function load() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("staffing.json" + window.location.search, { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    const main = document.getElementById("queues");
    main.replaceChildren(...data.queues.map(queueSection));
    if (!data.queues.length) main.append(el("p", {}, "No contacts yet."));
    // the floor's zone, named, as the wallboard's clock (not the browser's zone and clock)
    status.textContent = "as of " + clockText(data.generated_at * 1000, data.timezone || "UTC")
      + " " + (data.timezone || "UTC");
  } catch (e) {
    status.textContent = "cannot reach the worker (" + (e.message || e) + ")";
  }
}

const params = new URLSearchParams(window.location.search);
document.getElementById("agents").value = params.get("agents") || "";
document.getElementById("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const agents = document.getElementById("agents").value;
  if (agents) params.set("agents", agents); else params.delete("agents");
  window.location.search = params.toString();
});
load();
setInterval(load, 30000);
