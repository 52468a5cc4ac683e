// Where issues recur: insight frequency grouped by queue / platform / agent / flow
// (GET /api/analytics/insights?by=) as horizontal bars, and recurring patterns
// (GET /api/analytics/patterns) as a table. Every bar and row opens the journeys behind it.

import { insightLabel, platformLabel } from "../format.js";
import { hbars } from "./charts.js";
import { h, journeysHref, journeysText, num, pct, table } from "./dom.js";

const SEVERITIES = ["critical", "warning", "info"];
const GROUP_TEXT = { queue: "queue", platform: "platform", agent: "agent", flow: "IVR flow" };

function groupValue(by, value) {
  if (value === null || value === undefined) return `no ${GROUP_TEXT[by]} named`;
  return by === "platform" ? platformLabel(value) : value;
}

/** Insight frequency as bars: one per rule (and group value), split by severity. */
export function insightBars(answer) {
  const by = answer.by;
  return hbars(answer.rules.map((row) => {
    const where = by ? groupValue(by, row[by]) : "";
    const severities = SEVERITIES.filter((sev) => row.severity[sev]).map((sev) => `${num(row.severity[sev])} ${sev}`).join(" · ");
    return {
      label: insightLabel(row.rule),
      detail: where,
      value: row.journey_count,
      valueText: num(row.journey_count),
      segments: SEVERITIES.map((sev) => ({ value: row.insight_count ? (row.journey_count * row.severity[sev]) / row.insight_count : 0,
        className: `sev-${sev}` })),
      href: journeysHref(row.journeys),
      tip: `${insightLabel(row.rule)}${where ? ` · ${where}` : ""}\n${journeysText(row.journey_count)} (${pct(row.share)} of all) · ` +
        `${num(row.insight_count)} insight${row.insight_count === 1 ? "" : "s"}\n${severities}`,
      dataset: { rule: row.rule, group: by ? row[by] ?? "" : "", count: row.journey_count },
    };
  }), { label: `Insights by ${GROUP_TEXT[by] || "rule"}: journeys with each` });
}

/** The severity legend of the bars. */
export function severityLegend() {
  return h("ul", { class: "an-legend" }, SEVERITIES.map((sev) =>
    h("li", {}, h("span", { class: `box sev-${sev}`, "aria-hidden": "true" }), sev)));
}

/** Recurring patterns: rule × queue / agent / flow with rates and lift, each row linking to its journeys. */
export function patternsTable(answer) {
  return table("Recurring issues, most journeys first; a count opens its journeys",
    ["Issue", "Where", { text: "Journeys", numeric: true }, { text: "Through there", numeric: true }, { text: "Rate there", numeric: true },
      { text: "Rate overall", numeric: true }, { text: "Lift", numeric: true }],
    answer.patterns.map((p) => [
      insightLabel(p.rule),
      h("span", {}, h("span", { class: "muted" }, `${GROUP_TEXT[p.dimension] || p.dimension} `), p.value),
      h("a", { href: journeysHref(p.journeys), class: "an-go", "aria-label": `${journeysText(p.journey_count)} with ${insightLabel(p.rule)} in ${p.value}` },
        num(p.journey_count)),
      num(p.dimension_journey_count),
      pct(p.rate),
      pct(p.rule_rate),
      h("span", { class: `an-lift${p.lift >= 1.5 ? " high" : ""}`, title: "rate there ÷ rate overall; above 1 the issue is concentrated there" },
        `×${Number(p.lift).toFixed(2)}`),
    ]),
    { className: "an-table an-patterns-table",
      rowProps: (i) => ({ dataset: { rule: answer.patterns[i].rule, dimension: answer.patterns[i].dimension, value: answer.patterns[i].value } }) });
}
