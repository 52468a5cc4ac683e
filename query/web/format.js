// How the pages write times, durations, platforms, customers, insights and outcomes.

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n) => String(n).padStart(2, "0");

/** A local time: "14:03:21" today, "Nov 27, 14:03" another day this year, "Nov 27 2025, 14:03" before. */
export function formatTime(unixNano, now = new Date()) {
  if (unixNano === null || unixNano === undefined) return "—";
  const d = new Date(Number(unixNano) / 1e6);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.toDateString() === now.toDateString()) return `${time}:${pad(d.getSeconds())}`;
  const year = d.getFullYear() === now.getFullYear() ? "" : ` ${d.getFullYear()}`;
  return `${MONTHS[d.getMonth()]} ${d.getDate()}${year}, ${time}`;
}

/** The full local date and time with the zone offset, for tooltips: "2026-11-28 14:03:21.250 +01:00". */
export function formatTimeFull(unixNano) {
  const d = new Date(Number(unixNano) / 1e6);
  const offset = -d.getTimezoneOffset();
  const zone = `${offset < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:` +
    `${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")} ${zone}`;
}

/** A duration for people: "120 µs", "850 ms", "4.2s", "42s", "4m 12s", "1h 5m". */
export function formatDuration(nanos) {
  if (nanos === null || nanos === undefined || Number.isNaN(Number(nanos))) return "—";
  const ns = Math.max(0, Number(nanos));
  if (ns < 1e6) return ns === 0 ? "0 ms" : `${Math.max(1, Math.round(ns / 1e3))} µs`;
  if (ns < 1e9) return `${Math.round(ns / 1e6)} ms`;
  const seconds = ns / 1e9;
  if (seconds < 10) return `${(Math.floor(seconds * 10) / 10).toFixed(1)}s`;
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  const whole = Math.floor(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${whole % 60}s`;
  return `${Math.floor(whole / 3600)}h ${Math.floor((whole % 3600) / 60)}m`;
}

const PLATFORMS = {
  amazon_connect: "Amazon Connect",
  polyai: "PolyAI",
  genesys_cloud: "Genesys Cloud",
  nice_cxone: "NICE CXone",
  livekit: "LiveKit",
  twilio: "Twilio",
  vapi: "Vapi",
  retell: "Retell",
  bland: "Bland",
  asterisk: "Asterisk",
  freeswitch: "FreeSWITCH",
  five9: "Five9",
  talkdesk: "Talkdesk",
  pipecat: "Pipecat",
};

/** Platforms the explorer knows by name (cx.platform.name values), in the order filters list them. */
export const KNOWN_PLATFORMS = Object.keys(PLATFORMS);

function titleCase(id) {
  return String(id).split(/[_\s-]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(" ");
}

/** "amazon_connect" → "Amazon Connect", "polyai" → "PolyAI"; unknown names are title-cased. */
export function platformLabel(name) {
  if (!name) return "Unknown";
  return PLATFORMS[name] || titleCase(name);
}

/** The leg path as text: "PolyAI → Amazon Connect". */
export function platformPath(platforms) {
  return (platforms || []).map(platformLabel).join(" → ");
}

/** The customer without their number: "caller 6b36…" (a tag of the number's keyed hash), or
 * "anonymous" when no number is known. Takes a journey record or the hash itself. */
export function maskedCustomer(record) {
  const hash = record && typeof record === "object" ? record.customer_phone_hash : record;
  return hash ? `caller ${String(hash).slice(0, 4)}…` : "anonymous";
}

/** A raw number masked but for its last four digits: "+1 ••• ••• 1234". */
export function maskedNumber(number) {
  const digits = String(number || "").replace(/[^0-9]/g, "");
  if (digits.length < 5) return "•••";
  const country = String(number).trim().startsWith("+") && digits.length > 10 ? `+${digits.slice(0, digits.length - 10)} ` : "";
  return `${country}••• ••• ${digits.slice(-4)}`;
}

const SEVERITIES = { critical: 2, warning: 1, info: 0 };

/** critical 2, warning 1, info 0, anything else -1: sort with `(a, b) => severityRank(b) - severityRank(a)`. */
export function severityRank(severity) {
  return severity in SEVERITIES ? SEVERITIES[severity] : -1;
}

const ACRONYMS = { ai: "AI", ivr: "IVR", mos: "MOS", rtt: "RTT", sip: "SIP", sla: "SLA", acw: "ACW", id: "ID" };

/** "abandoned_in_queue" → "Abandoned in queue", "low_mos" → "Low MOS". */
export function insightLabel(ruleId) {
  const words = String(ruleId || "").split("_").filter(Boolean).map((w) => ACRONYMS[w] || w);
  if (!words.length) return "";
  return words[0][0].toUpperCase() + words[0].slice(1) + (words.length > 1 ? " " + words.slice(1).join(" ") : "");
}

/** Insight categories as headings: "technical" → "Technical". */
export function categoryLabel(category) {
  return titleCase(category || "other");
}

const OUTCOMES = {
  resolved: "Resolved",
  transferred_external: "Transferred out",
  callback_scheduled: "Callback scheduled",
  abandoned: "Abandoned",
  dropped: "Dropped",
  unknown: "Unknown",
};

/** The outcomes the API filters by, in the order a select lists them. */
export const KNOWN_OUTCOMES = Object.keys(OUTCOMES);

/** "transferred_external" → "Transferred out"; no outcome (yet) → "—". */
export function outcomeLabel(outcome) {
  if (!outcome) return "—";
  return OUTCOMES[outcome] || titleCase(outcome);
}

/** The first sentence of a text (a summary's headline). */
export function firstSentence(text) {
  if (!text) return "";
  const match = String(text).match(/^.+?[.!?](?=\s+[A-Z(]|\s*$)/s);
  return (match ? match[0] : String(text)).trim();
}

// Time bounds, as the pages' URLs (from/to) and their datetime-local inputs hold them.

/** Unix nanoseconds (BigInt) of a time bound (integer nanoseconds or ISO 8601, UTC without a zone), or null. */
export function nanosOf(value) {
  if (!value) return null;
  if (/^-?[0-9]+$/.test(value)) return BigInt(value);
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(ms) ? null : BigInt(ms) * 1000000n;
}

/** "2026-11-28T09:30:00Z" or unix ns (a URL's from/to) → "2026-11-28T10:30" (a datetime-local input, local time). */
export function toLocalInput(value) {
  const nanos = typeof value === "bigint" ? value : nanosOf(value);
  if (nanos === null) return "";
  const d = new Date(Number(nanos / 1000000n));
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local input's value (local time) → an ISO UTC time for the URL ("" when empty). */
export function fromLocalInput(value) {
  if (!value) return "";
  const d = new Date(value); // a datetime-local value without a zone is local time
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(/\.000Z$/, "Z");
}
