// The router: one page per path, each a module whose render(root, ...) draws it and returns a
// cleanup function. Links inside the app navigate with history.pushState (no reload).

const routes = [
  { name: "journey", pattern: /^\/journeys\/([^/]+)\/?$/, load: () => import("./journey.js") },
  { name: "analytics", pattern: /^\/analytics\/?$/, load: () => import("./analytics.js") },
  { name: "list", pattern: /^\/?$/, load: () => import("./list.js") },
];

const root = document.getElementById("app");
let cleanup = null;
let generation = 0;

async function show() {
  const url = new URL(location.href);
  const route = routes.find((r) => r.pattern.test(url.pathname));
  const mine = ++generation;
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  for (const link of document.querySelectorAll("[data-nav]")) {
    const active = route && (link.dataset.nav === route.name || (route.name === "journey" && link.dataset.nav === "list"));
    if (active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (!route) {
    root.replaceChildren("Page not found.");
    return;
  }
  const page = await route.load();
  if (mine !== generation) return; // the user navigated again while the module loaded
  // Cleared only now, so that no frame is blank: the page shown until then stays (for the
  // home page, the list as the server drew it: query/list_page.py).
  root.replaceChildren();
  const argument = route.name === "journey" ? decodeURIComponent(url.pathname.match(route.pattern)[1]) : url;
  cleanup = page.render(root, argument) || null;
}

/** Navigate inside the app: push the URL and draw its page. */
export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", href); else history.pushState(null, "", href);
  show();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.hasAttribute("download") || event.defaultPrevented) return;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/web/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});
window.addEventListener("popstate", show);
show();
