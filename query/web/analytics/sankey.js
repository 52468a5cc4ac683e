// The journey paths as a Sankey diagram: one column per leg, a node per platform reached at that
// leg (height ∝ journeys), and curved bands between consecutive legs (width ∝ journeys).

import { platformLabel } from "../format.js";
import { platformColor } from "./charts.js";
import { num, pct, s } from "./dom.js";

const NODE_WIDTH = 14;
const GAP = 14;

/** Node and link positions for `graph` ({nodes, links}) in a width × height box. */
export function layout(graph, width, height) {
  const margin = { top: 26, bottom: 8, left: 4, right: 4 };
  const steps = [...new Set(graph.nodes.map((n) => n.step))].sort((a, b) => a - b);
  const nodes = new Map(graph.nodes.map((n) => [n.id, { ...n, out: [], in: [] }]));
  const links = graph.links
    .filter((l) => nodes.has(l.source) && nodes.has(l.target))
    .map((l) => ({ ...l, from: nodes.get(l.source), to: nodes.get(l.target) }));
  for (const link of links) { link.from.out.push(link); link.to.in.push(link); }
  const columns = steps.map((step) => graph.nodes.filter((n) => n.step === step).map((n) => nodes.get(n.id)));
  const inner = height - margin.top - margin.bottom;
  const scale = Math.min(...columns.map((col) => (inner - GAP * (col.length - 1)) / Math.max(1, col.reduce((sum, n) => sum + n.value, 0))));
  const columnX = (i) => steps.length === 1
    ? (width - NODE_WIDTH) / 2
    : margin.left + (i * (width - margin.left - margin.right - NODE_WIDTH)) / (steps.length - 1);
  columns.forEach((col, i) => {
    if (i > 0) { // order by where the journeys come from, so bands cross less
      for (const node of col) {
        const weight = node.in.reduce((sum, l) => sum + l.value, 0);
        node.order = weight ? node.in.reduce((sum, l) => sum + l.value * (l.from.y + l.from.height / 2), 0) / weight : Infinity;
      }
      col.sort((a, b) => a.order - b.order || b.value - a.value);
    }
    let y = margin.top;
    for (const node of col) {
      node.x = columnX(i);
      node.y = y;
      node.height = Math.max(1, node.value * scale);
      y += node.value * scale + GAP;
    }
  });
  for (const node of nodes.values()) {
    let offset = 0;
    for (const link of [...node.out].sort((a, b) => a.to.y - b.to.y)) { link.sy = node.y + offset; offset += link.value * scale; }
    offset = 0;
    for (const link of [...node.in].sort((a, b) => a.from.y - b.from.y)) { link.ty = node.y + offset; offset += link.value * scale; }
  }
  for (const link of links) link.width = link.value * scale;
  return { steps, columns, nodes: [...nodes.values()], links, columnX, margin };
}

function band(link) {
  const x0 = link.from.x + NODE_WIDTH;
  const x1 = link.to.x;
  const xm = (x0 + x1) / 2;
  const w = Math.max(1, link.width);
  const { sy, ty } = link;
  return `M${x0},${sy} C${xm},${sy} ${xm},${ty} ${x1},${ty} L${x1},${ty + w} C${xm},${ty + w} ${xm},${sy + w} ${x0},${sy + w} Z`;
}

/** The Sankey SVG for the paths endpoint's `sankey` over `total` journeys. */
export function sankeyChart(graph, total, { width = 1000, label }) {
  const perColumn = Math.max(1, ...[...new Set(graph.nodes.map((n) => n.step))].map((step) => graph.nodes.filter((n) => n.step === step).length));
  const height = Math.max(280, Math.min(640, 60 + perColumn * 52));
  const { steps, nodes, links, columnX, margin } = layout(graph, width, height);
  const svg = s("svg", { class: "an-svg an-sankey", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label,
    preserveAspectRatio: "xMinYMin meet" });

  const heads = s("g", { class: "an-steps", "aria-hidden": "true" });
  steps.forEach((step, i) => {
    const last = i === steps.length - 1 && steps.length > 1;
    heads.append(s("text", { x: last ? columnX(i) + NODE_WIDTH : columnX(i), y: margin.top - 10, "text-anchor": last ? "end" : "start" },
      `Leg ${step}`));
  });
  svg.append(heads);

  const bands = s("g", { class: "an-links" });
  for (const link of links) {
    bands.append(s("path", {
      d: band(link), class: "an-link", style: `fill: ${platformColor(link.from.name)}`,
      dataset: {
        source: link.source, target: link.target, value: link.value,
        tip: `${platformLabel(link.from.name)} (leg ${link.from.step}) → ${platformLabel(link.to.name)} (leg ${link.to.step})\n` +
          `${num(link.value)} journey${link.value === 1 ? "" : "s"} · ${pct(total ? link.value / total : 0)} of all`,
      },
    }));
  }
  svg.append(bands);

  const lastStep = steps[steps.length - 1];
  const group = s("g", { class: "an-nodes" });
  for (const node of nodes) {
    const onward = node.out.reduce((sum, l) => sum + l.value, 0);
    const ended = node.value - onward;
    const tip = `${platformLabel(node.name)} · leg ${node.step}\n${num(node.value)} journey${node.value === 1 ? "" : "s"} reached it` +
      (node.step === lastStep && steps.length >= 8 ? "" : `\n${num(onward)} went on · ${num(ended)} ended here`);
    const g = s("g", { class: "an-node", tabindex: "0", dataset: { tip, node: node.id }, "aria-label": tip.replace(/\n/g, ", ") });
    g.append(s("rect", { x: node.x, y: node.y, width: NODE_WIDTH, height: node.height, style: `fill: ${platformColor(node.name)}`,
      dataset: { node: node.id, value: node.value } }));
    const right = node.step !== lastStep || steps.length === 1;
    g.append(s("text", { x: right ? node.x + NODE_WIDTH + 6 : node.x - 6, y: node.y + node.height / 2 + 4,
      "text-anchor": right ? "start" : "end" }, `${platformLabel(node.name)} `, s("tspan", { class: "count" }, num(node.value))));
    group.append(g);
  }
  svg.append(group);
  return svg;
}
