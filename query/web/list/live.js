// The live stream: server-sent events of the journeys that match the list's filters, as they
// gain data or analysis (GET /api/journeys/stream).

import { reviveRecord } from "./records.js";

/** Open the stream for API parameters `params`. `onReady()` runs each time the stream (re)starts,
 * `onRecord(record)` for each changed journey, `onState("connecting" | "on" | "off")` as the
 * connection changes. Returns the function that closes it. */
export function openLive(params, { onReady, onRecord, onState }) {
  const query = new URLSearchParams(params);
  query.set("limit", "1000"); // every journey that changed within one poll, not only the page's worth
  const source = new EventSource(`/api/journeys/stream?${query}`);
  onState("connecting");
  source.addEventListener("ready", () => {
    onState("on");
    onReady();
  });
  source.addEventListener("journey", (event) => {
    let record = null;
    try {
      record = JSON.parse(event.data, reviveRecord);
    } catch {
      return; // not a record: nothing to show
    }
    onRecord(record);
  });
  source.addEventListener("error", () => onState(source.readyState === EventSource.CLOSED ? "off" : "connecting"));
  return () => {
    source.close();
    onState("off");
  };
}
