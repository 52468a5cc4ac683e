// The journey's header: summary, outcome, duration, legs, platforms, insight badges, status, the
// "data still expected" notice, and links (Jaeger UI, Grafana, OTLP JSON download).

import { insightLabel, maskedCustomer, outcomeLabel } from "../format.js";
import { clock, dateTime, duration, el, maskedPhone, platformLabel } from "./fmt.js";

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };

/** The header. `config` is /api/ui/config (or null); `onInsight(spanId, insight)` selects an insight's span. */
export function renderHeader(journey, config, { onInsight }) {
  const summary = journey.summary;
  const id = journey.journey_id;
  const live = journey.status === "in_progress";
  const legs = journey.leg_count ?? (journey.legs || []).length;
  const ani = customerNumber(journey);

  const title = el("div", { class: "jt-title" },
    el("h1", {}, "Journey ", el("code", { class: "jt-id", title: id, text: id })),
    el("span", { class: `jt-status ${live ? "live" : "done"}`, "data-status": journey.status, title: live ? "Still receiving data: the page updates itself" : "No new data for the quiet period" },
      live ? "in progress" : "complete"),
    journey.resolved_from && journey.resolved_from !== id ? el("span", { class: "jt-muted", text: `(opened as ${journey.resolved_from})` }) : null);

  const summaryBlock = summary && summary.text
    ? el("p", { class: "jt-summary", "data-summary-source": summary.source },
      summary.text, " ",
      el("span", { class: "jt-tag", title: summary.source === "llm" ? `written by ${summary.model || "a model"}` : "written by rules from the journey's facts",
        text: summary.source === "llm" ? "LLM" : "source: facts" }))
    : el("p", { class: "jt-summary jt-muted", text: "No summary yet." });

  const path = (journey.platforms || []).map(platformLabel).join(" → ") || "–";
  const facts = el("dl", { class: "jt-facts" },
    fact("Outcome", el("span", { class: `jt-outcome o-${journey.outcome || "none"}`, text: journey.outcome ? outcomeLabel(journey.outcome) : "not known yet" })),
    fact("Duration", duration(journey.duration_nano ?? journey.end_unix_nano - journey.start_unix_nano)),
    fact("Started", el("time", { datetime: new Date(journey.start_unix_nano / 1e6).toISOString(), text: dateTime(journey.start_unix_nano) })),
    fact("Legs", el("span", { class: "jt-legs", text: `${legs} ${legs === 1 ? "leg" : "legs"}` })),
    fact("Platforms", el("span", { class: "jt-path", text: path })),
    fact("Customer", ani ? maskedPhone(ani) : journey.customer_phone_hash
      ? el("span", { title: "a tag of the keyed hash of the customer's number", text: maskedCustomer(journey) })
      : el("span", { class: "jt-muted", text: "unknown" })));

  const rules = (journey.insights || []).map((i) => i.rule);
  const repeated = new Set(rules.filter((r, n) => rules.indexOf(r) !== n));
  const insights = (journey.insights || []).slice().sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3));
  const badges = insights.length
    ? el("ul", { class: "jt-badges", "aria-label": "Insights" }, insights.map((i) => el("li", {},
      el("button", { type: "button", class: `jt-badge sev-${i.severity}`, "data-rule": i.rule, "data-insight-span": i.span_id,
        title: `${i.severity}: ${i.explanation}`, onclick: () => onInsight(i.span_id, i) },
      el("span", { class: "jt-badge-sev", text: i.severity }), insightLabel(i.rule),
      i.platform && repeated.has(i.rule) ? el("span", { class: "jt-badge-where", text: ` · ${platformLabel(i.platform)}` }) : null))))
    : el("p", { class: "jt-muted jt-no-insights", text: "No insights." });

  const links = el("div", { class: "jt-links" });
  if (config && config.jaeger_ui_url) {
    links.append(el("a", { class: "jt-btn", href: `${config.jaeger_ui_url.replace(/\/$/, "")}/trace/${id}`, target: "_blank", rel: "noopener", "data-link": "jaeger", text: "Open in Jaeger UI" }));
  }
  if (config && config.grafana_url) {
    const uid = config.grafana_tempo_datasource || "";
    const left = { datasource: uid, queries: [{ refId: "A", datasource: { type: "tempo", uid }, queryType: "traceql", query: id }], range: { from: "now-7d", to: "now" } };
    links.append(el("a", { class: "jt-btn", href: `${config.grafana_url.replace(/\/$/, "")}/explore?left=${encodeURIComponent(JSON.stringify(left))}`, target: "_blank", rel: "noopener", "data-link": "grafana", text: "Open in Grafana" }));
  }
  links.append(el("a", { class: "jt-btn", href: `/api/journeys/${id}/otlp`, download: `journey-${id}.otlp.json`, "data-link": "otlp", text: "Download OTLP JSON" }));

  return el("header", { class: "jt-head", "data-journey-id": id },
    el("div", { class: "jt-head-top" }, title, links),
    pendingNotice(journey),
    summaryBlock,
    facts,
    badges);
}

function fact(label, value) {
  return el("div", { class: "jt-fact" }, el("dt", { text: label }), el("dd", {}, value));
}

/** The raw customer number, only when raw numbers are stored (else the list shows the hash). */
function customerNumber(journey) {
  for (const span of journey.spans || []) {
    const value = span.attributes && span.attributes["cx.telephony.ani.number"];
    if (typeof value === "string" && value) return value;
  }
  return null;
}

/** "Data still expected": one line per data_pending insight, with when the record usually comes. */
export function pendingNotice(journey) {
  const pending = (journey.insights || []).filter((i) => i.rule === "data_pending");
  if (!pending.length) return null;
  const spans = new Map((journey.spans || []).map((s) => [s.span_id, s]));
  return el("div", { class: `jt-pending${pending.some((p) => p.severity === "warning") ? " overdue" : ""}`, role: "status", "data-pending": "true" },
    el("strong", { text: pending.some((p) => p.severity === "warning") ? "Data overdue" : "Data still expected" }),
    el("ul", {}, pending.map((p) => el("li", {}, p.explanation, when(p, spans.get(p.span_id), journey)))));
}

function when(insight, span, journey) {
  const ended = span ? span.end_unix_nano : journey.end_unix_nano;
  const text = insight.explanation || "";
  const range = text.match(/(\d+)\s*[–-]\s*(\d+)\s*min/);
  const upTo = text.match(/up to (\d+)\s*min/);
  const minute = 60e9;
  let expected = null;
  if (insight.severity === "warning" && insight.threshold != null) {
    expected = `It was due by ${clock(ended + insight.threshold * 1e9, false)} (${dateTime(ended).slice(0, 10)}).`;
  } else if (range) {
    expected = `Expected ${clock(ended + range[1] * minute, false)}–${clock(ended + range[2] * minute, false)} (${range[1]}–${range[2]} min after the last activity, at ${clock(ended)}).`;
  } else if (upTo) {
    expected = `Expected by ${clock(ended + upTo[1] * minute, false)} (up to ${upTo[1]} min after the last activity, at ${clock(ended)}).`;
  }
  return expected ? el("div", { class: "jt-pending-time", text: expected }) : null;
}
