// The page's SVG and HTML charts: rates over time (lines), counts per bucket (columns), a
// histogram, percentile ranges, and horizontal bars. Each takes plain rows and returns an element.

import { navigate } from "../app.js";
import { h, s, num } from "./dom.js";

const KNOWN = ["polyai", "amazon_connect", "genesys_cloud", "twilio", "vapi", "livekit", "nice_cxone", "retell",
  "bland", "asterisk", "freeswitch", "pipecat", "five9", "talkdesk"];
const PALETTE_SIZE = 12;

/** A platform's colour: `var(--an-p<N>)` from analytics.css, fixed for known platforms, hashed otherwise. */
export function platformColor(name) {
  let index = KNOWN.indexOf(name);
  if (index < 0) {
    index = 0;
    for (const ch of String(name)) index = (index * 31 + ch.charCodeAt(0)) >>> 0;
  }
  return `var(--an-p${index % PALETTE_SIZE})`;
}

/** A "nice" upper bound for an axis: 1, 2, 2.5, 5 × 10^n at or above `value`. */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

const MS_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3,
  1800e3, 3600e3, 7200e3];

/** Axis ticks 0..top for a duration in milliseconds, on whole seconds / minutes where it can: {top, step}. */
export function durationTicks(max, most = 5) {
  const value = Math.max(1, max);
  const step = MS_STEPS.find((candidate) => value / candidate <= most) || niceMax(value / most);
  return { step, top: Math.ceil(value / step) * step };
}

const MINUTE = 60e3;
const HOUR = 3600e3;
const DAY = 86400e3;
const STEPS = [MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
  DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n) => String(n).padStart(2, "0");

/** "14:00", "Nov 27" — the time of a bucket or tick in local time. */
export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export function day(ms) {
  const d = new Date(ms);
  return `${MONTHS[d.getMonth()]} ${d.getDate()}`;
}

/** "Nov 27 14:00–15:00" (or across days "Nov 27 00:00 – Nov 28 00:00"). */
export function spanText(startMs, endMs) {
  const sameDay = new Date(startMs).toDateString() === new Date(endMs - 1).toDateString();
  return sameDay && endMs - startMs < DAY
    ? `${day(startMs)} ${clock(startMs)}–${clock(endMs)}`
    : `${day(startMs)} ${clock(startMs)} – ${day(endMs)} ${clock(endMs)}`;
}

/** Ticks of a local-time axis over [startMs, endMs]: [{ms, label, major}], at most about `most` of them. */
export function timeTicks(startMs, endMs, most) {
  const span = Math.max(1, endMs - startMs);
  const step = STEPS.find((candidate) => span / candidate <= most) || STEPS[STEPS.length - 1];
  const ticks = [];
  let t;
  if (step >= DAY) {
    const d = new Date(startMs);
    d.setHours(0, 0, 0, 0);
    if (d.getTime() < startMs) d.setDate(d.getDate() + 1);
    const days = Math.round(step / DAY);
    for (; d.getTime() <= endMs; d.setDate(d.getDate() + days)) ticks.push({ ms: d.getTime(), label: day(d.getTime()), major: true });
    return ticks;
  }
  const offset = -new Date(startMs).getTimezoneOffset() * MINUTE;
  t = Math.ceil((startMs + offset) / step) * step - offset;
  let lastDay = null;
  for (; t <= endMs; t += step) {
    const date = new Date(t).toDateString();
    const major = lastDay !== null ? date !== lastDay : false;
    ticks.push({ ms: t, label: clock(t), sub: lastDay === null || major ? day(t) : "", major });
    lastDay = date;
  }
  return ticks;
}

function timeAxis(svg, { x, y, startMs, endMs, width }) {
  const axis = s("g", { class: "an-axis an-axis-x", "aria-hidden": "true" });
  axis.append(s("line", { x1: x(startMs), x2: x(endMs), y1: y, y2: y }));
  for (const tick of timeTicks(startMs, endMs, Math.max(2, Math.floor(width / 80)))) {
    const at = x(tick.ms);
    axis.append(s("line", { x1: at, x2: at, y1: y, y2: y + 4, class: tick.major ? "major" : null }));
    axis.append(s("text", { x: at, y: y + 16, "text-anchor": "middle" }, tick.label));
    if (tick.sub) axis.append(s("text", { x: at, y: y + 29, "text-anchor": "middle", class: "sub" }, tick.sub));
  }
  svg.append(axis);
}

function gridY(svg, { left, right, y, values, format }) {
  const grid = s("g", { class: "an-axis an-axis-y", "aria-hidden": "true" });
  for (const value of values) {
    grid.append(s("line", { x1: left, x2: right, y1: y(value), y2: y(value), class: "grid" }));
    grid.append(s("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, format(value)));
  }
  svg.append(grid);
}

/** Elements that open a link: click, Enter; focusable, announced as links. */
function linkLike(element, href, label) {
  element.setAttribute("tabindex", "0");
  element.setAttribute("role", "link");
  element.setAttribute("aria-label", label);
  element.dataset.href = href;
  element.addEventListener("click", () => navigate(href));
  element.addEventListener("keydown", (event) => { if (event.key === "Enter") navigate(href); });
  return element;
}

/**
 * Rates per time bucket as lines. `buckets`: [{startMs, endMs, count, tip, values: {key: rate}}];
 * `series`: [{key, label, color}]. Buckets without journeys break the lines.
 */
export function rateChart(buckets, series, { width = 900, height = 230, label }) {
  const m = { left: 44, right: 14, top: 12, bottom: 36 };
  const startMs = buckets[0].startMs;
  const endMs = buckets[buckets.length - 1].endMs;
  const x = (t) => m.left + ((t - startMs) / (endMs - startMs)) * (width - m.left - m.right);
  const y = (v) => m.top + (1 - v) * (height - m.top - m.bottom);
  const svg = s("svg", { class: "an-svg an-rates", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label,
    preserveAspectRatio: "xMinYMin meet" });
  gridY(svg, { left: m.left, right: width - m.right, y, values: [0, 0.25, 0.5, 0.75, 1], format: (v) => `${v * 100}%` });
  timeAxis(svg, { x, y: height - m.bottom, startMs, endMs, width });
  const mid = (b) => x((b.startMs + b.endMs) / 2);
  const filled = buckets.filter((b) => b.count).length;
  for (const one of series) {
    let d = "";
    let open = false;
    const dots = s("g", { class: "an-dots" });
    buckets.forEach((b, i) => {
      if (!b.count) { open = false; return; }
      const point = `${mid(b).toFixed(1)},${y(b.values[one.key]).toFixed(1)}`;
      d += open ? ` L${point}` : ` M${point}`;
      open = true;
      const alone = !(buckets[i - 1] && buckets[i - 1].count) && !(buckets[i + 1] && buckets[i + 1].count);
      if (alone || filled <= 60) dots.append(s("circle", { cx: mid(b), cy: y(b.values[one.key]), r: alone ? 3 : 2.2 }));
    });
    svg.append(s("g", { class: "an-series", dataset: { series: one.key }, style: `color: ${one.color}` },
      s("path", { d: d.trim(), class: "an-line" }), dots));
  }
  const hover = s("g", { class: "an-hover" });
  for (const b of buckets) {
    const rect = s("rect", { x: x(b.startMs), y: m.top, width: Math.max(1, x(b.endMs) - x(b.startMs)), height: height - m.top - m.bottom,
      dataset: { tip: b.tip } });
    if (b.count && b.href) { // the column chart below is the keyboard's way to the same journeys
      rect.classList.add("go");
      rect.addEventListener("click", () => navigate(b.href));
    }
    hover.append(rect);
  }
  svg.append(hover);
  return svg;
}

/** Journey counts per bucket as columns; a column opens the bucket's journeys. */
export function countChart(buckets, { width = 900, height = 120, label }) {
  const m = { left: 44, right: 14, top: 10, bottom: 36 };
  const startMs = buckets[0].startMs;
  const endMs = buckets[buckets.length - 1].endMs;
  const top = niceMax(Math.max(...buckets.map((b) => b.count)));
  const x = (t) => m.left + ((t - startMs) / (endMs - startMs)) * (width - m.left - m.right);
  const y = (v) => m.top + (1 - v / top) * (height - m.top - m.bottom);
  const svg = s("svg", { class: "an-svg an-counts", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label,
    preserveAspectRatio: "xMinYMin meet" });
  gridY(svg, { left: m.left, right: width - m.right, y, values: [0, top / 2, top], format: (v) => num(Math.round(v * 10) / 10) });
  timeAxis(svg, { x, y: height - m.bottom, startMs, endMs, width });
  const bars = s("g", { class: "an-bars" });
  for (const b of buckets) {
    if (!b.count) continue;
    const x0 = x(b.startMs);
    const w = Math.max(1, x(b.endMs) - x0);
    const gap = w > 6 ? Math.min(2, w * 0.15) : 0;
    const rect = s("rect", { x: x0 + gap / 2, y: y(b.count), width: w - gap, height: y(0) - y(b.count), class: "an-bar",
      dataset: { tip: b.tip, count: b.count } });
    if (b.href) linkLike(rect, b.href, b.tip.split("\n").slice(0, 2).join(", "));
    bars.append(rect);
  }
  svg.append(bars);
  return svg;
}

/** Columns with category labels under them (a histogram): rows [{label, value, tip}]. */
export function columnChart(rows, { width = 520, height = 180, label }) {
  const m = { left: 40, right: 10, top: 10, bottom: 30 };
  const top = niceMax(Math.max(...rows.map((r) => r.value)));
  const slot = (width - m.left - m.right) / rows.length;
  const y = (v) => m.top + (1 - v / top) * (height - m.top - m.bottom);
  const svg = s("svg", { class: "an-svg an-histogram", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label,
    preserveAspectRatio: "xMinYMin meet" });
  gridY(svg, { left: m.left, right: width - m.right, y, values: [0, top / 2, top], format: (v) => num(Math.round(v * 10) / 10) });
  rows.forEach((row, i) => {
    const x0 = m.left + i * slot;
    svg.append(s("rect", { x: x0 + slot * 0.12, y: y(row.value), width: slot * 0.76, height: Math.max(0, y(0) - y(row.value)),
      class: "an-bar", tabindex: row.value ? "0" : null, dataset: { tip: row.tip, count: row.value } }));
    svg.append(s("text", { x: x0 + slot / 2, y: height - m.bottom + 16, "text-anchor": "middle", class: "an-cat", "aria-hidden": "true" }, row.label));
  });
  return svg;
}

/**
 * Percentile ranges on one horizontal scale: rows [{label, p50, p90, p99, tip}] (null percentiles:
 * nothing drawn). A box from p50 to p90, a whisker to p99, a tick at p50.
 */
export function rangeChart(rows, { width = 620, label, format }) {
  const rowHeight = 26;
  const m = { left: 170, right: 24, top: 8, bottom: 28 };
  const height = m.top + m.bottom + rows.length * rowHeight;
  const { top, step } = durationTicks(Math.max(1, ...rows.map((r) => r.p99 || 0)));
  const x = (v) => m.left + (v / top) * (width - m.left - m.right);
  const svg = s("svg", { class: "an-svg an-ranges", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label,
    preserveAspectRatio: "xMinYMin meet" });
  const axis = s("g", { class: "an-axis an-axis-x", "aria-hidden": "true" });
  for (let v = 0; v <= top + step / 2; v += step) {
    axis.append(s("line", { x1: x(v), x2: x(v), y1: m.top, y2: height - m.bottom, class: "grid" }));
    axis.append(s("text", { x: x(v), y: height - m.bottom + 16, "text-anchor": "middle" }, format(v)));
  }
  svg.append(axis);
  rows.forEach((row, i) => {
    const cy = m.top + i * rowHeight + rowHeight / 2;
    const g = s("g", { class: `an-range${row.overall ? " overall" : ""}`, tabindex: "0", dataset: { tip: row.tip, label: row.label } });
    g.append(s("text", { x: m.left - 8, y: cy + 4, "text-anchor": "end", class: "an-cat" }, row.label));
    if (row.p50 !== null && row.p50 !== undefined) {
      g.append(s("line", { x1: x(row.p90), x2: x(row.p99), y1: cy, y2: cy, class: "whisker" }));
      g.append(s("line", { x1: x(row.p99), x2: x(row.p99), y1: cy - 5, y2: cy + 5, class: "whisker" }));
      g.append(s("rect", { x: x(row.p50), y: cy - 7, width: Math.max(2, x(row.p90) - x(row.p50)), height: 14, class: "box" }));
      g.append(s("line", { x1: x(row.p50), x2: x(row.p50), y1: cy - 9, y2: cy + 9, class: "median" }));
    } else {
      g.append(s("text", { x: m.left + 4, y: cy + 4, class: "an-none" }, "no measurement"));
    }
    g.append(s("rect", { x: 0, y: cy - rowHeight / 2, width, height: rowHeight, class: "hit" }));
    svg.append(g);
  });
  return svg;
}

/**
 * Horizontal bars in HTML, each a link: rows [{label, detail, value, segments: [{value, className, name}],
 * href, tip, dataset}]. The bar's length is value / the largest value.
 */
export function hbars(rows, { label }) {
  const top = Math.max(1, ...rows.map((r) => r.value));
  return h("ol", { class: "an-hbars", "aria-label": label }, rows.map((row) => {
    const track = h("span", { class: "track", "aria-hidden": "true" },
      (row.segments || [{ value: row.value, className: "" }]).filter((seg) => seg.value > 0).map((seg) =>
        h("span", { class: `seg ${seg.className || ""}`, style: { width: `${(seg.value / top) * 100}%` } })));
    const content = [
      h("span", { class: "label" }, row.label, row.detail ? h("span", { class: "detail" }, row.detail) : null),
      track,
      h("span", { class: "value" }, row.valueText || num(row.value)),
    ];
    const inner = row.href
      ? h("a", { href: row.href, class: "bar-row", dataset: { tip: row.tip }, "aria-label": row.tip.replace(/\n/g, ", ") }, content)
      : h("span", { class: "bar-row", dataset: { tip: row.tip }, tabindex: "0" }, content);
    return h("li", { dataset: row.dataset || {} }, inner);
  }));
}
