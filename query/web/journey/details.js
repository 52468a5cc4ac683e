// The span detail panel: Attributes, Metrics, Logs and Insights of one span, its IDs and resource.

import { insightLabel } from "../format.js";
import { copyButton, duration, el, looksLikePhone, maskedPhone, offset, platformLabel, words } from "./fmt.js";

const TABS = ["attributes", "metrics", "logs", "insights"];

/** Keys that hold an ID worth copying: the platform's interaction ID, *.id, *_id, *sid. */
export function isIdKey(key) {
  return key === "cx.platform.interaction.id" || /(\.id|_id|sid)$/i.test(key);
}

/** Keys that may hold a phone number (shown masked when the value looks like one). */
export function isPhoneKey(key) {
  return /^cx\.telephony\..*\.number$/.test(key) || /number|phone|(^|[._])(ani|dnis|caller|called|target)([._]|$)/i.test(key);
}

/** The panel for `item` (a chart item: {span, ...}) of `journey`. `state.tab` is the open tab (kept
 * across live updates); `onSelect(id)` selects another span (the parent); `onClose()` closes. */
export function renderDetails(item, journey, state, { onSelect, onClose }) {
  const span = item.span;
  const insights = (journey.insights || []).filter((i) => i.span_id === span.span_id);
  const events = span.events || [];
  const counts = { attributes: Object.keys(span.attributes || {}).length, logs: events.length, insights: insights.length };
  const tab = TABS.includes(state.tab) ? state.tab : "attributes";

  const tabButtons = TABS.map((name) => el("button", {
    type: "button", role: "tab", id: `jt-tab-${name}`, class: "jt-tab", "data-tab": name,
    "aria-selected": name === tab ? "true" : "false", "aria-controls": `jt-tabpanel-${name}`, tabindex: name === tab ? "0" : "-1",
  }, name[0].toUpperCase() + name.slice(1), counts[name] != null ? el("span", { class: `jt-count${name === "insights" && counts[name] ? " hot" : ""}`, text: counts[name] }) : null));
  const panels = TABS.map((name) => el("div", {
    role: "tabpanel", id: `jt-tabpanel-${name}`, class: "jt-tabpanel", "data-tabpanel": name,
    "aria-labelledby": `jt-tab-${name}`, hidden: name !== tab,
  }, ...({ attributes: attributesTab, metrics: metricsTab, logs: logsTab, insights: insightsTab })[name](item, journey, insights)));
  const tablist = el("div", { class: "jt-tabs", role: "tablist", "aria-label": "Span details" }, tabButtons);
  const show = (name, focus) => {
    state.tab = name;
    for (const b of tabButtons) {
      const on = b.dataset.tab === name;
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
      if (on && focus) b.focus();
    }
    for (const p of panels) p.hidden = p.dataset.tabpanel !== name;
  };
  tablist.addEventListener("click", (event) => {
    const b = event.target.closest("[data-tab]");
    if (b) show(b.dataset.tab, false);
  });
  tablist.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    const at = TABS.indexOf(state.tab);
    show(TABS[(at + (event.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length], true);
    event.preventDefault();
  });

  const type = (span.attributes || {})["cx.span.type"] || "span";
  const status = span.status_code === "STATUS_CODE_ERROR" ? el("span", { class: "jt-chip err", text: `error${span.status_message ? `: ${span.status_message}` : ""}` })
    : span.status_code === "STATUS_CODE_OK" ? el("span", { class: "jt-chip ok", text: "ok" }) : null;
  const parent = span.parent_span_id;
  const ids = el("dl", { class: "jt-ids" },
    el("dt", { text: "trace" }), el("dd", {}, el("code", { text: span.trace_id }), copyButton(span.trace_id, "trace ID")),
    el("dt", { text: "span" }), el("dd", {}, el("code", { text: span.span_id }), copyButton(span.span_id, "span ID")),
    el("dt", { text: "parent" }), el("dd", {}, parent
      ? el("button", { type: "button", class: "jt-link", "data-parent-id": parent, title: "Select the parent span", text: parent, onclick: () => onSelect(parent) })
      : el("span", { class: "jt-muted", text: "none (root)" })));

  const header = el("div", { class: "jt-panel-head" },
    el("div", { class: "jt-panel-title" },
      el("span", { class: "jt-swatch", style: `background:var(--span-${item.type})` }),
      el("h2", { id: "jt-panel-title", text: span.name }),
      el("button", { type: "button", class: "jt-close", "aria-label": "Close details (Escape)", title: "Close (Escape)", text: "×", onclick: onClose })),
    el("div", { class: "jt-panel-sub" },
      el("span", { class: "jt-chip", style: `border-color:var(--span-${item.type})`, text: type }),
      el("span", { text: platformLabel(item.layer) }),
      el("span", { text: duration(span.end_unix_nano - span.start_unix_nano) }),
      el("span", { class: "jt-muted", text: `at ${offset(span.start_unix_nano - journey.start_unix_nano)}` }),
      span.synthetic ? el("span", { class: "jt-chip", title: "Added by journeytrace (not sent by a platform)", text: "synthetic" }) : null,
      status),
    ids);
  return el("div", { class: "jt-details", "data-detail-span-id": span.span_id, role: "region", "aria-labelledby": "jt-panel-title" }, header, tablist, ...panels);
}

// --- the tabs ---------------------------------------------------------------------------------

function attributesTab(item) {
  const span = item.span;
  const a = span.attributes || {};
  const prominent = [
    ["Agent", a["cx.agent.name"] || a["cx.agent.id"]],
    ["Queue", a["cx.queue.name"]],
    ["Interaction", a["cx.platform.interaction.id"]],
    ["Platform", a["cx.platform.name"] && platformLabel(a["cx.platform.name"])],
    ["Leg", a["cx.leg.number"]],
  ].filter(([, v]) => v != null && v !== "");
  const out = [];
  if (prominent.length) {
    out.push(el("dl", { class: "jt-prominent" }, prominent.flatMap(([k, v]) => [
      el("dt", { text: k }), el("dd", {}, el("strong", { text: String(v) }), k === "Interaction" ? copyButton(v, "interaction ID") : null)])));
  }
  out.push(el("h3", { text: "Attributes" }), attributeTable(a, "attributes"));
  out.push(el("h3", { text: "Resource" }), attributeTable(span.resource_attributes || {}, "resource"));
  const scope = span.scope || {};
  if (scope.name) out.push(el("p", { class: "jt-muted" }, "Scope: ", el("code", { text: scope.name + (scope.version ? ` ${scope.version}` : "") })));
  if ((span.links || []).length) {
    out.push(el("h3", { text: "Links" }), el("ul", { class: "jt-plain" }, span.links.map((l) => el("li", {}, el("code", { text: `${l.trace_id} / ${l.span_id}` })))));
  }
  out.push(el("p", { class: "jt-muted" }, `Kind: ${words(String(span.kind || "").replace(/^SPAN_KIND_/, "").toLowerCase())}`));
  return out;
}

function attributeTable(attributes, what) {
  const keys = Object.keys(attributes).sort();
  if (!keys.length) return el("p", { class: "jt-muted", text: `No ${what}.` });
  return el("table", { class: "jt-attrs", "data-attributes": what },
    el("tbody", {}, keys.map((key) => {
      const value = attributes[key];
      const text = typeof value === "string" ? value : JSON.stringify(value);
      let cell;
      if (isPhoneKey(key) && looksLikePhone(text)) cell = maskedPhone(text);
      else cell = el("span", { class: "jt-value", text });
      return el("tr", { "data-key": key }, el("th", { scope: "row", text: key }),
        el("td", {}, cell, isIdKey(key) && text ? copyButton(text, key) : null));
    })));
}

const SECOND = 1e9;

function metricsTab(item, journey) {
  const span = item.span;
  const a = span.attributes || {};
  const rows = [];
  const add = (label, value) => { if (value != null && value !== "" && !Number.isNaN(value)) rows.push([label, value]); };
  const num = (key) => (typeof a[key] === "number" ? a[key] : a[key] != null && !Number.isNaN(Number(a[key])) ? Number(a[key]) : null);
  const ms = (v) => (v == null ? null : duration(v * 1e6));

  add("Duration", duration(span.end_unix_nano - span.start_unix_nano));
  add("Start", `${offset(span.start_unix_nano - journey.start_unix_nano)} from the journey's start`);
  add("End", `${offset(span.end_unix_nano - journey.start_unix_nano)} from the journey's start`);
  const wait = num("cx.queue.wait.duration");
  add("Queue wait", wait != null ? duration(wait * SECOND) : item.type === "queue" ? duration(span.end_unix_nano - span.start_unix_nano) : null);
  add("Queue position (initial)", num("cx.queue.position.initial"));
  add("Queue exit", a["cx.queue.exit_reason"]);
  add("Hold count", num("cx.agent.hold.count"));
  add("Hold time", ms(num("cx.agent.hold.duration_ms")));
  add("After-contact work", ms(num("cx.agent.acw.duration_ms")));
  add("Handoff latency", ms(num("cx.handoff.latency_ms")));
  add("Audio MOS", num("cx.audio.mos"));
  add("Audio MOS (worst)", num("cx.audio.mos_min"));
  add("Jitter", num("cx.audio.jitter_ms") != null ? `${num("cx.audio.jitter_ms")} ms` : null);
  add("Jitter (worst)", num("cx.audio.jitter_max_ms") != null ? `${num("cx.audio.jitter_max_ms")} ms` : null);
  add("Packet loss", num("cx.audio.packet_loss_pct") != null ? `${num("cx.audio.packet_loss_pct")}%` : null);
  add("Round-trip time", num("cx.audio.rtt_ms") != null ? `${num("cx.audio.rtt_ms")} ms` : null);
  add("Audio measured at", a["cx.audio.measurement.point"] && words(a["cx.audio.measurement.point"]));
  for (const key of Object.keys(a).filter((k) => k.startsWith("cx.turn.latency.")).sort()) {
    add(`Turn latency: ${words(key.slice("cx.turn.latency.".length).replace(/_ms$/, ""))}`, ms(num(key)));
  }
  add("Turn", num("cx.turn.number"));
  const children = (journey.spans || []).filter((s) => s.parent_span_id === span.span_id);
  const turns = children.filter((s) => (s.attributes || {})["cx.span.type"] === "turn");
  add("AI turns", num("cx.ai.turn_count") ?? (turns.length || null));
  add("Interruptions", num("cx.ai.interruption_count"));
  const latencies = turns.map((t) => Number((t.attributes || {})["cx.turn.latency.e2e_ms"])).filter((v) => Number.isFinite(v));
  if (latencies.length) {
    add("Turn latency (average)", ms(latencies.reduce((x, y) => x + y, 0) / latencies.length));
    add("Turn latency (slowest)", ms(Math.max(...latencies)));
  }
  add("AI intent", a["cx.ai.intent.name"]);
  add("AI cost", num("cx.ai.cost_usd") != null ? `$${num("cx.ai.cost_usd")}` : null);
  add("Child spans", children.length || null);
  add("SIP status", num("sip.response.status_code"));
  add("Q.850 cause", num("cx.telephony.q850_cause"));
  return [el("table", { class: "jt-metrics" }, el("tbody", {}, rows.map(([k, v]) =>
    el("tr", {}, el("th", { scope: "row", text: k }), el("td", { text: String(v) })))))];
}

function logsTab(item, journey) {
  const span = item.span;
  const events = (span.events || []).slice().sort((x, y) => x.time_unix_nano - y.time_unix_nano);
  if (!events.length) return [el("p", { class: "jt-muted", text: "No events on this span." })];
  return [el("ol", { class: "jt-logs" }, events.map((ev) => {
    const attrs = ev.attributes || {};
    const insight = ev.name === "cx.insight";
    const severity = insight ? attrs["cx.insight.severity"] : null;
    return el("li", { class: `jt-log${insight ? ` insight sev-${severity}` : ""}`, "data-event": ev.name },
      el("div", { class: "jt-log-head" },
        el("span", { class: "jt-log-time", title: `${offset(ev.time_unix_nano - journey.start_unix_nano)} from the journey's start`, text: offset(ev.time_unix_nano - span.start_unix_nano) }),
        el("code", { class: "jt-log-name", text: ev.name }),
        insight ? el("span", { class: `jt-sev sev-${severity}`, text: severity }) : null),
      insight && attrs["cx.insight.explanation"] ? el("p", { class: "jt-log-text", text: attrs["cx.insight.explanation"] }) : null,
      shownKeys(attrs, insight).length ? el("dl", { class: "jt-log-attrs" }, shownKeys(attrs, insight).flatMap((k) => {
        const v = typeof attrs[k] === "string" ? attrs[k] : JSON.stringify(attrs[k]);
        return [el("dt", { text: k }), el("dd", {}, isPhoneKey(k) && looksLikePhone(v) ? maskedPhone(v) : v)];
      })) : null);
  }))];
}

/** An event's attribute keys, sorted; an insight's explanation is already its text. */
function shownKeys(attrs, insight) {
  return Object.keys(attrs).filter((k) => !(insight && k === "cx.insight.explanation")).sort();
}

function insightsTab(item, journey, insights) {
  if (!insights.length) return [el("p", { class: "jt-muted", text: "No insights on this span." })];
  return [el("ul", { class: "jt-insight-list" }, insights.map((i) => el("li", { class: `jt-insight sev-${i.severity}`, "data-rule": i.rule },
    el("div", { class: "jt-insight-head" },
      el("span", { class: `jt-sev sev-${i.severity}`, text: i.severity }),
      el("strong", { text: insightLabel(i.rule) }),
      el("span", { class: "jt-muted", text: i.category })),
    el("p", { text: i.explanation }),
    i.value != null || i.threshold != null ? el("p", { class: "jt-insight-value" },
      `Value ${i.value != null ? `${i.value}${unit(i.unit)}` : "–"}`, i.threshold != null ? ` · threshold ${i.threshold}${unit(i.unit)}` : "") : null,
    [["platform", i.platform && platformLabel(i.platform)], ["queue", i.queue], ["agent", i.agent], ["flow", i.flow]].some(([, v]) => v)
      ? el("p", { class: "jt-muted", text: [["platform", i.platform && platformLabel(i.platform)], ["queue", i.queue], ["agent", i.agent], ["flow", i.flow]].filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`).join(" · ") })
      : null)))];
}

function unit(u) {
  if (!u) return "";
  return u === "%" ? "%" : ` ${u}`;
}
