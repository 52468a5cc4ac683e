// What the flame chart draws, computed from a journey (GET /api/journeys/{id}?view=timeline): layers (one per
// platform / service), each span's row inside its layer, handoff connectors and annotated gaps.
// Pure functions, no DOM.

import { platformLabel } from "./fmt.js";

/** Span types with a colour of their own (base.css: --span-<type>); any other is "other". */
export const SPAN_TYPES = ["journey", "telephony", "ivr", "ai_conversation", "turn", "queue", "agent_interaction", "handoff"];

/** A span's type as the chart colours it. */
export function spanType(span) {
  const type = span.attributes && span.attributes["cx.span.type"];
  return SPAN_TYPES.includes(type) ? type : "other";
}

/** The layer a span is drawn in: "journey" for the synthetic root, else its platform
 * (`cx.platform.name` of the span, then of its resource), a handoff without one in the layer of the
 * platform it leaves, else its service name. */
export function layerKey(span) {
  const a = span.attributes || {};
  const r = span.resource_attributes || {};
  if (a["cx.span.type"] === "journey") return "journey";
  return a["cx.platform.name"] || r["cx.platform.name"]
    || (a["cx.span.type"] === "handoff" && (a["cx.handoff.from.platform"] || a["cx.handoff.to.platform"]))
    || span.service_name || r["service.name"] || "unknown";
}

/** The chart model: {start, end, total, spans: [{span, id, type, layer, row, x, w}], layers: [{key,
 * label, legs, rows}], byId, connectors, gaps}. x and w are fractions (0–1) of the journey's time. */
export function buildModel(journey) {
  const start = journey.start_unix_nano;
  const end = Math.max(journey.end_unix_nano, start + 1e9); // an instant journey still gets a second
  const total = end - start;
  const byId = new Map();
  const items = [];
  for (const span of journey.spans || []) {
    const s = Math.max(start, Math.min(span.start_unix_nano, end));
    const e = Math.max(s, Math.min(span.end_unix_nano, end));
    const item = {
      span, id: span.span_id, type: spanType(span), layer: layerKey(span), row: 0, depth: 0,
      start: s, end: e, x: (s - start) / total, w: (e - s) / total,
    };
    if (item.layer === "journey") Object.assign(item, { start, end, x: 0, w: 1 }); // the root spans it all
    items.push(item);
    byId.set(item.id, item);
  }
  // depth in the span tree (parents first), guarding against cycles
  for (const item of items) {
    let depth = 0;
    let parent = byId.get(item.span.parent_span_id);
    const seen = new Set([item.id]);
    while (parent && !seen.has(parent.id) && depth < 64) {
      seen.add(parent.id);
      depth += 1;
      parent = byId.get(parent.span.parent_span_id);
    }
    item.depth = depth;
  }

  const layers = orderLayers(journey, items);
  const layerOf = new Map(layers.map((l) => [l.key, l]));
  const ordered = items.slice().sort((a, b) => a.start - b.start || a.depth - b.depth || b.end - a.end);
  const rowEnds = new Map(layers.map((l) => [l.key, []]));
  for (const item of ordered) {
    const ends = rowEnds.get(item.layer);
    const ancestor = sameLayerAncestor(item, byId);
    let row = ancestor ? ancestor.row + 1 : 0;
    while (row < ends.length && ends[row] > item.start) row += 1;
    item.row = row;
    ends[row] = Math.max(ends[row] ?? -Infinity, item.end === item.start ? item.end + total * 0.002 : item.end);
  }
  for (const layer of layers) layer.rows = Math.max(1, rowEnds.get(layer.key).length);
  // visual order: layer, row, start (for keyboard moves between bars)
  const order = items.slice().sort((a, b) => layerOf.get(a.layer).index - layerOf.get(b.layer).index
    || a.row - b.row || a.start - b.start);

  return {
    start, end, total, items, order, byId, layers,
    connectors: connectors(journey, items, layerOf, start, total),
    gaps: gaps(journey, items, start, end),
  };
}

function sameLayerAncestor(item, byId) {
  let parent = byId.get(item.span.parent_span_id);
  for (let hops = 0; parent && hops < 64; hops += 1) {
    if (parent.layer === item.layer) return parent;
    parent = byId.get(parent.span.parent_span_id);
  }
  return null;
}

/** Layers: the journey first, then platforms in leg order, then any other in order of first span. */
function orderLayers(journey, items) {
  const keys = [];
  const add = (key) => { if (key && !keys.includes(key)) keys.push(key); };
  if (items.some((i) => i.layer === "journey")) add("journey");
  for (const leg of journey.legs || []) if (items.some((i) => i.layer === leg.platform)) add(leg.platform);
  for (const item of items.slice().sort((a, b) => a.start - b.start)) add(item.layer);
  return keys.map((key, index) => {
    const legs = (journey.legs || []).filter((l) => l.platform === key).map((l) => l.leg);
    return { key, index, legs, label: key === "journey" ? "Journey" : platformLabel(key), rows: 1 };
  });
}

/** Handoff spans become connectors from one layer to another: those that name both platforms
 * (journeytrace's own, between legs) at their time; a platform's own handoff (which names only
 * kinds: ai → human) from its layer to the next leg on another platform that starts after it
 * (within 10 min), ending where that leg starts. */
function connectors(journey, items, layerOf, start, total) {
  const found = [];
  const legs = (journey.legs || []).slice().sort((a, b) => a.start_unix_nano - b.start_unix_nano);
  for (const item of items) {
    if (item.type !== "handoff") continue;
    const a = item.span.attributes || {};
    let from = a["cx.handoff.from.platform"];
    let to = a["cx.handoff.to.platform"];
    let x2 = item.x + item.w;
    let inferred = false;
    if (!from || !to) {
      from = from || item.layer;
      const next = legs.find((l) => l.platform !== from && (!to || l.platform === to)
        && l.start_unix_nano >= item.start - 5e9 && l.start_unix_nano <= item.end + 600e9);
      if (!next) continue;
      to = next.platform;
      x2 = Math.max(item.x + item.w, (next.start_unix_nano - start) / total);
      inferred = true;
    }
    if (!layerOf.has(from) || !layerOf.has(to) || from === to) continue;
    found.push({ id: item.id, from, to, x: item.x, x2, item, inferred });
  }
  return found;
}

/** Stretches of the journey where no span (besides the root and handoffs) runs, with their
 * likely cause: a handoff or transfer in them or just before → transition; a queue or a hold →
 * hold / queue; a record still expected (data_pending) → data delayed; else missing data. */
function gaps(journey, items, start, end) {
  const active = items.filter((i) => i.type !== "journey" && i.type !== "handoff" && i.end > i.start)
    .sort((a, b) => a.start - b.start);
  const minimum = Math.max((end - start) * 0.004, 500e6); // ignore slivers: 0.4% of the journey, 0.5 s
  const holes = [];
  let covered = start;
  for (const item of active) {
    if (item.start > covered && item.start - covered >= minimum) holes.push([covered, item.start]);
    covered = Math.max(covered, item.end);
  }
  if (end > covered && end - covered >= minimum && active.length) holes.push([covered, end]);
  const pending = (journey.insights || []).some((i) => i.rule === "data_pending");
  const total = end - start;
  const slack = Math.max(total * 0.005, 1e9);
  return holes.map(([s, e]) => {
    // a handoff or transfer explains a gap when it happened in it, or during the last activity
    // before it (a transfer ends a leg; the next leg starts after the gap)
    let last = -Infinity; // the latest start of the spans that ran up to the gap
    for (const i of active) if (i.end <= s + slack && i.end >= s - slack) last = Math.max(last, i.start);
    const since = (last === -Infinity ? s : last) - slack;
    const near = (i) => i.start <= e && i.end >= s;
    let cause = "missing";
    if (items.some((i) => (i.type === "handoff" && i.start >= since && i.start <= e + slack) || transferAt(i, since, e + slack))) cause = "transition";
    else if (items.some((i) => (i.type === "queue" && near(i)) || holdIn(i, s, e))) cause = "hold";
    else if (pending) cause = "delayed";
    return { start: s, end: e, x: (s - start) / total, w: (e - s) / total, cause, label: GAP_LABELS[cause] };
  });
}

export const GAP_LABELS = { transition: "transition", hold: "hold / queue", delayed: "data delayed", missing: "no data (missing)" };

function transferAt(item, s, e) {
  return (item.span.events || []).some((ev) => ev.name === "cx.transfer" && ev.time_unix_nano >= s && ev.time_unix_nano <= e);
}

function holdIn(item, s, e) {
  return (item.span.events || []).some((ev) => /hold/.test(ev.name) && ev.time_unix_nano >= s && ev.time_unix_nano <= e);
}
