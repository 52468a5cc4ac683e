// Small formatters of the journey page: durations, times, platform names, masked numbers.
// Platform names and masked numbers come from the shared format.js, so every page writes them alike.

import { h } from "../dom.js";
import { maskedNumber, platformLabel as sharedPlatformLabel } from "../format.js";

/** A platform's display name ("amazon_connect" → "Amazon Connect"), as the other pages write it. */
export function platformLabel(name) {
  return name === "journeytrace" ? "journeytrace" : sharedPlatformLabel(name);
}

/** A duration in nanoseconds as people say it: 850 ms, 4.2 s, 2 min 5 s, 1 h 3 min. */
export function duration(ns) {
  if (ns == null || !Number.isFinite(ns)) return "–";
  const ms = ns / 1e6;
  if (ms < 1) return ms === 0 ? "0 ms" : `${(ns / 1e3).toFixed(0)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  if (h) return m ? `${h} h ${m} min` : `${h} h`;
  return rest ? `${m} min ${rest} s` : `${m} min`;
}

/** An offset from the journey's start, signed: +1.5 s, +2 min 5 s. */
export function offset(ns) {
  return (ns < 0 ? "−" : "+") + duration(Math.abs(ns));
}

/** Wall-clock time of unix nanoseconds, local: "14:03:12". */
export function clock(ns, withSeconds = true) {
  const d = new Date(ns / 1e6);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined, hour12: false });
}

/** Date and time of unix nanoseconds, local: "2026-11-28 14:03:12". */
export function dateTime(ns) {
  const d = new Date(ns / 1e6);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(ns)}`;
}

/** Words of an identifier: "call_dropped_during_transfer" → "call dropped during transfer". */
export function words(id) {
  return String(id || "").replace(/[_.]+/g, " ").trim();
}

/** True for a string that looks like a phone number (7 to 15 digits, E.164 or with separators). */
export function looksLikePhone(value) {
  if (typeof value !== "string" || !/^\+?[\d\s().-]+$/.test(value.trim())) return false;
  const digits = value.replace(/\D/g, "").length;
  return digits >= 7 && digits <= 15;
}

/** A phone number with all but its last four digits hidden: "+1 ••• ••• 1234" (as the list masks it). */
export function maskPhone(value) {
  return maskedNumber(value);
}

/** Escape text for an HTML string. */
export function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** An element: el("div", {class: "x", text: "..."}, child, ...): the shared h() (../dom.js), with
 * `text` as the first child. Attributes with null values are skipped. */
export function el(tag, attributes = {}, ...children) {
  const { text, ...rest } = attributes;
  return h(tag, rest, text == null || text === false ? null : String(text), ...children);
}

/** Copy text to the clipboard (navigator.clipboard, else a hidden textarea); resolves true on success. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall back below (no permission, not focused, …)
  }
  const area = el("textarea", { readonly: true, "aria-hidden": "true", style: "position:fixed;left:-9999px;top:0" });
  area.value = text;
  document.body.append(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch {
    done = false;
  }
  area.remove();
  return done;
}

/** A "copy" button for a value, which says "copied" for a moment after a click. */
export function copyButton(value, label = "value") {
  const button = el("button", { type: "button", class: "jt-copy", title: `Copy ${label}`, "aria-label": `Copy ${label}`, text: "copy" });
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    const ok = await copyText(String(value));
    button.textContent = ok ? "copied" : "copy failed";
    button.dataset.copied = ok ? "true" : "false";
    setTimeout(() => { button.textContent = "copy"; }, 1500);
  });
  return button;
}

/** A masked phone number with a "show"/"hide" toggle. */
export function maskedPhone(value) {
  const masked = maskPhone(value);
  const text = el("span", { class: "jt-phone", text: masked });
  const toggle = el("button", { type: "button", class: "jt-show", "aria-pressed": "false", text: "show" });
  toggle.addEventListener("click", (event) => {
    event.stopPropagation();
    const shown = toggle.getAttribute("aria-pressed") === "true";
    toggle.setAttribute("aria-pressed", shown ? "false" : "true");
    toggle.textContent = shown ? "show" : "hide";
    text.textContent = shown ? masked : String(value);
  });
  return el("span", { class: "jt-masked" }, text, " ", toggle);
}
