// The filter bar: time range (quick ranges or from/to), platforms, queue, flow, and the time
// series interval. It shows the URL's filters and hands edited ones to `onApply`.

import { fromLocalInput, KNOWN_PLATFORMS, platformLabel, toLocalInput } from "../format.js";
import { h } from "./dom.js";
import { INTERVALS, RANGES } from "./query.js";

/** The platform dropdown: a <details> of checkboxes, its summary naming the chosen ones. */
function platformPicker(chosen) {
  const names = [...KNOWN_PLATFORMS, ...chosen.filter((p) => !KNOWN_PLATFORMS.includes(p))];
  const label = h("span", { class: "chosen" });
  const menu = h("div", { class: "menu", role: "group", "aria-label": "Platforms" },
    names.map((name) => h("label", { class: "option" },
      h("input", { type: "checkbox", name: "platform", value: name, checked: chosen.includes(name) }), " ", platformLabel(name))));
  const details = h("details", { class: "an-picker", dataset: { picker: "platform" } },
    h("summary", {}, h("span", { class: "muted" }, "Platforms: "), label), menu);
  const update = () => {
    const picked = [...menu.querySelectorAll("input:checked")].map((input) => platformLabel(input.value));
    label.textContent = picked.length ? picked.join(", ") : "all";
    details.classList.toggle("has-choice", picked.length > 0);
  };
  menu.addEventListener("change", update);
  details.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && details.open) { details.open = false; details.querySelector("summary").focus(); }
  });
  update();
  return details;
}

/**
 * The form for `filters` whose range is [fromNs, toNs] (BigInt) now. `onApply(filters)` runs on
 * submit, on a quick range and on a new interval. Returns {element, setOptions({queues, flows}), cleanup}.
 */
export function buildForm(filters, { fromNs, toNs, onApply }) {
  const fromValue = toLocalInput(fromNs);
  const toValue = toLocalInput(toNs);
  const fromInput = h("input", { type: "datetime-local", name: "from", id: "an-from", value: fromValue });
  const toInput = h("input", { type: "datetime-local", name: "to", id: "an-to", value: toValue });
  const queueList = h("datalist", { id: "an-queues" });
  const flowList = h("datalist", { id: "an-flows" });
  const picker = platformPicker(filters.platform);
  const interval = h("select", { name: "interval", id: "an-interval" },
    INTERVALS.map(([value, text]) => h("option", { value, selected: value === filters.interval }, text)),
    filters.interval && !INTERVALS.some(([v]) => v === filters.interval)
      ? h("option", { value: filters.interval, selected: true }, filters.interval) : null);

  const read = (range) => {
    const form = new FormData(element);
    const edited = fromInput.value !== fromValue || toInput.value !== toValue;
    const custom = range === undefined ? (edited || !filters.range) : false;
    return {
      range: range !== undefined ? range : custom ? "" : filters.range,
      // an input left as it was keeps the URL's exact time (nanoseconds survive a re-apply)
      from: !custom ? "" : filters.range || fromInput.value !== fromValue ? fromLocalInput(fromInput.value) : filters.from,
      to: !custom ? "" : filters.range || toInput.value !== toValue ? fromLocalInput(toInput.value) : filters.to,
      platform: form.getAll("platform"),
      queue: String(form.get("queue") || "").trim(),
      flow: String(form.get("flow") || "").trim(),
      interval: interval.value,
      by: filters.by,
    };
  };

  const element = h("form", { class: "an-filters", role: "search", "aria-label": "Analytics filters" },
    h("div", { class: "row" },
      h("div", { class: "field", role: "group", "aria-label": "Quick ranges" },
        h("span", { class: "label" }, "Started in the last"),
        h("div", { class: "quick" }, Object.entries(RANGES).map(([key, [text]]) =>
          h("button", { type: "button", class: "range", dataset: { range: key }, "aria-pressed": String(filters.range === key),
            title: `Journeys that started in the last ${text}`, onclick: () => onApply(read(key)) }, text)))),
      h("div", { class: "field" }, h("label", { for: "an-from" }, "From"), fromInput),
      h("div", { class: "field" }, h("label", { for: "an-to" }, "To"), toInput),
      h("span", { class: "muted tz" }, "local time")),
    h("div", { class: "row" },
      picker,
      h("div", { class: "field" }, h("label", { for: "an-queue" }, "Queue"),
        h("input", { type: "text", name: "queue", id: "an-queue", value: filters.queue, list: "an-queues", placeholder: "any queue",
          autocomplete: "off", size: 14 }), queueList),
      h("div", { class: "field" }, h("label", { for: "an-flow" }, "IVR flow"),
        h("input", { type: "text", name: "flow", id: "an-flow", value: filters.flow, list: "an-flows", placeholder: "any flow",
          autocomplete: "off", size: 16 }), flowList),
      h("div", { class: "field" }, h("label", { for: "an-interval" }, "Time series interval"), interval),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, "Apply"),
        h("a", { href: "/analytics", class: "clear" }, "Reset"))));

  element.addEventListener("submit", (event) => {
    event.preventDefault();
    picker.open = false;
    onApply(read());
  });
  interval.addEventListener("change", () => onApply(read()));
  const closePicker = (event) => { if (picker.open && !picker.contains(event.target)) picker.open = false; };
  document.addEventListener("click", closePicker);

  return {
    element,
    setOptions({ queues = [], flows = [] }) {
      queueList.replaceChildren(...queues.map((q) => h("option", { value: q })));
      flowList.replaceChildren(...flows.map((f) => h("option", { value: f })));
    },
    cleanup: () => document.removeEventListener("click", closePicker),
  };
}
