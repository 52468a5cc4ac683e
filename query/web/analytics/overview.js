// Headline numbers (GET /api/analytics/overview): journeys, AI containment, handoff, drop and
// abandon rates, average legs, and the outcomes as one stacked bar whose parts open their journeys.

import { outcomeLabel } from "../format.js";
import { h, journeysHref, journeysText, num, pct } from "./dom.js";
import { EMPTY_TEXT } from "./panel.js";

function stat(key, label, value, valueText, sub, href) {
  const content = [h("span", { class: "label" }, label), h("span", { class: "value" }, valueText), h("span", { class: "sub" }, sub)];
  return h("div", { class: "an-stat", dataset: { stat: key, value: String(value) }, role: "group", "aria-label": `${label}: ${valueText}, ${sub}` },
    href ? h("a", { href, class: "stat-link" }, content) : content);
}

/** The stat tiles of an overview answer. */
export function headline(o) {
  return h("div", { class: "an-stats" },
    stat("journey_count", "Journeys", o.journey_count, num(o.journey_count), `${num(o.agent_journey_count)} reached a human agent`,
      o.journey_count ? journeysHref(o.journeys) : null),
    stat("containment_rate", "AI containment", o.containment_rate, pct(o.containment_rate),
      `${num(o.contained_count)} of ${num(o.ai_journey_count)} journeys with AI`),
    stat("handoff_rate", "Handoff rate", o.handoff_rate, pct(o.handoff_rate), `${journeysText(o.handoff_journey_count)} handed off`),
    stat("drop_rate", "Drop rate", o.drop_rate, pct(o.drop_rate), `${num(o.dropped_count)} dropped`),
    stat("abandoned_rate", "Abandon rate", o.abandoned_rate, pct(o.abandoned_rate), `${num(o.abandoned_count)} abandoned`),
    stat("avg_legs", "Average legs", o.avg_legs, Number(o.avg_legs).toFixed(2), "platforms per journey"));
}

const OUTCOME_CLASS = { resolved: "ok", dropped: "critical", abandoned: "warning", transferred_external: "info", callback_scheduled: "info2" };

/** The outcomes as one stacked bar plus a legend; each part links to its journeys. */
export function outcomes(o) {
  if (!o.journey_count) return h("p", { class: "an-empty" }, EMPTY_TEXT);
  const parts = o.outcomes.map((row) => {
    const name = row.outcome === null ? "not known yet" : outcomeLabel(row.outcome);
    return { row, name, tip: `${name}\n${journeysText(row.journey_count)} · ${pct(row.share)}`,
      className: `o-${row.outcome === null ? "unknown" : OUTCOME_CLASS[row.outcome] || "other"}` };
  });
  return h("div", { class: "an-outcomes" },
    h("h3", {}, "Outcomes"),
    h("div", { class: "stack", "aria-hidden": "true" }, parts.map((p) =>
      h("span", { class: `part ${p.className}`, style: { flexGrow: String(p.row.journey_count) },
        dataset: { tip: p.tip, outcome: p.row.outcome ?? "" } }))),
    h("ul", { class: "legend" }, parts.map((p) => h("li", {},
      h("span", { class: `swatch ${p.className}`, "aria-hidden": "true" }),
      p.row.journeys ? h("a", { href: journeysHref(p.row.journeys) }, p.name) : p.name,
      h("span", { class: "muted" }, ` ${num(p.row.journey_count)} · ${pct(p.row.share)}`)))));
}
