// A titled panel of the page that shows one chart's states: loading, empty, the server's error,
// or its content. `data-state` on the section says which (tests and CSS read it).

import { h } from "./dom.js";

export const EMPTY_TEXT = "No journeys in this range.";

/** A panel `key` ("overview", "paths", …) titled `title`; `tools` go to the right of the title. */
export function panel(key, title, description, ...tools) {
  const body = h("div", { class: "an-body" }, h("p", { class: "an-loading" }, "Loading…"));
  const note = h("p", { class: "an-note muted" }, description || "");
  const section = h("section", { class: `an-panel an-${key}`, dataset: { chart: key, state: "loading" }, "aria-labelledby": `an-h-${key}`,
    "aria-busy": "true" },
  h("header", {}, h("div", { class: "titles" }, h("h2", { id: `an-h-${key}` }, title), note),
    tools.length ? h("div", { class: "tools" }, tools) : null),
  body);
  const set = (state, ...children) => {
    section.dataset.state = state;
    section.setAttribute("aria-busy", String(state === "loading"));
    body.replaceChildren(...children.flat().filter(Boolean));
  };
  return {
    section,
    body,
    note,
    loading: () => set("loading", h("p", { class: "an-loading" }, "Loading…")),
    empty: (text = EMPTY_TEXT, ...more) => set("empty", h("p", { class: "an-empty" }, text), ...more),
    error: (message) => set("error", h("p", { class: "an-error", role: "alert" }, message)),
    ready: (...children) => set("ready", ...children),
    /** The width charts get inside the panel (the body's, before it is filled). */
    width: (fallback = 900) => Math.max(320, Math.floor(body.clientWidth || fallback)),
  };
}
