// The list's filters as they live in the page URL (?phone=…&platform=a&platform=b&range=1h…),
// and the API parameters they stand for. The URL is the only state: a shared link is the search.

import { nanosOf } from "../format.js";

export const DEFAULT_LIMIT = 50;

/** Quick ranges: URL value → [label, milliseconds]. */
export const RANGES = {
  "15m": ["15 min", 15 * 60e3],
  "1h": ["1 h", 3600e3],
  "24h": ["24 h", 24 * 3600e3],
  "7d": ["7 d", 7 * 24 * 3600e3],
  "30d": ["30 d", 30 * 24 * 3600e3],
};

const HEX32 = /^[0-9a-fA-F]{32}$/;

/** Filters the analytics page's links narrow by and the form has no control for: kept in the
 * URL and sent to the API as they are, shown as removable chips. */
export const LINKED = { queue: "Queue", flow: "IVR flow", agent: "Agent", path: "Path" };

/** The filters of a page URL (a URL or URLSearchParams). */
export function readFilters(url) {
  const q = url instanceof URLSearchParams ? url : url.searchParams;
  const text = (name) => (q.get(name) || "").trim();
  const many = (name) => [...new Set(q.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean))];
  const limit = Number.parseInt(text("limit"), 10);
  return {
    phone: text("phone"),
    range: RANGES[text("range")] ? text("range") : "",
    from: text("from"),
    to: text("to"),
    platform: many("platform"),
    insight: many("insight"),
    outcome: text("outcome"),
    status: text("status"),
    interaction_id: text("interaction_id"),
    linked: Object.fromEntries(Object.keys(LINKED).map((name) => [name, text(name)]).filter(([, v]) => v)),
    limit: limit >= 1 && limit <= 1000 ? limit : DEFAULT_LIMIT,
    before: /^[0-9]+$/.test(text("before")) ? text("before") : "",
  };
}

/** The page URL's query string for filters (defaults left out, so links stay short). */
export function filtersSearch(filters) {
  const q = new URLSearchParams();
  const put = (name, value) => { if (value) q.append(name, value); };
  put("phone", filters.phone);
  if (filters.range) put("range", filters.range);
  else { put("from", filters.from); put("to", filters.to); }
  for (const p of filters.platform || []) put("platform", p);
  for (const i of filters.insight || []) put("insight", i);
  put("outcome", filters.outcome);
  put("status", filters.status);
  put("interaction_id", filters.interaction_id);
  for (const [name, value] of Object.entries(filters.linked || {})) put(name, value);
  if (filters.limit && filters.limit !== DEFAULT_LIMIT) put("limit", String(filters.limit));
  put("before", filters.before);
  return q.toString();
}

/** The page's href for filters. */
export function filtersHref(filters) {
  const search = filtersSearch(filters);
  return search ? `/?${search}` : "/";
}

/** True when any filter narrows the list (paging and page size aside). */
export function isFiltered(filters) {
  return Boolean(filters.phone || filters.range || filters.from || filters.to || filters.platform.length ||
    filters.insight.length || filters.outcome || filters.status || filters.interaction_id ||
    Object.keys(filters.linked || {}).length);
}

/** The free text looks like a journey ID (which a journey page can open directly). */
export function looksLikeJourneyId(text) {
  return HEX32.test(text || "");
}

/** `GET /api/journeys` parameters for the filters, now: a quick range becomes `from`, a page
 * cursor (`before`) becomes `to` when it is the earlier bound. */
export function apiParams(filters, { paged = true } = {}) {
  const params = new URLSearchParams();
  const put = (name, value) => { if (value) params.append(name, value); };
  put("phone", filters.phone);
  let to = filters.to;
  if (filters.range) {
    put("from", (BigInt(Date.now()) * 1000000n - BigInt(RANGES[filters.range][1]) * 1000000n).toString());
    to = "";
  } else {
    put("from", filters.from);
  }
  if (paged && filters.before) {
    const bound = BigInt(filters.before);
    const given = to ? nanosOf(to) : null;
    to = given !== null && given < bound ? to : bound.toString();
  }
  put("to", to);
  for (const p of filters.platform) put("platform", p);
  for (const i of filters.insight) put("insight", i);
  put("outcome", filters.outcome);
  put("status", filters.status);
  put("interaction_id", filters.interaction_id);
  for (const [name, value] of Object.entries(filters.linked || {})) put(name, value);
  put("limit", String(filters.limit));
  return params;
}
