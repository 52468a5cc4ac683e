// Element builders (HTML and SVG) and the number formats of the analytics page.

import { formatDuration } from "../format.js";

function apply(element, props, children, svg) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.setAttribute("class", value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "style" && typeof value === "object") {
      for (const [name, one] of Object.entries(value)) {
        if (name.startsWith("--")) element.style.setProperty(name, one); else element.style[name] = one;
      }
    }
    else if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (!svg && key in element && typeof value !== "string") element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** An HTML element: h("a", {href: "/", class: "x", dataset: {id: 1}}, "text", child). */
export function h(tag, props = {}, ...children) {
  return apply(document.createElement(tag), props, children, false);
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element, attributes set as given: s("rect", {x: 1, y: 2, width: 3, height: 4}). */
export function s(tag, props = {}, ...children) {
  return apply(document.createElementNS(SVG_NS, tag), props, children, true);
}

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
