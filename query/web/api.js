// Fetch helpers for the public APIs: JSON GETs with repeatable query parameters, and the two
// small documents every page reads once (the insight catalogue, the UI settings).

/** A query string from an object; array values repeat their key, empty values are left out. */
export function queryString(params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== "") search.append(key, String(one));
    }
  }
  return search.toString();
}

/** GET `path` (with `params`, an object or URLSearchParams) and return its JSON. On a 4xx/5xx
 * answer, throws an Error whose message is the server's `{"error": ...}` (`.status` holds the code).
 * `reviver` is JSON.parse's (it also gets the source text of numbers, for exact nanoseconds). */
export async function getJSON(path, params, { signal, reviver } = {}) {
  const query = params instanceof URLSearchParams ? params.toString() : queryString(params);
  const response = await fetch(query ? `${path}?${query}` : path, { signal, headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = JSON.parse(await response.text(), reviver);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.error === "string" ? body.error : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

const cache = new Map();

function once(key, load) {
  if (!cache.has(key)) {
    const pending = load();
    pending.catch(() => cache.delete(key)); // a failure is not remembered: the next call retries
    cache.set(key, pending);
  }
  return cache.get(key);
}

/** The answer the server placed in the page as `<script type="application/json" id=…>` (see
 * query/first_answer.py), taken once: null when absent, already taken or unreadable. */
export function embeddedAnswer(id, reviver) {
  const element = document.getElementById(id);
  if (!element) return null;
  element.remove();
  try {
    return { params: element.dataset.params ?? null, body: JSON.parse(element.textContent, reviver) };
  } catch {
    return null;
  }
}

/** The insight catalogue: [{id, category, severity, severities, description}] (from the page, or fetched; once). */
export function insightRules() {
  return once("rules", () => {
    const embedded = embeddedAnswer("jt-insight-rules");
    return embedded ? Promise.resolve(embedded.body.rules) : getJSON("/api/insights/rules").then((body) => body.rules);
  });
}

/** {jaeger_ui_url, grafana_url, grafana_tempo_datasource}; empty strings when not configured (fetched once). */
export function uiConfig() {
  return once("ui", () => getJSON("/api/ui/config"));
}
