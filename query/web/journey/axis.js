// The time axis: tick steps that read well at any zoom (ms, s, min, h) and their labels, as offsets
// from the journey's start.

const MS = 1e6;
const S = 1e9;
const MIN = 60 * S;
const STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 250, 500,
].map((m) => m * MS).concat(
  [1, 2, 5, 10, 15, 30].map((s) => s * S),
  [1, 2, 5, 10, 15, 30].map((m) => m * MIN),
  [1, 2, 3, 6, 12, 24].map((h) => h * 60 * MIN),
);

/** The smallest step (ns) at least `minPx` wide when `nsPerPx` nanoseconds make a pixel. */
export function tickStep(nsPerPx, minPx = 90) {
  const wanted = nsPerPx * minPx;
  return STEPS.find((s) => s >= wanted) || STEPS[STEPS.length - 1];
}

/** Label of a tick at `ns` from the start, for ticks `step` apart. */
export function tickLabel(ns, step) {
  if (ns === 0) return "0";
  if (step < S) {
    if (ns < S) return `${Math.round(ns / MS)} ms`;
    const decimals = step >= 100 * MS ? 1 : step >= 10 * MS ? 2 : 3;
    return `${(ns / S).toFixed(decimals)} s`;
  }
  const total = Math.round(ns / S);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h) return m ? `${h} h ${m} min` : `${h} h`;
  if (m) return s ? `${m} min ${s} s` : `${m} min`;
  return `${s} s`;
}

/** Tick offsets (ns from the start) covering [from, to], `step` apart. */
export function ticks(from, to, step) {
  const found = [];
  for (let t = Math.max(0, Math.floor(from / step) * step); t <= to && found.length < 500; t += step) found.push(t);
  return found;
}
