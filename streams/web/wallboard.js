// ccpulse floor wallboard: polls wallboard.json (built from the families /metrics serves) and
// paints it. When the worker does not answer, the last numbers stay on screen and the page
// says how old they are; when it answers again, the page carries on by itself.
"use strict";

// The three a floor looks at first, large; the rest below them.
const CONTACT_PRIMARY = [
  ["waiting", "Waiting", "count"],
  ["oldest_wait", "Oldest wait", "seconds"],
  ["sl_interval", "SL interval", "percent"],
];
// Six narrow cells: a label may take two lines, and a long word breaks at its soft hyphen
// (\u00ad) only where its cell is narrower than the word (at 1280x720 "ABANDONED" and
// "AVAILABLE" ran together).
const CONTACT_SECONDARY = [
  ["sl_today", "SL today", "percent"],
  ["asa", "ASA", "seconds"],
  ["abandoned", "Aban\u00addoned", "count"],
  ["agents_available", "Avail\u00adable", "count"],
  ["agents_on_contact", "On con\u00adtact", "count"],
];
const TICKET_METRICS = [
  ["open_tickets", "Open tickets", "count"],
  ["overdue", "Overdue", "count"],
  ["awaiting_reply", "Awaiting reply", "count"],
  ["csat_today", "CSAT today", "percent"],
];

// clock.js (timeOfDay) loads before this script; if it did not (the worker restarting between
// the two requests), the page tells the time without it meanwhile and loads itself again.
const clockText = typeof timeOfDay === "function" ? timeOfDay
  : (ms, zone) => new Date(ms).toLocaleTimeString("en-GB", { timeZone: zone, hour12: false });
if (typeof timeOfDay !== "function") setTimeout(() => window.location.reload(), 10000);

const board = {
  data: null,          // the last wallboard.json that arrived
  receivedAt: null,    // Date.now() when it arrived
  failingSince: null,  // Date.now() of the first failed poll since the last success
  error: "",
  refreshMs: 5000,
};

function format(value, kind) {
  if (value === null || value === undefined) return "–";
  if (kind === "percent") return Math.round(value * 100) + "%";
  if (kind === "seconds") return duration(value);
  return String(Math.round(value));
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + "s";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function metricCell([key, label, kind], metric) {
  const m = metric || { value: null, level: null };
  return el("div", {
    class: "metric" + (m.level ? " " + m.level : ""),
    "data-metric": key,
    "data-value": m.value === null || m.value === undefined ? "" : String(m.value),
  }, el("span", { class: "label" }, label), el("span", { class: "value" }, format(m.value, kind)));
}

// "Needed now" (Erlang A, else C) only when it differs from the agents staffed now.
function neededCell(tile) {
  const needed = tile.metrics.agents_needed;
  if (!needed || needed.value === null || needed.value === undefined
      || needed.value === tile.agents_staffed) return [];
  return [metricCell(["agents_needed", "Needed now", "count"], needed)];
}

function layout(section, count) {
  // The column count that gives the largest tiles of about 1.7:1 in the space there is.
  const box = section.parentElement.getBoundingClientRect();
  const width = box.width || window.innerWidth, height = (box.height || window.innerHeight) * 0.8;
  let best = 1, bestScore = 0;
  for (let cols = 1; cols <= Math.max(1, count); cols++) {
    const rows = Math.ceil(count / cols);
    const score = Math.min(width / cols / 1.7, height / rows);
    if (score > bestScore) { best = cols; bestScore = score; }
  }
  section.style.setProperty("--cols", best);
  section.style.setProperty("--rows", Math.max(1, Math.ceil(count / best)));
}

function render(data) {
  const contacts = document.getElementById("contacts");
  contacts.replaceChildren(...data.contacts.map((tile) => el("article", {
    class: "tile", "data-queue": tile.queue, "data-channel": tile.channel,
  },
  el("header", {},
    el("h2", {}, tile.queue + " ", el("span", { class: "channel" }, tile.channel)),
    el("span", { class: "target" }, tile.target_ratio === null ? "no target"
      : "target " + format(tile.target_ratio, "percent") + " in "
        + duration(tile.threshold_seconds))),
  el("div", { class: "metrics primary" },
    ...CONTACT_PRIMARY.map((spec) => metricCell(spec, tile.metrics[spec[0]]))),
  el("div", { class: "metrics secondary" },
    ...CONTACT_SECONDARY.map((spec) => metricCell(spec, tile.metrics[spec[0]])),
    ...neededCell(tile)))));
  const tickets = document.getElementById("tickets");
  tickets.replaceChildren(...data.tickets.map((tile) => el("article", {
    class: "tile", "data-queue": tile.queue,
  },
  el("header", {}, el("h2", {}, tile.queue + " ", el("span", { class: "channel" }, "tickets"))),
  el("div", { class: "metrics" },
    ...TICKET_METRICS.map((spec) => metricCell(spec, tile.metrics[spec[0]]))))));
  tickets.style.setProperty("--cols", Math.max(3, data.tickets.length));
  layout(contacts, data.contacts.length);
  document.getElementById("empty").hidden = data.contacts.length + data.tickets.length > 0;
  document.getElementById("clock-zone").textContent = data.timezone;
  fitValues();
}

// Figures that do not fit their cells ("100%", "1:08" in six narrow cells) are made smaller,
// each row kind alike (the large three, the small row, the ticket tiles), so that figures
// of one kind keep one size across the board and never run into the next cell.
const FIT_GROUPS = [".metrics.primary", ".metrics.secondary", ".tickets .metrics"];

function fitValues() {
  const groups = FIT_GROUPS.map((sel) => [...document.querySelectorAll(sel + " .value")]);
  for (const values of groups) for (const v of values) v.style.fontSize = "";
  const sizes = groups.map((values) => {  // all reads first: one layout
    let scale = 1, base = 0;
    for (const v of values) {
      const cell = v.parentElement, style = getComputedStyle(cell);
      const room = cell.clientWidth - parseFloat(style.paddingLeft)
        - parseFloat(style.paddingRight);
      const width = v.getBoundingClientRect().width;
      if (width > room && room > 0) scale = Math.min(scale, room / width);
      base = base || parseFloat(getComputedStyle(v).fontSize);
    }
    return scale < 1 ? Math.floor(base * scale * 0.96) + "px" : "";
  });
  groups.forEach((values, i) => {
    if (sizes[i]) for (const v of values) v.style.fontSize = sizes[i];
  });
}

// What the page claims, recomputed every second from the ages of the data it holds.
function freshness() {
  const now = Date.now();
  const body = document.body, banner = document.getElementById("banner");
  const status = document.getElementById("status"), line = document.getElementById("freshness");
  const data = board.data;
  const zone = data ? data.timezone : "UTC";
  document.getElementById("clock").textContent = clockText(now, zone);
  if (!data) {
    body.className = board.failingSince ? "down" : "connecting";
    status.textContent = board.failingSince ? "not live" : "connecting…";
    banner.hidden = !board.failingSince;
    banner.textContent = "NOT LIVE — cannot reach the worker (" + board.error + ")";
    return;
  }
  const dataAge = (now - board.receivedAt) / 1000;
  const eventAge = data.newest_event_age_seconds === null ? null
    : data.newest_event_age_seconds + dataAge;
  line.textContent = "Newest event " + ago(eventAge) + " · data updated " + ago(dataAge);
  const problems = [];
  if (board.failingSince || dataAge > data.data_stale_after_seconds) {
    const since = board.failingSince || board.receivedAt;
    problems.push("cannot reach the worker since " + clockText(since, zone)
      + "; numbers shown are from " + clockText(board.receivedAt, zone));
  } else if (!data.ready) {
    problems.push("the worker is not consuming: " + (data.reasons.join("; ") || "not ready"));
  }
  if (eventAge === null) {
    problems.push("no event received yet");
  } else if (eventAge > data.stale_after_seconds) {
    problems.push("no new event for " + ago(eventAge).replace(" ago", ""));
  }
  const down = problems.length > 0 && (board.failingSince || !data.ready
    || dataAge > data.data_stale_after_seconds);
  body.className = problems.length === 0 ? "live" : down ? "down" : "stale";
  status.textContent = problems.length === 0 ? "live" : down ? "not live" : "stale";
  banner.hidden = problems.length === 0;
  banner.textContent = (down ? "NOT LIVE — " : "STALE — ") + problems.join(" · ");
  document.title = "ccpulse wallboard — " + status.textContent;
}

async function poll() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(2000, board.refreshMs));
  try {
    const response = await fetch("wallboard.json" + window.location.search,
      { cache: "no-store", signal: controller.signal });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    board.data = data;
    board.receivedAt = Date.now();
    board.failingSince = null;
    board.refreshMs = Math.max(1000, data.refresh_seconds * 1000);
    render(data);
  } catch (e) {
    board.failingSince = board.failingSince || Date.now();
    board.error = e.name === "AbortError" ? "no answer" : String(e.message || e);
  } finally {
    clearTimeout(timer);
    setTimeout(poll, board.refreshMs);  // first: nothing below may stop the polling
    freshness();
  }
}

window.addEventListener("resize", () => {
  if (board.data) layout(document.getElementById("contacts"), board.data.contacts.length);
  fitValues();
});
setInterval(freshness, 1000);
poll();
