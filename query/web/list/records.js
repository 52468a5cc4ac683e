// Journey list records: their exact start (nanoseconds exceed a double's precision, and keyset
// paging needs `start - 1` exactly) and their order, newest first (start, then ID, descending).

const exactStart = new WeakMap();

/** A JSON.parse reviver that remembers each record's exact `start_unix_nano` from its source text. */
export function reviveRecord(key, value, context) {
  if (key === "start_unix_nano" && typeof value === "number" && this && typeof this === "object") {
    let exact = null;
    try {
      if (context && typeof context.source === "string") exact = BigInt(context.source);
    } catch {
      exact = null;
    }
    exactStart.set(this, exact ?? BigInt(Math.round(value)));
  }
  return value;
}

/** A record's start in unix nanoseconds, as a BigInt. */
export function startOf(record) {
  return exactStart.get(record) ?? BigInt(Math.round(record.start_unix_nano));
}

/** Sort comparator, newest first: negative when `a` is listed before `b`. */
export function newestFirst(a, b) {
  const sa = startOf(a);
  const sb = startOf(b);
  if (sa !== sb) return sa > sb ? -1 : 1;
  return a.journey_id === b.journey_id ? 0 : a.journey_id > b.journey_id ? -1 : 1;
}

/** The cursor of the page after one ending with `last`: its start minus one nanosecond. */
export function cursorAfter(last) {
  return (startOf(last) - 1n).toString();
}
