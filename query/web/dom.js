// Element builders every page uses: h() for HTML, s() for SVG, with props as attributes,
// `class`, `dataset`, `style` (an object; custom properties too) and `on<event>` listeners.

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
