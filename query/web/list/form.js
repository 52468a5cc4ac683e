// The filter form: phone, free-text ID, time (quick ranges or from/to), platforms, insights,
// outcome and status. It shows the URL's filters and hands the edited ones to `onSearch`.

import {
  categoryLabel, fromLocalInput, insightLabel, KNOWN_OUTCOMES, KNOWN_PLATFORMS, outcomeLabel, platformLabel, toLocalInput,
} from "../format.js";
import { h } from "../dom.js";
import { LINKED, RANGES } from "./query.js";

/** A dropdown of checkboxes (<details>), its summary naming what is chosen. */
function picker(name, title, emptyText) {
  const summaryText = h("span", { class: "chosen" });
  const menu = h("div", { class: "menu", role: "group", "aria-label": title });
  const details = h("details", { class: "picker", dataset: { picker: name } },
    h("summary", {}, h("span", { class: "picker-title" }, `${title}: `), summaryText), menu);
  const update = () => {
    const chosen = [...menu.querySelectorAll("input:checked")].map((input) => input.dataset.label);
    summaryText.textContent = chosen.length ? chosen.join(", ") : emptyText;
    details.classList.toggle("has-choice", chosen.length > 0);
  };
  menu.addEventListener("change", update);
  const option = (value, label, checked, tip) =>
    h("label", { class: "option", title: tip || null },
      h("input", { type: "checkbox", name, value, checked, dataset: { label } }), " ", label);
  return { details, menu, update, option };
}

function select(name, label, options, value) {
  const element = h("select", { name, id: `f-${name}` },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  return h("div", { class: "field" }, h("label", { for: `f-${name}` }, label), element);
}

/** The form for `filters`; `onSearch(filters)` runs on submit and on a quick range.
 * Returns {element, setRules(rules), cleanup}. */
/** The filters an analytics link brought (queue, flow, agent, path), each with a remove button. */
function linkedChips(filters) {
  const entries = Object.entries(filters.linked || {});
  if (!entries.length) return null;
  return h("div", { class: "row linked", role: "group", "aria-label": "Also filtered by" },
    h("span", { class: "label" }, "Also filtered by"),
    entries.map(([name, value]) => h("span", { class: "chip", dataset: { linked: name } },
      `${LINKED[name]}: ${name === "path" ? value.split(",").map(platformLabel).join(" → ") : value}`,
      h("button", { type: "button", class: "unlink", dataset: { unlink: name }, "aria-label": `Remove the ${LINKED[name]} filter` },
        "×"))));
}

export function buildForm(filters, { onSearch }) {
  const range = h("input", { type: "hidden", name: "range", value: filters.range });
  const fromInput = h("input", { type: "datetime-local", name: "from", id: "f-from", value: toLocalInput(filters.from) });
  const toInput = h("input", { type: "datetime-local", name: "to", id: "f-to", value: toLocalInput(filters.to) });

  const platforms = picker("platform", "Platforms", "any");
  const known = [...KNOWN_PLATFORMS, ...filters.platform.filter((p) => !KNOWN_PLATFORMS.includes(p))];
  platforms.menu.append(...known.map((p) => platforms.option(p, platformLabel(p), filters.platform.includes(p))));
  platforms.update();

  const insights = picker("insight", "Insights", "any");
  insights.menu.append(h("p", { class: "muted" }, "Loading the insight rules…"),
    ...filters.insight.map((id) => h("input", { type: "hidden", name: "insight", value: id })));
  insights.update();
  summaryFallback(insights, filters.insight);

  const form = h("form", { class: "filters", role: "search", "aria-label": "Find journeys" },
    range,
    h("div", { class: "row" },
      h("div", { class: "field" },
        h("label", { for: "f-phone" }, "Customer phone"),
        h("input", { type: "tel", name: "phone", id: "f-phone", value: filters.phone, autocomplete: "off",
          placeholder: "+1 415 555 0100", size: 18 })),
      h("div", { class: "field grow" },
        h("label", { for: "f-id" }, "Any platform's ID"),
        h("input", { type: "search", name: "interaction_id", id: "f-id", value: filters.interaction_id, autocomplete: "off",
          spellcheck: "false", placeholder: "Contact ID, CallSid, conversation ID… or a journey ID" })),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, "Search"),
        h("a", { href: "/", class: "clear" }, "Clear"))),
    h("div", { class: "row" },
      h("div", { class: "field time", role: "group", "aria-label": "Started" },
        h("span", { class: "label" }, "Started"),
        h("div", { class: "quick" },
          Object.entries(RANGES).map(([key, [label]]) =>
            h("button", { type: "button", class: "range", dataset: { range: key }, "aria-pressed": String(filters.range === key),
              title: `Journeys that started in the last ${label}` }, label)),
          h("button", { type: "button", class: "range", dataset: { range: "" },
            "aria-pressed": String(!filters.range && !filters.from && !filters.to) }, "Any time"))),
      h("div", { class: "field" }, h("label", { for: "f-from" }, "From"), fromInput),
      h("div", { class: "field" }, h("label", { for: "f-to" }, "To"), toInput),
      h("span", { class: "muted tz" }, "local time")),
    h("div", { class: "row" },
      platforms.details,
      insights.details,
      select("outcome", "Outcome", [["", "Any outcome"], ...KNOWN_OUTCOMES.map((o) => [o, outcomeLabel(o)])], filters.outcome),
      select("status", "Status", [["", "Any status"], ["in_progress", "In progress"], ["complete", "Complete"]], filters.status)),
    linkedChips(filters));

  const read = () => {
    const data = new FormData(form);
    return {
      ...filters,
      phone: (data.get("phone") || "").trim(),
      interaction_id: (data.get("interaction_id") || "").trim(),
      range: data.get("range") || "",
      from: data.get("range") ? "" : fromLocalInput(data.get("from")),
      to: data.get("range") ? "" : fromLocalInput(data.get("to")),
      platform: data.getAll("platform"),
      insight: data.getAll("insight"),
      outcome: data.get("outcome") || "",
      status: data.get("status") || "",
      before: "",
    };
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSearch(read());
  });
  for (const input of [fromInput, toInput]) input.addEventListener("input", () => { range.value = ""; });
  form.addEventListener("click", (event) => {
    const unlink = event.target.closest("button.unlink");
    if (unlink) {
      const linked = { ...(filters.linked || {}) };
      delete linked[unlink.dataset.unlink];
      onSearch({ ...read(), linked });
      return;
    }
    const button = event.target.closest("button.range");
    if (!button) return;
    range.value = button.dataset.range;
    fromInput.value = "";
    toInput.value = "";
    onSearch(read());
  });

  // An open picker closes on Escape or on a click elsewhere.
  const closePickers = (event) => {
    for (const details of form.querySelectorAll("details.picker[open]")) {
      if (event.type === "keydown" ? event.key === "Escape" : !details.contains(event.target)) {
        details.open = false;
        if (event.type === "keydown") details.querySelector("summary").focus();
      }
    }
  };
  document.addEventListener("click", closePickers);
  document.addEventListener("keydown", closePickers);

  return {
    element: form,
    /** Fill the insight picker from the rule catalogue, grouped by category (null: it failed to load). */
    setRules(rules) {
      if (!rules) {
        insights.menu.querySelector("p").textContent = "The insight rules could not be loaded.";
        return;
      }
      const byCategory = new Map();
      for (const rule of rules) {
        if (!byCategory.has(rule.category)) byCategory.set(rule.category, []);
        byCategory.get(rule.category).push(rule);
      }
      const unknown = filters.insight.filter((id) => !rules.some((r) => r.id === id));
      const groups = [...byCategory].map(([category, list]) =>
        h("fieldset", { class: "group" }, h("legend", {}, categoryLabel(category)),
          list.map((r) => insights.option(r.id, insightLabel(r.id), filters.insight.includes(r.id), r.description))));
      if (unknown.length) {
        groups.push(h("fieldset", { class: "group" }, h("legend", {}, "Unknown"),
          unknown.map((id) => insights.option(id, insightLabel(id), true))));
      }
      insights.menu.replaceChildren(...groups);
      insights.update();
    },
    cleanup() {
      document.removeEventListener("click", closePickers);
      document.removeEventListener("keydown", closePickers);
    },
  };
}

/** Before the rules arrive, the insight picker's summary still names the URL's insights. */
function summaryFallback(insights, chosen) {
  if (chosen.length) {
    insights.details.querySelector(".chosen").textContent = chosen.map(insightLabel).join(", ");
    insights.details.classList.add("has-choice");
  }
}
