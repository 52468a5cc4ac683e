// Element builders (HTML and SVG) and the number formats of the analytics page.

import { formatDuration } from "../format.js";
import { h } from "../dom.js";

export { h, s } from "../dom.js";

/** 0.4567 → "45.7%" (null → "—"). */
export function pct(rate, digits = 1) {
  if (rate === null || rate === undefined || Number.isNaN(Number(rate))) return "—";
  return `${(Number(rate) * 100).toFixed(digits)}%`;
}

/** 12345 → "12,345". */
export function num(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString("en-US");
}

/** Milliseconds for people: "0 ms", "850 ms", "4.2s", "2m 3s" (null → "—"). */
export function ms(value) {
  if (value === null || value === undefined) return "—";
  return formatDuration(Number(value) * 1e6);
}

/** The list page's URL for an analytics row's `journeys` query string. */
export function journeysHref(query) {
  return query ? `/?${query}` : "/";
}

/** "N journey(s)". */
export function journeysText(n) {
  return `${num(n)} journey${Number(n) === 1 ? "" : "s"}`;
}

/** A table: headers [text | {text, numeric}] and rows of cells (strings or nodes). */
export function table(caption, headers, rows, { className = "an-table", rowProps } = {}) {
  return h("div", { class: "an-table-wrap" }, h("table", { class: className },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((head) => {
      const text = typeof head === "string" ? head : head.text;
      return h("th", { scope: "col", class: head.numeric ? "num" : null }, text);
    }))),
    h("tbody", {}, rows.map((cells, index) => h("tr", rowProps ? rowProps(index) : {}, cells.map((cell, i) => {
      const head = headers[i];
      return h("td", { class: head && head.numeric ? "num" : null }, cell);
    }))))));
}

/** The data of a chart as a table behind a disclosure ("Show data"), for readers and screen readers. */
export function dataTable(caption, headers, rows) {
  return h("details", { class: "an-data" }, h("summary", {}, "Show data as a table"), table(caption, headers, rows));
}
