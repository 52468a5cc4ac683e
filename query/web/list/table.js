// The result table: one row (`[role=row][data-journey-id]`) per journey, built in one pass, and
// reconciled in place when live updates arrive (unchanged rows are kept, changed and new rows flash).
//
// It is a CSS grid with ARIA table roles rather than a <table>: each row is its own grid, so the
// browser can skip laying out and painting the rows below the fold (`content-visibility: auto`,
// list.css), which a table's rows do not allow. A cold page of 100 rows paints ~100 ms sooner.

import {
  firstSentence, formatDuration, formatTime, formatTimeFull, insightLabel, maskedCustomer, outcomeLabel,
  platformPath, severityRank,
} from "../format.js";
import { h } from "../dom.js";

const COLUMNS = ["Start", "Duration", "Customer", "Journey", "Outcome", "Insights", "Status"];

/** The table with its head row and an empty body: `{table, body}`. */
export function buildTable() {
  const body = h("div", { class: "rows", role: "rowgroup" });
  const table = h("div", { class: "journeys", role: "table", "aria-label": "Journeys" },
    h("div", { class: "head", role: "rowgroup" },
      h("div", { role: "row" }, COLUMNS.map((c) => h("div", { role: "columnheader", class: `col-${c.toLowerCase()}` }, c)))),
    body);
  return { table, body };
}

const cell = (props, ...children) => h("div", { role: "cell", ...props }, ...children);

function insightBadge(insight, rules) {
  const rule = rules.get(insight.rule);
  const label = insightLabel(insight.rule);
  const tip = [`${label} (${insight.severity})`, rule && rule.description, insight.count > 1 ? `${insight.count} times` : ""]
    .filter(Boolean).join(" — ");
  return h("span", { class: `badge sev-${insight.severity}`, title: tip, dataset: { rule: insight.rule, severity: insight.severity } },
    label, insight.count > 1 ? h("span", { class: "times" }, `×${insight.count}`) : null);
}

function pathCell(record) {
  const platforms = record.platforms || [];
  const legs = record.leg_count || 0;
  const summary = record.summary && record.summary.text;
  return cell({ class: "col-journey" },
    h("div", { class: "line" },
      platforms.length
        ? h("span", { class: "path", title: platformPath(platforms) }, platformPath(platforms))
        : h("span", { class: "path muted" }, "no platform yet"),
      h("span", { class: "legs", title: "A leg is one platform's part of the journey" }, `${legs} leg${legs === 1 ? "" : "s"}`)),
    summary ? h("div", { class: "summary", title: summary }, firstSentence(summary)) : null);
}

/** One journey's row. `rules` maps rule ID → rule (for badge tooltips). */
export function buildRow(record, rules) {
  const id = record.journey_id;
  const live = record.status === "in_progress";
  const insights = [...(record.insights || [])].sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
  return h("div", { role: "row", dataset: { journeyId: id, status: record.status }, class: live ? "is-live" : "" },
    cell({ class: "col-start" },
      h("a", { href: `/journeys/${id}`, class: "open", title: formatTimeFull(record.start_unix_nano) }, formatTime(record.start_unix_nano))),
    cell({ class: "col-duration num" }, formatDuration(record.duration_nano)),
    cell({ class: "col-customer", title: record.customer_phone_hash ? "The caller, by a tag of their number's keyed hash" : "No caller number known" },
      maskedCustomer(record)),
    pathCell(record),
    cell({ class: "col-outcome" }, h("span", { class: `outcome outcome-${record.outcome || "none"}` }, outcomeLabel(record.outcome))),
    cell({ class: "col-insights" }, insights.map((i) => insightBadge(i, rules))),
    cell({ class: "col-status" }, live
      ? h("span", { class: "status live", title: "Data may still arrive" }, h("span", { class: "dot", "aria-hidden": "true" }), "In progress")
      : h("span", { class: "status done" }, "Complete")));
}

/** Keeps a table body equal to a list of records, rebuilding only rows whose record changed. */
export class RowSet {
  constructor(body, rules) {
    this.body = body;
    this.rules = rules;
    this.rows = new Map(); // journey_id → {json, row}
  }

  /** Show `records` in order; with `flash`, new and changed rows are highlighted briefly. Rows
   * that neither changed nor moved are left alone (no style or layout work for them). */
  show(records, { flash = false } = {}) {
    const focused = this.body.contains(document.activeElement) ? document.activeElement : null;
    const focusedRow = focused && focused.closest("[data-journey-id]");
    const focusedId = focusedRow ? focusedRow.dataset.journeyId : null;
    const next = new Map();
    const wanted = [];
    for (const record of records) {
      const json = JSON.stringify(record);
      const old = this.rows.get(record.journey_id);
      let row = old && old.json === json ? old.row : null;
      if (!row) {
        row = buildRow(record, this.rules);
        if (flash) {
          row.classList.add("flash");
          row.addEventListener("animationend", () => row.classList.remove("flash"), { once: true });
        }
      }
      next.set(record.journey_id, { json, row });
      wanted.push(row);
    }
    const keep = new Set(wanted);
    for (const { row } of this.rows.values()) if (!keep.has(row)) row.remove();
    if (!this.body.firstChild) {
      const fragment = document.createDocumentFragment(); // the first page: one insertion
      fragment.append(...wanted);
      this.body.append(fragment);
    } else {
      let cursor = this.body.firstChild;
      for (const row of wanted) {
        if (row === cursor) cursor = cursor.nextSibling;
        else this.body.insertBefore(row, cursor);
      }
    }
    this.rows = next;
    if (focused && !focused.isConnected) { // a live update keeps the keyboard where it was
      const target = next.get(focusedId)?.row.querySelector("a.open");
      if (target) target.focus({ preventScroll: true });
    }
  }
}
