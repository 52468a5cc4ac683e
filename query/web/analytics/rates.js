// Rates over time (GET /api/analytics/timeseries): containment, handoff, drop and abandon rates per
// bucket as lines, and journey counts per bucket as columns that open the bucket's journeys.

import { countChart, rateChart, spanText } from "./charts.js";
import { dataTable, h, journeysHref, num, pct } from "./dom.js";

export const SERIES = [
  { key: "containment_rate", label: "AI containment", color: "var(--ok)" },
  { key: "handoff_rate", label: "Handoff", color: "var(--accent)" },
  { key: "drop_rate", label: "Drop", color: "var(--critical)" },
  { key: "abandoned_rate", label: "Abandon", color: "var(--warning)" },
];

const INTERVAL_TEXT = { "5m": "5 minutes", "15m": "15 minutes", "1h": "hour", "6h": "6 hours", "1d": "day (UTC)" };

/** "per hour (auto)". */
export function intervalText(answer, asked) {
  return `per ${INTERVAL_TEXT[answer.interval] || answer.interval}${asked ? "" : " (auto)"}`;
}

function bucketsOf(answer) {
  return answer.buckets.map((b) => {
    const startMs = Number(BigInt(b.start_unix_nano) / 1000000n);
    const endMs = Number(BigInt(b.end_unix_nano) / 1000000n);
    const values = Object.fromEntries(SERIES.map((one) => [one.key, b[one.key]]));
    const tip = b.journey_count
      ? `${spanText(startMs, endMs)}\n${num(b.journey_count)} journey${b.journey_count === 1 ? "" : "s"}\n` +
        `AI containment ${pct(b.containment_rate)} (${num(b.contained_count)} of ${num(b.ai_journey_count)})\n` +
        `Handoff ${pct(b.handoff_rate)} · Drop ${pct(b.drop_rate)} · Abandon ${pct(b.abandoned_rate)}`
      : `${spanText(startMs, endMs)}\nno journeys`;
    return { startMs, endMs, count: b.journey_count, values, tip, href: b.journeys ? journeysHref(b.journeys) : null, raw: b };
  });
}

/** The legend, the two charts and the data table; null when no bucket has a journey. */
export function ratesCharts(answer, width) {
  const buckets = bucketsOf(answer);
  const filled = buckets.filter((b) => b.count);
  if (!filled.length) return null;
  const total = filled.reduce((sum, b) => sum + b.count, 0);
  const range = `${spanText(buckets[0].startMs, buckets[buckets.length - 1].endMs)}`;
  const legend = h("ul", { class: "an-legend", "aria-label": "Lines" }, SERIES.map((one) =>
    h("li", {}, h("span", { class: "line", style: { background: one.color }, "aria-hidden": "true" }), `${one.label} rate`)));
  const peak = (key) => filled.reduce((best, b) => (b.values[key] > best.values[key] ? b : best), filled[0]);
  const label = `Rates ${intervalText(answer, true)} from ${range}: ` + SERIES.map((one) =>
    `${one.label} peaks at ${pct(peak(one.key).values[one.key])}`).join(", ") + ".";
  return [
    legend,
    rateChart(buckets, SERIES, { width, label }),
    h("h3", { class: "an-sub" }, "Journeys ", h("span", { class: "muted" }, `${intervalText(answer, true)} · ${num(total)} in all · a column opens its journeys`)),
    countChart(buckets, { width, label: `Journeys ${intervalText(answer, true)}: ${num(total)} in ${filled.length} of ${buckets.length} buckets.` }),
    dataTable(`The ${filled.length} buckets with journeys`,
      ["Bucket", { text: "Journeys", numeric: true }, ...SERIES.map((one) => ({ text: one.label, numeric: true })), ""],
      filled.map((b) => [spanText(b.startMs, b.endMs), num(b.count), ...SERIES.map((one) => pct(b.values[one.key])),
        b.href ? h("a", { href: b.href }, "Journeys →") : ""])),
  ];
}
