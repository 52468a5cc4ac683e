// The journey page (/journeys/{id}). This module is small on purpose: it asks the server for the
// journey at once (or takes over the request index.html made), and loads the page's code
// (journey/page.js) while the answer is on its way.

const JOURNEY_ID = /^[0-9a-fA-F]{32}$/;

function ensureStyles() {
  if (document.querySelector('link[data-page-css="journey"]')) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/web/journey.css";
  link.dataset.pageCss = "journey";
  document.head.append(link);
}

/** Draw the journey `id` into `root`; returns the cleanup function. */
export function render(root, id) {
  ensureStyles();
  const abort = new AbortController();
  const valid = JOURNEY_ID.test(id);
  // index.html asked already when the page was opened on this journey (once: later visits ask anew).
  const early = window.__journeyFirst;
  window.__journeyFirst = null;
  const first = !valid ? null : early && early.id === id.toLowerCase() ? early.response : fetch(`/api/journeys/${id.toLowerCase()}?view=timeline`, {
    signal: abort.signal, cache: "no-store", headers: { Accept: "application/json" },
  });
  if (first) first.catch(() => {}); // page.js handles a failure; this keeps it from being "unhandled"
  let cleanup = null;
  let stopped = false;
  import("./journey/page.js").then((page) => {
    if (!stopped) cleanup = page.mount(root, id, { first, abort });
  });
  return () => {
    stopped = true;
    abort.abort();
    if (cleanup) cleanup();
  };
}
