// The journey page (/journeys/{id}): header, flame chart, span details. While the journey is in
// progress it polls GET /api/journeys/{id}?view=timeline every 2 s and redraws when data or
// analysis changed, keeping the zoom and the selected span. The chart holds spans in outline;
// the detail panel reads a span in full from GET /api/journeys/{id}/spans/{span_id}.

import { getJSON, uiConfig } from "../api.js";
import { renderDetails } from "./details.js";
import { createFlame } from "./flame.js";
import { el } from "./fmt.js";
import { renderHeader } from "./header.js";
import { buildModel } from "./model.js";

const POLL_MS = 2000;
const HOVER_MS = 80;

/** Draw the journey `id` into `root`. `first` is the response to GET /api/journeys/{id}?view=timeline already on
 * its way (null when `id` is not a journey ID); `abort` cancels requests. Returns the cleanup. */
export function mount(root, id, { first, abort }) {
  const page = el("section", { class: "jt-journey", "aria-busy": "true" });
  root.replaceChildren(page);
  if (!first) {
    notFound(page, id, "is not a journey ID (32 hexadecimal characters)");
    return () => {};
  }
  const config = uiConfig().catch(() => null);

  const state = { id: id.toLowerCase(), journey: null, stamp: null, model: null, selected: null, tab: "attributes" };
  let timer = 0;
  let stopped = false;

  const headerSlot = el("div", { class: "jt-head-slot" });
  const panel = el("aside", { class: "jt-panel", hidden: true, "aria-label": "Span details" });
  // A bar the pointer rests on is asked for in full already, so that a click on it (~100 ms
  // to read a span of a 5,000-span journey) finds it there.
  let hovered = 0;
  const onHover = (spanId) => {
    clearTimeout(hovered);
    hovered = setTimeout(() => { if (!stopped && state.model && state.model.byId.has(spanId)) fetchSpan(spanId); }, HOVER_MS);
  };
  const flame = createFlame({ onSelect: (spanId) => open(spanId), onClose: close, onHover });
  const body = el("div", { class: "jt-body" }, el("div", { class: "jt-chart-wrap" }, flame.element), panel);
  const loading = el("p", { class: "jt-loading", role: "status", text: "Loading journey…" });
  page.append(headerSlot, loading);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      close();
      event.preventDefault();
    }
  });

  function open(spanId, { show = false, tab = null } = {}) {
    if (!state.model || !state.model.byId.has(spanId)) return;
    state.selected = spanId;
    if (tab) state.tab = tab;
    flame.select(spanId, { show });
    drawPanel();
  }

  function close() {
    if (!state.selected) return;
    flame.focusSelected();
    state.selected = null;
    flame.select(null);
    panel.hidden = true;
    panel.replaceChildren();
  }

  function drawPanel() {
    const item = state.selected && state.model.byId.get(state.selected);
    if (!item) {
      state.selected = null;
      panel.hidden = true;
      panel.replaceChildren();
      return;
    }
    // The chart holds each span in outline (?view=timeline); the panel shows it in full, asked
    // for once per span and journey version (a live update shows the older one until then).
    const cached = spans.get(item.id);
    if (!cached || cached.version !== state.stamp) fetchSpan(item.id);
    if (!cached) {
      if (!panel.querySelector(".jt-panel-loading")) {
        panel.replaceChildren(el("p", { class: "jt-panel-loading", role: "status", text: `Loading ${item.span.name}…` }));
      }
      panel.hidden = false;
      return;
    }
    const full = cached.value;
    const scrolled = panel.scrollTop; // a live redraw keeps the reader's place
    const shown = full instanceof Error ? item : { ...item, span: full };
    panel.replaceChildren(renderDetails(shown, state.journey, state, { onSelect: (spanId) => open(spanId, { show: true }), onClose: close }));
    if (full instanceof Error) panel.prepend(el("p", { class: "jt-panel-error", role: "alert", text: `Only an outline of this span could be shown: ${full.message}` }));
    panel.hidden = false;
    panel.scrollTop = scrolled;
  }

  const spans = new Map(); // span ID → {version: the journey's stamp, value: the span in full or the Error instead}
  const asked = new Set();

  async function fetchSpan(spanId) {
    const cached = spans.get(spanId);
    if (asked.has(spanId) || (cached && cached.version === state.stamp)) return;
    asked.add(spanId);
    const version = state.stamp;
    let found;
    try {
      found = await getJSON(`/api/journeys/${state.id}/spans/${spanId}`, {}, { signal: abort.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      found = error;
    } finally {
      asked.delete(spanId);
    }
    if (stopped) return;
    spans.set(spanId, { version, value: found });
    if (state.selected === spanId) drawPanel();
  }

  function draw(journey, cfg) {
    state.journey = journey;
    headerSlot.replaceChildren(renderHeader(journey, cfg, { onInsight: (spanId) => open(spanId, { show: true, tab: "insights" }) }));
    if (!body.isConnected) {
      loading.remove();
      page.append(body);
    }
    state.model = buildModel(journey);
    flame.update(state.model);
    if (state.selected) drawPanel();
    page.setAttribute("aria-busy", "false");
    page.dataset.journeyId = journey.journey_id;
    document.title = `Journey ${journey.journey_id.slice(0, 8)}… · journeytrace`;
  }

  async function load(initial) {
    let answer;
    try {
      answer = await (initial || fetch(`/api/journeys/${state.id}?view=timeline`, { signal: abort.signal, cache: "no-store", headers: { Accept: "application/json" } }));
    } catch {
      if (!stopped) schedule(initial ? 0 : POLL_MS); // offline for a moment: try again
      return;
    }
    if (stopped) return;
    const isFirst = Boolean(initial);
    if (isFirst) performance.mark("journey:response");
    if (answer.status === 404 && !state.journey) {
      notFound(page, state.id, "was not found");
      return;
    }
    if (!answer.ok) {
      if (!state.journey) failed(page, state.id, answer.status);
      else schedule(POLL_MS);
      return;
    }
    let journey;
    try {
      journey = await answer.json();
    } catch {
      if (!stopped) schedule(POLL_MS);
      return;
    }
    if (stopped) return;
    if (isFirst) performance.mark("journey:parsed");
    const cfg = await config;
    if (stopped) return;
    if (journey.journey_id && journey.journey_id !== state.id) {
      // an alias (a journey merged into another): show the journey's own ID in the address bar
      state.id = journey.journey_id;
      history.replaceState(history.state, "", `/journeys/${state.id}${location.search}${location.hash}`);
    }
    const stamp = `${journey.updated_unix_nano}|${journey.analysis && journey.analysis.analysed_unix_nano}|${journey.status}`;
    if (stamp !== state.stamp) {
      state.stamp = stamp;
      draw(journey, cfg);
      if (isFirst) {
        // for benchmarks and tests: when every bar was in the page, and when it was first painted
        window.__journeyRendered = performance.now();
        requestAnimationFrame(() => setTimeout(() => { window.__journeyPainted = performance.now(); }, 0));
      }
    }
    if (journey.status === "in_progress") schedule(POLL_MS);
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(() => load(false), ms);
  }

  load(first);
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(hovered);
    flame.destroy();
  };
}

function notFound(page, id, why) {
  page.setAttribute("aria-busy", "false");
  page.replaceChildren(el("div", { class: "jt-notfound", role: "alert" },
    el("h1", { text: "Journey not found" }),
    el("p", {}, "The journey ", el("code", { text: id }), ` ${why}.`),
    el("p", {}, el("a", { href: "/", text: "← Back to the journey list" }))));
}

function failed(page, id, status) {
  page.setAttribute("aria-busy", "false");
  page.replaceChildren(el("div", { class: "jt-notfound", role: "alert" },
    el("h1", { text: "Could not load the journey" }),
    el("p", {}, "The server answered ", el("code", { text: String(status) }), " for ", el("code", { text: id }), "."),
    el("p", {}, el("a", { href: "/", text: "← Back to the journey list" }))));
}
