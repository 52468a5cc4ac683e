// The flame chart: time left → right, one layer per platform, a bar (a DOM element with
// data-span-id) per span, handoff connectors, annotated gaps; zoom, pan and keyboard.
//
// Bars are placed in percent of a plot whose width is the zoom times the viewport: zooming changes
// one width (and the labels of bars that became wide or narrow), never rebuilds the bars.

import { tickLabel, tickStep, ticks } from "./axis.js";
import { duration, el, esc, platformLabel } from "./fmt.js";
import { SPAN_TYPES } from "./model.js";

const ROW_H = 22;
const LAYER_PAD = 5;
const ROOT_LAYER_H = 14;
const AXIS_H = 46;
const LABEL_PX = 60;
const MAX_PLOT_PX = 5e6;

/** The chart. `onSelect(id)` runs when a bar is clicked or Enter is pressed on it; `onClose()` on Escape. */
export function createFlame({ onSelect, onClose, onHover = () => {} }) {
  const zoomLevel = el("span", { class: "jt-zoom-level", "aria-live": "polite", text: "100%" });
  const legend = el("ul", { class: "jt-legend", "aria-label": "Legend" });
  const toolbar = el("div", { class: "jt-toolbar", role: "toolbar", "aria-label": "Timeline controls" },
    el("button", { type: "button", class: "jt-btn", "data-zoom": "out", "aria-label": "Zoom out", title: "Zoom out (−)", text: "−" }),
    el("button", { type: "button", class: "jt-btn", "data-zoom": "in", "aria-label": "Zoom in", title: "Zoom in (+)", text: "+" }),
    el("button", { type: "button", class: "jt-btn", "data-zoom": "reset", title: "Show the whole journey (0)", text: "Reset" }),
    zoomLevel,
    el("span", { class: "jt-hint", text: "wheel: zoom · drag: pan · ←/→ pan · ↑/↓ spans · Enter: details" }),
    legend);
  const gutter = el("div", { class: "jt-gutter" });
  const axis = el("div", { class: "jt-axis", "aria-hidden": "true" });
  const grid = el("div", { class: "jt-grid", "aria-hidden": "true" });
  const gapLayer = el("div", { class: "jt-gaps" });
  const layers = el("div", { class: "jt-layers" });
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("class", "jt-connectors");
  svg.setAttribute("aria-hidden", "true");
  const plot = el("div", { class: "jt-plot" }, grid, axis, gapLayer, layers);
  plot.append(svg);
  const scroll = el("div", { class: "jt-scroll" }, plot);
  const chart = el("div", { class: "jt-chart", role: "group", "aria-label": "Journey timeline (flame chart)" }, gutter, scroll);
  const element = el("div", { class: "jt-flame" }, toolbar, chart);

  let model = null;
  let zoom = 1;
  let focused = null; // the item with tabindex 0
  let selected = null;
  let frame = 0;
  let labelled = []; // items whose bar carries its name

  let width = 0; // the chart's visible width, measured only when it may have changed (no forced layouts)
  const viewport = () => Math.max(1, width);
  const measure = () => { width = scroll.clientWidth; };
  const plotWidth = () => viewport() * zoom;
  const maxZoom = () => (model ? Math.max(1, Math.min(model.total / 1e6, MAX_PLOT_PX / viewport())) : 1);

  // --- drawing ------------------------------------------------------------------------------

  function update(next) {
    const previous = model;
    const view = previous && zoom > 1 ? visibleTimes() : null;
    const hadFocus = Boolean(focused && focused.el === document.activeElement); // keep it across a redraw
    measure(); // before the bars are in: cheap
    model = next;
    drawStatic();
    if (view) {
      zoom = Math.min(maxZoom(), Math.max(1, model.total / (view[1] - view[0])));
      plot.style.width = `${zoom * 100}%`;
      scroll.scrollLeft = ((view[0] - model.start) / model.total) * plotWidth();
    } else {
      zoom = 1;
      plot.style.width = "100%";
    }
    const keep = (item) => item && model.byId.get(item.id);
    setFocus(keep(focused) || model.order.find((i) => i.type !== "journey") || model.order[0], hadFocus);
    selected = keep(selected) || null;
    if (selected) selected.el.classList.add("selected");
    relayout();
  }

  function drawStatic() {
    const m = model;
    const heights = m.layers.map((l) => (l.key === "journey" ? ROOT_LAYER_H : l.rows * ROW_H + 2 * LAYER_PAD));
    const tops = [];
    const layersHeight = heights.reduce((top, h, i) => { tops[i] = top; return top + h; }, 0);
    plot.style.height = `${AXIS_H + layersHeight}px`;
    drawLayers(m, heights);
    gapLayer.innerHTML = m.gaps.map(gapHtml).join("");
    svg.setAttribute("style", `top:${AXIS_H}px;height:${layersHeight}px`);
    svg.innerHTML = ARROW + m.connectors.map((c) => connectorHtml(c, m, tops)).join("");
    drawLegend(m);
  }

  /** The layer labels (left) and the layers with their bars: one HTML string, parsed once. */
  function drawLayers(m, heights) {
    gutter.replaceChildren(el("div", { class: "jt-gutter-axis", style: `height:${AXIS_H}px` }, el("span", { text: "Layer" })));
    const byLayer = new Map(m.layers.map((l) => [l.key, []]));
    for (const item of m.items) byLayer.get(item.layer).push(item);
    const html = [];
    const built = [];
    m.layers.forEach((layer, i) => {
      const root = layer.key === "journey";
      const legs = layer.legs.length ? `${layer.legs.length > 1 ? "legs" : "leg"} ${layer.legs.join(", ")}` : "";
      gutter.append(el("div", { class: `jt-layer-label${root ? " root" : ""}`, "data-layer": layer.key, style: `height:${heights[i]}px`, title: layer.key },
        el("span", { class: "jt-layer-name", text: layer.label }), legs ? el("span", { class: "jt-layer-legs", text: legs }) : null));
      html.push(`<div class="jt-layer${root ? " root" : ""}" data-layer="${esc(layer.key)}" style="height:${heights[i]}px">`);
      for (const item of byLayer.get(layer.key)) {
        html.push(barHtml(item, root));
        built.push(item);
      }
      html.push("</div>");
    });
    layers.innerHTML = html.join("");
    const bars = layers.getElementsByClassName("jt-bar");
    for (let i = 0; i < built.length; i += 1) Object.assign(built[i], { el: bars[i], labelled: false, pad: "" });
  }

  /** The span types present (and gaps, connectors when there are some). */
  function drawLegend(m) {
    const present = new Set(m.items.map((i) => i.type));
    legend.replaceChildren(...SPAN_TYPES.concat("other").filter((t) => present.has(t)).map((t) =>
      el("li", { "data-legend-type": t }, el("span", { class: `jt-swatch t-${t}` }), t.replace(/_/g, " "))));
    if (m.gaps.length) legend.append(el("li", {}, el("span", { class: "jt-swatch gap" }), "gap (no span)"));
    if (m.connectors.length) legend.append(el("li", {}, el("span", { class: "jt-swatch connector" }), "handoff between layers"));
  }

  function barHtml(item, root) {
    const s = item.span;
    const top = root ? 4 : LAYER_PAD + item.row * ROW_H;
    const classes = ["jt-bar", `t-${item.type}`]; // the class gives the colour: var(--span-<type>)
    if (root) classes.push("jt-root");
    if (s.status_code === "STATUS_CODE_ERROR") classes.push("err");
    if (s.synthetic) classes.push("synthetic");
    // No tooltip or tabindex here: thousands of attributes cost the first paint; the tooltip is
    // set when the pointer first reaches the bar (tip), the tabindex when focus does (setFocus).
    return `<div class="${classes.join(" ")}" data-span-id="${esc(item.id)}" data-layer="${esc(item.layer)}" data-span-type="${item.type}" role="button" style="left:${pct(item.x)};width:${pct(item.w)};top:${top}px"></div>`;
  }

  /** The bar's tooltip: name, duration, type and layer. */
  function tip(item) {
    const s = item.span;
    const rawType = (s.attributes && s.attributes["cx.span.type"]) || "span";
    return `${s.name} — ${duration(s.end_unix_nano - s.start_unix_nano)} (${rawType}, ${platformLabel(item.layer)})`;
  }

  /** After a zoom or resize: labels on bars wide enough, the ticks, the zoom level. */
  function relayout() {
    if (!model) return;
    const plotted = plotWidth();
    labelled = [];
    for (const item of model.items) {
      const wide = item.type !== "journey" && item.w * plotted >= LABEL_PX;
      if (wide !== item.labelled) {
        item.labelled = wide;
        item.el.textContent = wide ? item.span.name : "";
        item.el.classList.toggle("lbl", wide);
      }
      if (wide) labelled.push(item);
    }
    zoomLevel.textContent = `${Math.round(zoom * 100)}%`;
    drawTicks();
  }

  function visibleTimes() {
    const plotted = plotWidth();
    const left = zoom > 1 ? scroll.scrollLeft : 0; // at 100% nothing scrolls: no need to ask (and lay out)
    const from = model.start + (left / plotted) * model.total;
    return [from, from + (viewport() / plotted) * model.total];
  }

  function drawTicks() {
    if (!model) return;
    const plotted = plotWidth();
    const nsPerPx = model.total / plotted;
    const step = tickStep(nsPerPx);
    const [from, to] = visibleTimes();
    const offsets = ticks(from - model.start - step, to - model.start + step, step).filter((t) => t <= model.total);
    grid.innerHTML = offsets.map((t) => `<div class="jt-tick" style="left:${pct(t / model.total)}"></div>`).join("");
    axis.innerHTML = offsets.map((t) => `<div class="jt-tick-label" style="left:${pct(t / model.total)}">${esc(tickLabel(t, step))}</div>`).join("");
    stickLabels(plotted);
  }

  /** Labels of bars that start left of the view move right, so they stay readable. */
  function stickLabels(plotted) {
    const left = zoom > 1 ? scroll.scrollLeft : 0;
    for (const item of labelled) {
      const x = item.x * plotted;
      const shift = x < left ? Math.min(left - x, item.w * plotted - LABEL_PX) : 0;
      const pad = shift > 0 ? `${Math.round(shift) + 4}px` : "";
      if (item.pad !== pad) {
        item.pad = pad;
        item.el.style.paddingLeft = pad;
      }
    }
  }

  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; drawTicks(); });
  };

  // --- zoom and pan -----------------------------------------------------------------------------

  function setZoom(next, anchorPx = viewport() / 2) {
    if (!model) return;
    const old = plotWidth();
    const fraction = (scroll.scrollLeft + anchorPx) / old;
    zoom = Math.min(maxZoom(), Math.max(1, next));
    plot.style.width = `${zoom * 100}%`;
    scroll.scrollLeft = fraction * plotWidth() - anchorPx;
    relayout();
  }

  function anchorOfFocus() {
    if (focused && document.activeElement === focused.el) {
      const px = (focused.x + focused.w / 2) * plotWidth() - scroll.scrollLeft;
      if (px >= 0 && px <= viewport()) return px;
    }
    return viewport() / 2;
  }

  const zoomIn = () => setZoom(zoom * 1.5, anchorOfFocus());
  const zoomOut = () => setZoom(zoom / 1.5, anchorOfFocus());
  const reset = () => setZoom(1, 0);
  const pan = (px) => { scroll.scrollLeft += px; };

  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("[data-zoom]");
    if (!button) return;
    ({ in: zoomIn, out: zoomOut, reset })[button.dataset.zoom]();
  });

  scroll.addEventListener("wheel", (event) => {
    if (!model) return;
    const horizontal = event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY);
    if (!horizontal && event.deltaY > 0 && zoom <= 1) return; // nothing to zoom out of: let the page scroll
    event.preventDefault();
    if (horizontal) {
      pan(event.deltaX || event.deltaY);
      return;
    }
    const box = scroll.getBoundingClientRect();
    const unit = event.deltaMode === 1 ? 33 : event.deltaMode === 2 ? 300 : 1;
    setZoom(zoom * Math.pow(1.0015, -event.deltaY * unit), event.clientX - box.left);
  }, { passive: false });
  scroll.addEventListener("scroll", schedule);

  // drag to pan (a drag never counts as a click on a bar)
  let drag = null;
  let suppressClick = false;
  const onMove = (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    if (!drag.moved && Math.abs(dx) < 4) return;
    drag.moved = true;
    scroll.classList.add("dragging");
    scroll.scrollLeft = drag.left - dx;
  };
  const onUp = () => {
    if (drag && drag.moved) {
      suppressClick = true;
      setTimeout(() => { suppressClick = false; }, 0);
    }
    drag = null;
    scroll.classList.remove("dragging");
    window.removeEventListener("pointermove", onMove);
    window.removeEventListener("pointerup", onUp);
  };
  scroll.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || event.pointerType === "touch") return;
    drag = { x: event.clientX, left: scroll.scrollLeft, moved: false };
    window.addEventListener("pointermove", onMove);
    window.addEventListener("pointerup", onUp);
  });
  scroll.addEventListener("pointerover", (event) => {
    const bar = event.target.closest(".jt-bar");
    const item = bar && model ? model.byId.get(bar.dataset.spanId) : null;
    if (!item) return;
    if (!bar.title) bar.title = tip(item);
    onHover(item.id);
  });
  scroll.addEventListener("click", (event) => {
    if (suppressClick) {
      event.stopPropagation();
      event.preventDefault();
      return;
    }
    const bar = event.target.closest(".jt-bar");
    if (!bar || !model) return;
    const item = model.byId.get(bar.dataset.spanId);
    if (item) {
      setFocus(item, true);
      onSelect(item.id);
    }
  }, true);

  // keyboard: +/- zoom, 0 reset, ←/→ pan, ↑/↓ previous/next bar, Home/End, Enter details, Escape close
  chart.addEventListener("keydown", (event) => {
    if (!model || event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key;
    let handled = true;
    if (key === "+" || key === "=") zoomIn();
    else if (key === "-" || key === "_") zoomOut();
    else if (key === "0") reset();
    else if (key === "ArrowLeft") pan(-viewport() * 0.2);
    else if (key === "ArrowRight") pan(viewport() * 0.2);
    else if (key === "ArrowUp" || key === "ArrowDown" || key === "Home" || key === "End") {
      const order = model.order;
      const at = focused ? order.indexOf(focused) : -1;
      const next = key === "Home" ? 0 : key === "End" ? order.length - 1 : at + (key === "ArrowDown" ? 1 : -1);
      if (next >= 0 && next < order.length) {
        setFocus(order[next], true);
        reveal(order[next]);
      }
    } else if ((key === "Enter" || key === " ") && event.target.classList.contains("jt-bar")) {
      const item = model.byId.get(event.target.dataset.spanId);
      if (item) onSelect(item.id);
    } else if (key === "Escape") onClose();
    else handled = false;
    if (handled) event.preventDefault();
  });

  function setFocus(item, move) {
    if (!item) return;
    if (focused && focused.el) focused.el.tabIndex = -1;
    focused = item;
    item.el.tabIndex = 0;
    if (move) item.el.focus({ preventScroll: true });
  }

  /** Scroll so the bar is in view (horizontally inside the chart, vertically in the page). */
  function reveal(item) {
    const plotted = plotWidth();
    const left = item.x * plotted;
    const right = left + Math.max(2, item.w * plotted);
    if (left < scroll.scrollLeft || right > scroll.scrollLeft + viewport()) {
      scroll.scrollLeft = Math.max(0, (right - left < viewport() ? (left + right) / 2 - viewport() / 2 : left - 20));
    }
    const box = item.el.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) item.el.scrollIntoView({ block: "center", inline: "nearest" });
  }

  /** Mark a span selected (null: none); `reveal` scrolls it into view and focuses it. */
  function select(id, { show = false } = {}) {
    if (selected && selected.el) {
      selected.el.classList.remove("selected");
      selected.el.removeAttribute("aria-current");
    }
    selected = id && model ? model.byId.get(id) || null : null;
    if (!selected) return;
    selected.el.classList.add("selected");
    selected.el.setAttribute("aria-current", "true");
    if (show) {
      setFocus(selected, true);
      reveal(selected);
    }
  }

  const resize = new ResizeObserver((entries) => {
    const seen = Math.round(entries[entries.length - 1].contentRect.width);
    if (seen === width) return;
    width = seen;
    relayout();
  });
  resize.observe(scroll);

  function destroy() {
    resize.disconnect();
    if (frame) cancelAnimationFrame(frame);
    onUp();
  }

  function focusSelected() {
    if (selected) setFocus(selected, true);
  }

  return { element, update, select, focusSelected, zoomIn, zoomOut, reset, destroy, get zoom() { return zoom; } };
}

const ARROW = `<defs><marker id="jt-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path class="jt-arrow-head" d="M0,0 L10,5 L0,10 z"/></marker></defs>`;

/** A gap: a hatched band through the layers, its cause and length in the strip under the axis. */
function gapHtml(g) {
  const length = duration(g.end - g.start);
  return `<div class="jt-gap gap-${g.cause}" data-gap-cause="${g.cause}" style="left:${pct(g.x)};width:${pct(g.w)}" title="${esc(`${g.label}: ${length} with no span`)}"><span class="jt-gap-label">${esc(g.label)} · ${esc(length)}</span></div>`;
}

/** A handoff connector: an arrow from the handoff's bar (or its from-layer) to the to-layer. */
function connectorHtml(c, m, tops) {
  const rowCentre = (key, row) => {
    const index = m.layers.findIndex((l) => l.key === key);
    return tops[index] + (key === "journey" ? ROOT_LAYER_H / 2 : LAYER_PAD + row * ROW_H + ROW_H / 2 - 2);
  };
  const from = rowCentre(c.from, c.item.layer === c.from ? c.item.row : 0);
  const to = rowCentre(c.to, 0);
  const tip = to + (to > from ? -7 : 7); // the arrow head stops at the edge of the bar row
  return `<line class="jt-connector${c.inferred ? " inferred" : ""}" data-handoff-id="${esc(c.id)}" data-from="${esc(c.from)}" data-to="${esc(c.to)}"${c.inferred ? ' data-inferred="true"' : ""} x1="${pct(c.x)}" y1="${from}" x2="${pct(c.x2)}" y2="${tip}" marker-end="url(#jt-arrow)"><title>${esc(`handoff ${platformLabel(c.from)} → ${platformLabel(c.to)}`)}</title></line>`;
}

function pct(fraction) {
  return `${(fraction * 100).toFixed(5)}%`;
}
