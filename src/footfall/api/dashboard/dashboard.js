/*
 * footfall dashboard: one page, no build step, no libraries, no network beyond this server.
 *
 * Asks for an API key with the read scope (kept in localStorage), then shows KPI cards, a daily chart and
 * top-10 tables for one property and date range, all from GA4-shaped runReport calls.
 * Clicking a table row adds an EXACT filter on that dimension to every report. Refreshes every
 * 30 s while the tab is visible. Data reaches the DOM only as text (textContent / text nodes).
 */
"use strict";

// Every dimension and metric the page asks for is named in OVERVIEW and TABLES (a test checks
// these names against footfall/report/catalog.py).
const OVERVIEW = {
  dimension: "date",
  metrics: ["activeUsers", "sessions", "screenPageViews", "bounceRate", "averageSessionDuration", "engagementRate"],
  chartMetrics: ["activeUsers", "sessions"],
};
const TABLES = [
  { title: "Top pages", label: "Page", dimension: "pagePath", metrics: ["screenPageViews", "activeUsers"] },
  { title: "Landing pages", label: "Landing page", dimension: "landingPage", metrics: ["sessions", "bounceRate"] },
  { title: "Channels", label: "Channel", dimension: "sessionDefaultChannelGroup", metrics: ["sessions", "engagementRate"] },
  { title: "Sources", label: "Source", dimension: "sessionSource", metrics: ["sessions"] },
  { title: "Countries", label: "Country", dimension: "country", metrics: ["activeUsers"] },
  { title: "Devices", label: "Device", dimension: "deviceCategory", metrics: ["sessions"] },
  { title: "Browsers", label: "Browser", dimension: "browser", metrics: ["sessions"] },
  { title: "Events", label: "Event", dimension: "eventName", metrics: ["eventCount"] },
];
const LABELS = {
  activeUsers: "Users", sessions: "Sessions", screenPageViews: "Views", bounceRate: "Bounce rate",
  averageSessionDuration: "Avg. session", engagementRate: "Engagement", eventCount: "Events",
};
// [label, first day, last day], in days before today in the property's time zone.
const RANGES = [
  ["Today", 0, 0], ["Yesterday", 1, 1], ["Last 7 days", 6, 0], ["Last 28 days", 27, 0], ["Last 90 days", 89, 0],
];
const REFRESH_MS = 30000;
const DAY_MS = 86400000;
const SVG_NS = "http://www.w3.org/2000/svg";
const KEY = { token: "footfall.token", property: "footfall.property", range: "footfall.range" };

const state = {
  token: localStorage.getItem(KEY.token) || "",
  properties: [],
  property: null,
  range: Number(localStorage.getItem(KEY.range) || 2),
  filters: [], // [{dimension, label, value}]
  overview: null, // last overview report, redrawn on resize
  generation: 0, // bumped by every refresh; stale answers are dropped
  loadedAt: 0,
};
const $ = (id) => document.getElementById(id);

// ---- DOM helpers: properties and text children only, never HTML strings ----

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// ---- API ----

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, body) {
  const init = { headers: { Authorization: `Bearer ${state.token}` } };
  if (body) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new HttpError(res.status, data?.error?.message || `HTTP ${res.status}`);
  return data;
}

const gaDay = (n) => (n === 0 ? "today" : n === 1 ? "yesterday" : `${n}daysAgo`);

function reportBody(dimension, metrics, extra) {
  const [, from, to] = RANGES[state.range];
  const body = {
    dateRanges: [{ startDate: gaDay(from), endDate: gaDay(to) }],
    dimensions: [{ name: dimension }],
    metrics: metrics.map((name) => ({ name })),
    ...extra,
  };
  const filters = state.filters.map((f) => ({
    filter: { fieldName: f.dimension, stringFilter: { matchType: "EXACT", value: f.value, caseSensitive: true } },
  }));
  if (filters.length === 1) body.dimensionFilter = filters[0];
  if (filters.length > 1) body.dimensionFilter = { andGroup: { expressions: filters } };
  return body;
}

function runReport(body) {
  return api(`/v1beta/properties/${encodeURIComponent(state.property.property_id)}:runReport`, body);
}

// ---- formatting and dates ----

const numberFormat = new Intl.NumberFormat();

function fmt(header, value) {
  const x = Number(value) || 0;
  if (header.name.endsWith("Rate")) return `${(x * 100).toFixed(1)}%`;
  if (header.type === "TYPE_SECONDS") {
    const s = Math.round(x);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  return numberFormat.format(x);
}

// Midnight UTC of today's date in the given time zone, as a timestamp.
function todayIn(timeZone) {
  const parts = {};
  const f = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric" });
  for (const p of f.formatToParts(new Date())) parts[p.type] = Number(p.value);
  return Date.UTC(parts.year, parts.month - 1, parts.day);
}

// Every day of the selected range as YYYYMMDD, oldest first.
function dayList() {
  const [, from, to] = RANGES[state.range];
  const today = todayIn(state.property.time_zone);
  const days = [];
  for (let n = from; n >= to; n--) {
    days.push(new Date(today - n * DAY_MS).toISOString().slice(0, 10).replaceAll("-", ""));
  }
  return days;
}

function dayLabel(yyyymmdd, weekday) {
  const d = new Date(Date.UTC(+yyyymmdd.slice(0, 4), +yyyymmdd.slice(4, 6) - 1, +yyyymmdd.slice(6, 8)));
  const opts = { timeZone: "UTC", day: "numeric", month: "short" };
  if (weekday) opts.weekday = "short";
  return d.toLocaleDateString(undefined, opts);
}

// ---- rendering ----

function renderKpis(report) {
  const totals = report.totals?.[0]?.metricValues || [];
  $("kpis").replaceChildren(...report.metricHeaders.map((h, i) =>
    el("div", { className: "card kpi" },
      el("span", { className: "label" }, LABELS[h.name] || h.name),
      el("strong", {}, fmt(h, totals[i]?.value)))));
}

function niceStep(max) {
  const raw = Math.max(1, max / 4);
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

function renderChart(report) {
  const days = dayList();
  const byDate = new Map((report.rows || []).map((r) => [r.dimensionValues[0].value, r.metricValues]));
  const series = OVERVIEW.chartMetrics.map((name) => {
    const i = report.metricHeaders.findIndex((h) => h.name === name);
    return days.map((d) => Number(byDate.get(d)?.[i]?.value) || 0);
  });
  const box = $("chart");
  const W = Math.max(280, box.clientWidth || 720), H = 220;
  const pad = { left: 44, right: 12, top: 12, bottom: 26 };
  const step = niceStep(Math.max(0, ...series.flat()));
  const yMax = step * 4;
  const colW = (W - pad.left - pad.right) / days.length;
  const x = (i) => pad.left + colW * (i + 0.5);
  const y = (v) => H - pad.bottom - (v / yMax) * (H - pad.top - pad.bottom);

  const parts = [];
  for (let k = 0; k <= 4; k++) {
    parts.push(svg("line", { class: "grid", x1: pad.left, x2: W - pad.right, y1: y(k * step), y2: y(k * step) }));
    parts.push(svg("text", { class: "axis", x: pad.left - 6, y: y(k * step) + 4, "text-anchor": "end" },
      numberFormat.format(k * step)));
  }
  const every = Math.ceil(days.length / Math.max(1, Math.floor(W / 90)));
  days.forEach((d, i) => {
    if ((days.length - 1 - i) % every === 0) {
      parts.push(svg("text", { class: "axis", x: x(i), y: H - 8, "text-anchor": "middle" }, dayLabel(d)));
    }
  });
  series.forEach((values, s) => {
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    parts.push(svg("polyline", { class: `line s${s}`, points }));
    if (days.length <= 31) values.forEach((v, i) => parts.push(svg("circle", { class: `dot s${s}`, cx: x(i), cy: y(v), r: 3 })));
  });
  // One transparent column per day carries the tooltip.
  days.forEach((d, i) => {
    const text = `${dayLabel(d, true)}: ` + OVERVIEW.chartMetrics
      .map((m, s) => `${numberFormat.format(series[s][i])} ${LABELS[m].toLowerCase()}`).join(", ");
    parts.push(svg("rect", { class: "hit", x: x(i) - colW / 2, y: pad.top, width: colW, height: H - pad.top - pad.bottom },
      svg("title", {}, text)));
  });
  box.replaceChildren(svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" }, ...parts));
  $("legend").replaceChildren(...OVERVIEW.chartMetrics.map((m, s) =>
    el("span", {}, el("i", { className: `swatch s${s}` }), LABELS[m])));
}

function renderTable(spec, report) {
  const rows = report.rows || [];
  const max = Math.max(1, ...rows.map((r) => Number(r.metricValues[0].value) || 0));
  const body = rows.map((r) => {
    const value = r.dimensionValues[0].value;
    const bar = el("span", { className: "bar" });
    bar.style.width = `${(100 * (Number(r.metricValues[0].value) || 0)) / max}%`;
    const add = () => addFilter(spec, value);
    return el("tr", { title: `Filter: ${spec.label} is ${value}`, tabIndex: 0, onclick: add,
      onkeydown: (e) => { if (e.key === "Enter") add(); } },
      el("td", { className: "dim" }, bar, el("span", {}, value)),
      ...r.metricValues.map((v, i) => el("td", {}, fmt(report.metricHeaders[i], v.value))));
  });
  const head = el("tr", {}, el("th", {}, spec.label), ...report.metricHeaders.map((h) => el("th", {}, LABELS[h.name] || h.name)));
  return el("section", { className: "card" },
    el("h2", {}, spec.title),
    el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)),
    ...(rows.length ? [] : [el("p", { className: "muted" }, "No data for this period")]));
}

function renderFilters() {
  $("filters").replaceChildren(...state.filters.map((f, i) =>
    el("span", { className: "chip" }, `${f.label} is ${f.value}`,
      el("button", { type: "button", title: "Remove filter", onclick: () => removeFilter(i) }, "×"))));
}

function showSignedIn(on) {
  for (const node of document.querySelectorAll(".session")) node.hidden = !on;
  $("login").hidden = on;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// ---- actions ----

async function refresh() {
  if (!state.property) return;
  const generation = ++state.generation;
  document.body.classList.add("loading");
  try {
    const [overview, ...tables] = await Promise.all([
      runReport(reportBody(OVERVIEW.dimension, OVERVIEW.metrics, {
        metricAggregations: ["TOTAL"],
        orderBys: [{ dimension: { dimensionName: OVERVIEW.dimension } }],
      })),
      ...TABLES.map((t) => runReport(reportBody(t.dimension, t.metrics, {
        orderBys: [{ metric: { metricName: t.metrics[0] }, desc: true }, { dimension: { dimensionName: t.dimension } }],
        limit: 10,
      }))),
    ]);
    if (generation !== state.generation) return;
    showError("");
    state.overview = overview;
    renderKpis(overview);
    renderChart(overview);
    $("tables").replaceChildren(...tables.map((r, i) => renderTable(TABLES[i], r)));
    state.loadedAt = Date.now();
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (generation !== state.generation) return;
    if (err.status === 401) signOut(err.message);
    else showError(err.message);
  } finally {
    if (generation === state.generation) document.body.classList.remove("loading");
  }
}

function addFilter(spec, value) {
  // One filter per dimension: a second EXACT value on the same dimension could never match.
  state.filters = state.filters.filter((f) => f.dimension !== spec.dimension);
  state.filters.push({ dimension: spec.dimension, label: spec.label, value });
  renderFilters();
  refresh();
}

function removeFilter(index) {
  state.filters.splice(index, 1);
  renderFilters();
  refresh();
}

function selectProperty(id) {
  state.property = state.properties.find((p) => p.property_id === id) || state.properties[0];
  localStorage.setItem(KEY.property, state.property.property_id);
  $("property").value = state.property.property_id;
  $("tz").textContent = `Time zone: ${state.property.time_zone}`;
  state.filters = [];
  renderFilters();
  refresh();
}

async function start() {
  showSignedIn(true);
  try {
    const { properties } = await api("/v1/admin/properties");
    state.properties = properties;
  } catch (err) {
    if (err.status === 401) signOut(err.message);
    else showError(err.message);
    return;
  }
  if (!state.properties.length) {
    showError("There is no property yet.");
    return;
  }
  $("property").replaceChildren(...state.properties.map((p) =>
    el("option", { value: p.property_id }, `${p.name} (${p.property_id})`)));
  selectProperty(localStorage.getItem(KEY.property));
}

function signOut(message) {
  localStorage.removeItem(KEY.token);
  state.token = "";
  state.properties = [];
  state.property = null;
  state.generation++;
  showSignedIn(false);
  $("login-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

function tick() {
  if (!state.token || document.visibilityState !== "visible") return;
  if (state.property) refresh();
  else start();
}

function init() {
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    state.token = params.get("token");
    localStorage.setItem(KEY.token, state.token);
    params.delete("token");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
  }
  if (!(state.range in RANGES)) state.range = 2;
  $("range").replaceChildren(...RANGES.map(([label], i) => el("option", { value: i }, label)));
  $("range").value = state.range;
  $("range").addEventListener("change", (e) => {
    state.range = Number(e.target.value);
    localStorage.setItem(KEY.range, state.range);
    refresh();
  });
  $("property").addEventListener("change", (e) => selectProperty(e.target.value));
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    if (!state.token) return;
    localStorage.setItem(KEY.token, state.token);
    start();
  });
  $("signout").addEventListener("click", (e) => {
    e.preventDefault();
    signOut("");
  });
  setInterval(tick, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (Date.now() - state.loadedAt > REFRESH_MS) tick();
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => state.overview && state.property && renderChart(state.overview), 150);
  });
  if (state.token) start();
  else signOut("");
}

init();
