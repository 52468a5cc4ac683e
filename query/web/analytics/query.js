// The analytics filters as they live in the page URL (/analytics?range=7d&platform=polyai&…) and
// the API parameters they stand for. The URL is the only state, so a view can be shared.

/** Quick ranges: URL value → [label, milliseconds]. */
export const RANGES = {
  "24h": ["24 h", 24 * 3600e3],
  "7d": ["7 d", 7 * 24 * 3600e3],
  "30d": ["30 d", 30 * 24 * 3600e3],
};
export const DEFAULT_RANGE = "7d";

/** Time-series intervals the API knows ("" = auto). */
export const INTERVALS = [["", "auto"], ["5m", "5 min"], ["15m", "15 min"], ["1h", "1 hour"], ["6h", "6 hours"], ["1d", "1 day"]];
export const INSIGHT_GROUPS = ["queue", "platform", "agent", "flow"];

/** The filters of a page URL (URL or URLSearchParams). */
export function readFilters(url) {
  const q = url instanceof URLSearchParams ? url : url.searchParams;
  const text = (name) => (q.get(name) || "").trim();
  const many = (name) => [...new Set(q.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean))];
  const from = text("from");
  const to = text("to");
  let range = RANGES[text("range")] ? text("range") : "";
  if (!range && !from && !to) range = DEFAULT_RANGE;
  const interval = text("interval");
  const by = text("by");
  return {
    range,
    from: range ? "" : from,
    to: range ? "" : to,
    platform: many("platform"),
    queue: text("queue"),
    flow: text("flow"),
    interval: interval === "auto" ? "" : interval, // an unknown one goes to the API, which says what is wrong
    by: INSIGHT_GROUPS.includes(by) ? by : "queue",
  };
}

/** The page URL's query string for filters (defaults left out, so links stay short). */
export function filtersSearch(filters) {
  const q = new URLSearchParams();
  const put = (name, value) => { if (value) q.append(name, value); };
  if (filters.range) { if (filters.range !== DEFAULT_RANGE) put("range", filters.range); }
  else { put("from", filters.from); put("to", filters.to); } // neither: the default range
  for (const p of filters.platform || []) put("platform", p);
  put("queue", filters.queue);
  put("flow", filters.flow);
  put("interval", filters.interval);
  if (filters.by && filters.by !== "queue") put("by", filters.by);
  return q.toString();
}

/** The page's href for filters. */
export function filtersHref(filters) {
  const search = filtersSearch(filters);
  return search ? `/analytics?${search}` : "/analytics";
}

/** The selection's API parameters, `now` fixing a quick range (all of a page's calls share it). */
export function apiParams(filters, now = Date.now()) {
  const params = new URLSearchParams();
  const put = (name, value) => { if (value) params.append(name, value); };
  if (filters.range) {
    const end = BigInt(Math.floor(now)) * 1000000n;
    put("from", (end - BigInt(RANGES[filters.range][1]) * 1000000n).toString());
    put("to", end.toString());
  } else {
    put("from", filters.from);
    put("to", filters.to);
  }
  for (const p of filters.platform) put("platform", p);
  put("queue", filters.queue);
  put("flow", filters.flow);
  return params;
}
