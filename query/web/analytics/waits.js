// Distributions: queue waits (GET /api/analytics/queue-wait: percentiles overall and per queue,
// histogram) and handoff latency per platform pair (GET /api/analytics/handoffs).

import { platformLabel } from "../format.js";
import { columnChart, rangeChart } from "./charts.js";
import { dataTable, h, journeysHref, journeysText, ms, num, pct, table } from "./dom.js";

/** "10s", "1m", "20m" — a histogram edge. */
function edge(value) {
  if (value < 60000) return `${value / 1000}s`;
  if (value < 3600000) return `${value / 60000}m`;
  return `${value / 3600000}h`;
}

function bucketLabel(b) {
  if (b.to_ms === null) return `≥ ${edge(b.from_ms)}`;
  if (!b.from_ms) return `< ${edge(b.to_ms)}`;
  return `${edge(b.from_ms)}–${edge(b.to_ms)}`;
}

function percentileTip(label, count, unit, p) {
  return `${label}\n${num(count)} ${unit}\np50 ${ms(p.p50)} · p90 ${ms(p.p90)} · p99 ${ms(p.p99)}` +
    (p.avg !== undefined ? `\naverage ${ms(p.avg)} · longest ${ms(p.max)}` : "");
}

function mini(label, value, key) {
  return h("div", { class: "an-mini", dataset: { stat: key } }, h("span", { class: "label" }, label), h("span", { class: "value" }, value));
}

/** Queue waits: summary numbers, the per-queue range chart, the histogram and the table. */
export function queueWaits(answer, width) {
  const w = answer.wait_ms;
  const rows = [
    { label: "All queues", overall: true, ...w, tip: percentileTip("All queues", answer.journey_count, "journeys queued", w) },
    ...answer.queues.map((q) => ({ label: q.queue, ...q.wait_ms, tip: percentileTip(`Queue ${q.queue}`, q.journey_count, "journeys queued", q.wait_ms) })),
  ];
  const histogram = answer.histogram || [];
  return [
    h("div", { class: "an-minis" },
      mini("Journeys that queued", num(answer.journey_count), "queued"),
      mini("p50", ms(w.p50), "p50"), mini("p90", ms(w.p90), "p90"), mini("p99", ms(w.p99), "p99"),
      mini("Average", ms(w.avg), "avg"), mini("Longest", ms(w.max), "max")),
    h("div", { class: "an-stacked" },
      h("figure", {},
        h("figcaption", {}, "Wait per queue ", h("span", { class: "muted" }, "box p50–p90, whisker to p99")),
        rangeChart(rows, { width, format: ms,
          label: `Queue wait percentiles: overall p50 ${ms(w.p50)}, p90 ${ms(w.p90)}, p99 ${ms(w.p99)}; ` +
            answer.queues.map((q) => `${q.queue} p50 ${ms(q.wait_ms.p50)}`).join(", ") + "." })),
      histogram.length ? h("figure", {},
        h("figcaption", {}, "How long journeys waited ", h("span", { class: "muted" }, "journeys per wait")),
        columnChart(histogram.map((b) => ({ label: bucketLabel(b), value: b.journey_count,
          tip: `Waited ${bucketLabel(b)}\n${journeysText(b.journey_count)}` })), {
          width,
          label: "Queue wait histogram: " + histogram.map((b) => `${bucketLabel(b)} ${b.journey_count}`).join(", ") + ".",
        }),
        dataTable("Journeys per queue wait", ["Wait", { text: "Journeys", numeric: true }],
          histogram.map((b) => [bucketLabel(b), num(b.journey_count)]))) : null),
    table("Queue wait per queue", ["Queue", { text: "Journeys", numeric: true }, { text: "p50", numeric: true }, { text: "p90", numeric: true },
      { text: "p99", numeric: true }, { text: "Average", numeric: true }, { text: "Longest", numeric: true }, ""],
    answer.queues.map((q) => [q.queue, num(q.journey_count), ms(q.wait_ms.p50), ms(q.wait_ms.p90), ms(q.wait_ms.p99), ms(q.wait_ms.avg),
      ms(q.wait_ms.max), h("a", { href: journeysHref(q.journeys), class: "an-go" }, "Journeys →")]),
    { rowProps: (i) => ({ dataset: { queue: answer.queues[i].queue } }) }),
  ];
}

function pairLabel(pair) {
  return `${platformLabel(pair.from_platform)} → ${pair.to_platform === null ? "not followed" : platformLabel(pair.to_platform)}`;
}

/** Handoffs: summary numbers, latency per platform pair (range chart) and the table of pairs. */
export function handoffs(answer, width) {
  const l = answer.latency_ms;
  const rows = [
    { label: "All handoffs", overall: true, ...l, tip: percentileTip("All handoffs", l.count, "hops with a latency", l) },
    ...answer.pairs.filter((p) => p.to_platform !== null).map((p) => ({ label: pairLabel(p), ...p.latency_ms,
      tip: percentileTip(pairLabel(p), p.latency_ms.count, "hops with a latency", p.latency_ms) })),
  ];
  return [
    h("div", { class: "an-minis" },
      mini("Handoffs", num(answer.handoff_count), "handoff_count"),
      mini("Journeys handed off", `${num(answer.handoff_journey_count)} (${pct(answer.handoff_rate)})`, "handoff_journey_count"),
      mini("Latency p50", ms(l.p50), "p50"), mini("p90", ms(l.p90), "p90"), mini("p99", ms(l.p99), "p99")),
    h("figure", {},
      h("figcaption", {}, "Handoff latency per platform pair ", h("span", { class: "muted" }, "box p50–p90, whisker to p99")),
      rangeChart(rows, { width, format: ms,
        label: `Handoff latency: overall p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, p99 ${ms(l.p99)}; ` +
          answer.pairs.map((p) => `${pairLabel(p)} p50 ${ms(p.latency_ms.p50)}`).join(", ") + "." })),
    table("Handoffs per platform pair: share of all journeys, and of the journeys that reached the “from” platform", ["From → to", { text: "Journeys", numeric: true }, { text: "Hops", numeric: true },
      { text: "Share", numeric: true }, { text: "Of “from”", numeric: true },
      { text: "p50", numeric: true }, { text: "p90", numeric: true }, { text: "p99", numeric: true }],
    answer.pairs.map((p) => [pairLabel(p), num(p.journey_count), num(p.handoff_count), pct(p.share), pct(p.rate_from),
      ms(p.latency_ms.p50), ms(p.latency_ms.p90), ms(p.latency_ms.p99)]),
    { rowProps: (i) => ({ dataset: { from: answer.pairs[i].from_platform, to: answer.pairs[i].to_platform ?? "" } }) }),
  ];
}
