// The analytics page (`/analytics`): how journeys went over a date range, charted from the
// historical analytics API (docs/analytics.md). The URL holds the filters, so a view can be shared
// and Back / Forward restore it. Each panel fetches its endpoint and shows loading, empty, the
// server's error, or its charts; every bar and row that stands for journeys links to them.

import { getJSON } from "./api.js";
import { navigate } from "./app.js";
import { nanosOf } from "./format.js";
import { h } from "./analytics/dom.js";
import { buildForm } from "./analytics/form.js";
import { insightBars, patternsTable, severityLegend } from "./analytics/issues.js";
import { headline, outcomes } from "./analytics/overview.js";
import { EMPTY_TEXT, panel } from "./analytics/panel.js";
import { pathsChart, pathsTable } from "./analytics/paths.js";
import { apiParams, filtersHref, INSIGHT_GROUPS, readFilters } from "./analytics/query.js";
import { intervalText, ratesCharts } from "./analytics/rates.js";
import { installTooltip } from "./analytics/tooltip.js";
import { handoffs, queueWaits } from "./analytics/waits.js";

const PATH_ROWS = 15;
const GROUP_LABELS = { queue: "Queue", platform: "Platform", agent: "Agent", flow: "IVR flow" };

let stylesheet = null;
function ensureStylesheet() {
  if (!stylesheet) {
    stylesheet = h("link", { rel: "stylesheet", href: "/web/analytics.css", dataset: { page: "analytics" } });
    document.head.append(stylesheet);
  }
}

// The control that changed the view (a CSS selector), focused again on the page drawn for it.
let refocus = null;

export function render(root, url) {
  ensureStylesheet();
  const filters = readFilters(url);
  const params = apiParams(filters);
  const controller = new AbortController();
  const { signal } = controller;
  const fromNs = nanosOf(params.get("from") || "");
  const toNs = nanosOf(params.get("to") || "");

  const get = (endpoint, extra = {}) => {
    const query = new URLSearchParams(params);
    for (const [key, value] of Object.entries(extra)) if (value) query.set(key, value);
    return getJSON(`/api/analytics/${endpoint}`, query, { signal });
  };

  const apply = (next, selector) => {
    refocus = selector || (document.activeElement && document.activeElement.matches("button.range")
      ? `button.range[data-range="${document.activeElement.dataset.range}"]` : "form.an-filters button[type=submit]");
    navigate(filtersHref(next));
  };
  const form = buildForm(filters, { fromNs, toNs, onApply: (next) => apply(next) });

  const overviewPanel = panel("overview", "Overview", "Journeys that started in the range and match the filters.");
  const pathsPanel = panel("paths", "Journey paths", "Which platforms customers went through, leg by leg. Hover a band or a node for counts.");
  const ratesPanel = panel("rates", "Rates over time", "");
  const waitPanel = panel("queue-wait", "Queue wait", "How long customers waited in queues (journeys that queued).");
  const handoffPanel = panel("handoffs", "Handoff latency", "How long each handoff between platforms took.");
  const groupButtons = h("div", { class: "an-toggle", role: "group", "aria-label": "Group insights by" },
    INSIGHT_GROUPS.map((by) => h("button", { type: "button", dataset: { by }, "aria-pressed": String(filters.by === by) }, GROUP_LABELS[by])));
  const insightsPanel = panel("insights", "Insights by where they happened", "Journeys with each insight, grouped by what the insight named.",
    groupButtons);
  const patternsPanel = panel("patterns", "Recurring patterns",
    "Insight rules crossed with the queues, agents and IVR flows of their journeys; lift above 1 means the issue concentrates there.");

  const page = h("div", { class: "an-page", dataset: { state: "loading" } },
    h("h1", { class: "an-title" }, "Analytics"),
    form.element,
    overviewPanel.section,
    pathsPanel.section,
    ratesPanel.section,
    h("div", { class: "an-columns" }, waitPanel.section, handoffPanel.section),
    insightsPanel.section,
    patternsPanel.section);
  root.replaceChildren(page);
  const removeTooltip = installTooltip(page);

  if (refocus) {
    const target = page.querySelector(refocus);
    if (target) target.focus({ preventScroll: true });
    refocus = null;
  }

  // Charts are drawn for the panel's width; a resize draws them again (one drawer per panel).
  const drawers = new Map();
  const show = (target, load, draw, isEmpty, emptyText = EMPTY_TEXT, current = () => true) => load.then((answer) => {
    if (signal.aborted || !current()) return answer;
    const paint = () => {
      if (isEmpty(answer)) target.empty(typeof emptyText === "function" ? emptyText(answer) : emptyText);
      else target.ready(draw(answer, target.width()));
    };
    paint();
    drawers.set(target, paint);
    return answer;
  }, (error) => {
    if (error.name === "AbortError" || signal.aborted) return null;
    if (current()) target.error(error.message || String(error));
    throw error;
  });

  const overview = get("overview");
  // Panels whose own answer cannot tell "no journeys" from "none of them queued / handed off" ask the overview.
  const withTotal = (load) => Promise.all([load, overview]).then(([answer, o]) => ({ ...answer, total: o.journey_count }));
  show(overviewPanel, overview, (o) => [headline(o), outcomes(o)], () => false)
    .then((o) => { if (o && !o.journey_count) overviewPanel.section.dataset.state = "empty"; }, () => {});
  const paths = show(pathsPanel, get("paths", { limit: String(PATH_ROWS) }),
    (answer, width) => [pathsChart(answer, width), h("h3", { class: "an-sub" }, "Most common paths"), pathsTable(answer)],
    (answer) => !answer.journey_count);
  const rates = show(ratesPanel, get("timeseries", { interval: filters.interval }), (answer, width) => ratesCharts(answer, width),
    (answer) => !answer.buckets.some((b) => b.journey_count));
  rates.then((answer) => {
    if (answer) ratesPanel.note.textContent = `Containment, handoff, drop and abandon rates ${intervalText(answer, Boolean(filters.interval))}; ` +
      "the lines break where no journey started.";
  }, () => {});
  const waits = show(waitPanel, withTotal(get("queue-wait")), queueWaits, (answer) => !answer.journey_count,
    (answer) => answer.total ? "No journey in this range waited in a queue." : EMPTY_TEXT);
  const hops = show(handoffPanel, withTotal(get("handoffs")), handoffs, (answer) => !answer.handoff_count,
    (answer) => answer.total ? "No handoffs in this range." : EMPTY_TEXT);
  const patterns = show(patternsPanel, get("patterns"), (answer) => patternsTable(answer), (answer) => !answer.patterns.length,
    (answer) => answer.journey_count ? "No recurring issues in this range." : EMPTY_TEXT);

  // Insights: the group-by buttons redraw this panel alone (and keep the choice in the URL).
  let insightsRound = 0;
  const loadInsights = (by) => {
    const round = ++insightsRound;
    for (const button of groupButtons.querySelectorAll("button")) button.setAttribute("aria-pressed", String(button.dataset.by === by));
    insightsPanel.loading();
    return show(insightsPanel, get("insights", { by }), (answer) => [severityLegend(), insightBars(answer)],
      (answer) => !answer.rules.length,
      (answer) => answer.journey_count ? `No insights in these ${answer.journey_count} journeys.` : EMPTY_TEXT,
      () => round === insightsRound);
  };
  groupButtons.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-by]");
    if (!button || button.getAttribute("aria-pressed") === "true") return;
    filters.by = button.dataset.by;
    history.pushState(null, "", filtersHref(filters));
    loadInsights(filters.by).catch(() => {});
  });
  const insights = loadInsights(filters.by);

  // Options for the queue and flow inputs, from what the range holds.
  Promise.allSettled([waits, patterns]).then(([w, p]) => {
    if (signal.aborted) return;
    form.setOptions({
      queues: w.status === "fulfilled" && w.value ? w.value.queues.map((q) => q.queue) : [],
      flows: p.status === "fulfilled" && p.value ? [...new Set(p.value.patterns.filter((x) => x.dimension === "flow").map((x) => x.value))] : [],
    });
  });

  Promise.allSettled([overview, paths, rates, waits, hops, insights, patterns]).then((results) => {
    if (signal.aborted) return;
    const failed = results.some((r) => r.status === "rejected");
    page.dataset.state = failed ? "error" : results[0].value.journey_count ? "ready" : "empty";
  });

  let width = page.clientWidth;
  let timer = null;
  const resized = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (page.clientWidth === width) return;
      width = page.clientWidth;
      for (const draw of drawers.values()) draw();
    }, 150);
  };
  window.addEventListener("resize", resized);

  return () => {
    controller.abort();
    clearTimeout(timer);
    window.removeEventListener("resize", resized);
    form.cleanup();
    removeTooltip();
  };
}
