// The journey list (`/`): the filter form, the results newest first with keyset paging, and
// live updates over server-sent events while the first page is shown. The URL holds the search.

import { embeddedAnswer, getJSON, insightRules } from "./api.js";
import { navigate } from "./app.js";
import "./format.js"; // imported here too so the browser fetches it with the others, not a step later
import { buildForm } from "./list/form.js";
import { openLive } from "./list/live.js";
import { apiParams, filtersHref, filtersSearch, isFiltered, looksLikeJourneyId, readFilters } from "./list/query.js";
import { cursorAfter, newestFirst, reviveRecord } from "./list/records.js";
import { h } from "./dom.js";
import { buildTable, RowSet } from "./list/table.js";

const PAGE_SIZES = [25, 50, 100, 200];

// The pages of the current search seen so far (their `before` cursors, "" for the first), so
// "Newer" can step back a page; kept across renders, reset when the filters change.
let trail = { key: null, cursors: [""] };

// The control that started a search (a CSS selector), focused again on the page it draws, so
// the keyboard stays where it was: the page is drawn anew on every search.
let refocus = null;

function focusKey(element) {
  if (!element || element === document.body) return null;
  if (element.id) return `#${element.id}`;
  if (element.matches("button.range")) return `button.range[data-range="${element.dataset.range}"]`;
  if (element.matches("button.pager.older, button.pager.newer")) return `button.pager.${element.classList.contains("older") ? "older" : "newer"}`;
  if (element.matches("form.filters button[type=submit]")) return "form.filters button[type=submit]";
  return null;
}

function restoreFocus(root) {
  const target = refocus && root.querySelector(refocus);
  if (target && !target.disabled) {
    target.focus({ preventScroll: true });
    refocus = null;
  }
}

let stylesheet = null; // resolves when list.css has loaded (or failed: the page shows regardless)

function ensureStylesheet() {
  // Linked by index.html, or inline in a page the server drew (query/first_answer.py).
  const linked = document.querySelector('link[rel=stylesheet][href="/web/list.css"], style[data-href="/web/list.css"]');
  if (!stylesheet && linked && linked.sheet) stylesheet = Promise.resolve(); // index.html loaded it
  if (!stylesheet) {
    stylesheet = new Promise((resolve) => {
      const link = h("link", { rel: "stylesheet", href: "/web/list.css", dataset: { page: "list" } });
      link.addEventListener("load", resolve, { once: true });
      link.addEventListener("error", resolve, { once: true });
      document.head.append(link);
    });
  }
  return stylesheet;
}

export function render(root, url) {
  const styled = ensureStylesheet();
  const filters = readFilters(url);
  const key = filtersSearch({ ...filters, before: "" });
  if (trail.key !== key) trail = { key, cursors: [""] };
  if (!trail.cursors.includes(filters.before)) trail.cursors = ["", filters.before];
  const pageIndex = trail.cursors.indexOf(filters.before);
  const firstPage = !filters.before;

  const aborter = new AbortController();
  // The first page: the answer the server put in the HTML when it is for exactly this query,
  // else asked now, before the page is drawn.
  const firstAnswer = Promise.all([embeddedPage() || fetchPage(), insightRules().catch(() => [])]);
  firstAnswer.catch(() => {}); // handled in load()
  let disposed = false;
  let closeLive = null;
  let records = [];

  const go = (next, { replace = false } = {}) => {
    const href = filtersHref(next);
    refocus = focusKey(document.activeElement);
    navigate(href, { replace: replace || href === location.pathname + location.search });
  };

  const form = buildForm(filters, { onSearch: (next) => go(next) });
  const liveBadge = h("span", { class: "live-badge", dataset: { live: "off" }, hidden: true, role: "status" });
  const count = h("span", { class: "count", "aria-live": "polite" });
  const pageSize = h("select", { id: "f-limit", "aria-label": "Journeys per page" },
    [...new Set([...PAGE_SIZES, filters.limit])].sort((a, b) => a - b)
      .map((n) => h("option", { value: String(n), selected: n === filters.limit }, String(n))));
  const newer = h("button", { type: "button", class: "pager newer", disabled: firstPage }, "← Newer");
  const older = h("button", { type: "button", class: "pager older", disabled: true }, "Next page →");
  const { table, body: tbody } = buildTable();
  const message = h("div", { class: "message", hidden: true });
  const results = h("section", { class: "results", dataset: { state: "loading" }, "aria-busy": "true", "aria-label": "Journeys" },
    h("div", { class: "bar" },
      h("h1", {}, firstPage ? "Journeys" : `Journeys · page ${pageIndex + 1}`), count, liveBadge,
      h("span", { class: "spacer" }),
      h("label", { class: "page-size" }, "Per page ", pageSize), newer, older),
    message,
    h("div", { class: "table-wrap" }, table));
  const pageElement = h("div", { class: "list-page", style: "visibility: hidden" }, form.element, results);
  root.append(pageElement);
  styled.then(() => { pageElement.style.visibility = ""; restoreFocus(root); }); // no flash of unstyled page

  const rows = new RowSet(tbody, new Map());

  function setState(state) {
    results.dataset.state = state;
    results.setAttribute("aria-busy", String(state === "loading"));
  }

  function showMessage(...content) {
    message.replaceChildren(...content);
    message.hidden = content.length === 0;
  }

  function showRecords(list, { flash = false } = {}) {
    records = list;
    rows.show(records, { flash });
    table.hidden = records.length === 0;
    count.textContent = records.length ? `${records.length} journey${records.length === 1 ? "" : "s"}, newest first` : "";
    older.disabled = records.length < filters.limit;
    message.classList.remove("error");
    message.setAttribute("role", "status");
    if (records.length) {
      showMessage();
      setState("ready");
    } else {
      showMessage(...emptyMessage(filters));
      setState("empty");
    }
  }

  function showError(error) {
    records = [];
    rows.show([]);
    table.hidden = true;
    count.textContent = "";
    older.disabled = true;
    message.setAttribute("role", "alert");
    showMessage(h("strong", {}, "The search failed: "), h("span", { class: "error-text" }, error.message));
    message.classList.add("error");
    setState("error");
  }

  function embeddedPage() {
    const embedded = embeddedAnswer("jt-first-list", reviveRecord);
    const wanted = apiParams(filters).toString();
    return embedded && new URLSearchParams(embedded.params || "").toString() === wanted ? Promise.resolve(embedded.body) : null;
  }

  function fetchPage() {
    return getJSON("/api/journeys", apiParams(filters), { signal: aborter.signal, reviver: reviveRecord });
  }

  // Live: each event updates its row at once; a journey merged into another disappears only from
  // the server's list, so the first page is also read again shortly after a burst of events.
  let refreshTimer = null;
  let duringRefresh = null; // events received while a read is under way, applied on top of it

  function refreshSoon(delay = 1000) {
    if (refreshTimer === null && !disposed) refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, delay);
  }

  function refresh() {
    if (duringRefresh) return refreshSoon();
    duringRefresh = [];
    fetchPage()
      .then((body) => {
        if (disposed) return;
        showRecords(duringRefresh.reduce((list, record) => placed(list, record, filters.limit), body.journeys), { flash: true });
      })
      .catch(() => {}) // the stream reports a lost server; the rows shown stay
      .finally(() => { duringRefresh = null; });
  }

  function startLive() {
    liveBadge.hidden = false;
    closeLive = openLive(apiParams(filters, { paged: false }), {
      onState(state) {
        liveBadge.dataset.live = state;
        liveBadge.textContent = state === "on" ? "Live" : state === "connecting" ? "Connecting…" : "Paused";
        liveBadge.title = state === "on" ? "New and changed journeys appear as their data arrives" : "";
      },
      onReady() {
        refresh(); // what changed between the list's answer and this (re)start of the stream
      },
      onRecord(record) {
        if (disposed) return;
        showRecords(placed(records, record, filters.limit), { flash: true });
        if (duringRefresh) duringRefresh.push(record);
        refreshSoon();
      },
    });
  }

  async function load() {
    setState("loading");
    try {
      const [body, rules] = await firstAnswer;
      if (disposed) return;
      rows.rules = new Map(rules.map((r) => [r.id, r]));
      showRecords(body.journeys);
      restoreFocus(root);
      refocus = null;
      // How long the first page took (ms since navigation start): rows in the DOM, then painted.
      performance.mark("journeytrace:list-rendered", { detail: { rows: records.length } });
      requestAnimationFrame(() => setTimeout(() => {
        performance.mark("journeytrace:list-painted");
        table.classList.add("pulsing"); // the in-progress dots start pulsing once the rows are on screen
      }, 0));
      if (firstPage) startLive();
    } catch (error) {
      if (!disposed && error.name !== "AbortError") showError(error);
      refocus = null;
    }
  }

  insightRules().then((rules) => { if (!disposed) form.setRules(rules); }).catch(() => { if (!disposed) form.setRules(null); });

  // Rows are links: a click anywhere on one opens its journey (the start time is the real <a>).
  tbody.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.target.closest("a, button, input")) return;
    if (String(window.getSelection()).length) return; // selecting text, not opening
    const row = event.target.closest("[data-journey-id]");
    if (!row) return;
    const href = `/journeys/${row.dataset.journeyId}`;
    if (event.ctrlKey || event.metaKey) window.open(href, "_blank", "noopener");
    else navigate(href);
  });
  pageSize.addEventListener("change", () => go({ ...filters, limit: Number(pageSize.value), before: "" }));
  older.addEventListener("click", () => {
    if (!records.length) return;
    const cursor = cursorAfter(records[records.length - 1]);
    trail.cursors = [...trail.cursors.slice(0, pageIndex + 1), cursor];
    go({ ...filters, before: cursor });
  });
  newer.addEventListener("click", () => go({ ...filters, before: pageIndex > 0 ? trail.cursors[pageIndex - 1] : "" }));

  load();

  return () => {
    disposed = true;
    clearTimeout(refreshTimer);
    aborter.abort();
    if (closeLive) closeLive();
    form.cleanup();
  };
}

/** `list` with `record` in its place (newest first, at most `limit`), unless `list` holds a newer
 * version of it. */
function placed(list, record, limit) {
  const old = list.find((r) => r.journey_id === record.journey_id);
  if (old && old.updated_unix_nano > record.updated_unix_nano) return list;
  const next = list.filter((r) => r !== old);
  let at = next.findIndex((r) => newestFirst(record, r) < 0);
  if (at < 0) at = next.length;
  if (at < limit) next.splice(at, 0, record);
  return next.slice(0, limit);
}

function emptyMessage(filters) {
  if (looksLikeJourneyId(filters.interaction_id)) {
    const id = filters.interaction_id.toLowerCase();
    return [
      h("p", {}, "No platform interaction has this ID. It looks like a journey ID:"),
      h("p", {}, h("a", { href: `/journeys/${id}`, class: "open-journey" }, `Open journey ${id}`)),
    ];
  }
  if (filters.before) return [h("p", {}, "No older journeys.")];
  if (isFiltered(filters)) {
    return [h("p", {}, "No journeys match these filters."), h("p", {}, h("a", { href: "/" }, "Clear the filters"))];
  }
  return [h("p", {}, "No journeys yet. A journey appears here as soon as its first spans or platform events arrive.")];
}
