// The most common journey paths (GET /api/analytics/paths): a Sankey diagram of every journey's
// legs and a table of the top paths, each row linking to the journeys behind it.

import { platformLabel, platformPath } from "../format.js";
import { platformColor } from "./charts.js";
import { dataTable, h, journeysHref, num, pct, table } from "./dom.js";
import { sankeyChart } from "./sankey.js";

function pathChips(path) {
  return h("span", { class: "an-path", "aria-label": platformPath(path) }, path.map((p, i) => [
    i ? h("span", { class: "arrow", "aria-hidden": "true" }, "→") : null,
    h("span", { class: "chip", style: { "--chip": platformColor(p) } }, platformLabel(p)),
  ]));
}

/** The Sankey diagram with its data table. */
export function pathsChart(answer, width) {
  const { nodes, links } = answer.sankey;
  const starts = nodes.filter((n) => n.step === 1).map((n) => `${platformLabel(n.name)} ${num(n.value)}`).join(", ");
  const label = `Journey paths over ${nodes.length ? Math.max(...nodes.map((n) => n.step)) : 0} legs: ` +
    `${num(answer.journey_count)} journeys start on ${starts}. Details in the table below the chart.`;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const name = (id) => `${platformLabel(byId.get(id)?.name || id)} (leg ${byId.get(id)?.step ?? "?"})`;
  return h("div", { class: "an-sankey-wrap" },
    sankeyChart(answer.sankey, answer.journey_count, { width, label }),
    dataTable("Journeys between consecutive legs", ["From", "To", { text: "Journeys", numeric: true }],
      links.map((l) => [name(l.source), name(l.target), num(l.value)])));
}

/** The top paths as a table: path, legs, journeys, share, and a link to the journeys. */
export function pathsTable(answer) {
  const top = Math.max(1, ...answer.paths.map((p) => p.share));
  return table(`The ${answer.paths.length} most common paths of ${num(answer.journey_count)} journeys`,
    [{ text: "#", numeric: true }, "Path", { text: "Legs", numeric: true }, { text: "Journeys", numeric: true }, "Share", ""],
    answer.paths.map((row, i) => [
      String(i + 1),
      pathChips(row.path),
      num(row.leg_count),
      num(row.journey_count),
      h("span", { class: "an-share" }, h("span", { class: "fill", style: { width: `${(row.share / top) * 100}%` }, "aria-hidden": "true" }),
        h("span", { class: "text" }, pct(row.share))),
      h("a", { href: journeysHref(row.journeys), class: "an-go", title: "The journeys that took this path" },
      "Journeys →"),
    ]),
    { className: "an-table an-paths-table", rowProps: (i) => ({ dataset: { path: answer.paths[i].path.join(">"), count: answer.paths[i].journey_count } }) });
}
