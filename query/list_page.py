"""The journey list's first frame as HTML: the form and the rows, drawn by the server.

In a new browser context the list of 100 journeys painted ~420 ms after navigation when the
page's modules drew it, because they must load first; drawn here, it paints at ~230–300 ms
(BENCHMARKS.md, Journey Explorer). The page's modules then load after its first frame
(``web/first_frame.js``) and ``list.js`` draws the page again over it, identical, with its
behaviour attached.

Identical is the contract: this module mirrors ``list.js``, ``list/form.js``, ``list/table.js``
and the formatting in ``format.js``, and ``tests/test_web_list.py`` holds the two drawings to
the same elements, attributes and text. Only the common case is drawn here: a first page with
journeys, no quick range or analytics filters, in the time zone the page's ``jt_tz`` cookie
names (else UTC; ``first_frame.js`` discards a drawing made in another zone than the browser's).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from journeytrace.query.first_answer import LINKED
from starlette.datastructures import QueryParams

DEFAULT_ZONE = "UTC"
ZONE_COOKIE = "jt_tz"

# format.js
_PLATFORMS = {
    "amazon_connect": "Amazon Connect", "polyai": "PolyAI", "genesys_cloud": "Genesys Cloud",
    "nice_cxone": "NICE CXone", "livekit": "LiveKit", "twilio": "Twilio", "vapi": "Vapi", "retell": "Retell",
    "bland": "Bland", "asterisk": "Asterisk", "freeswitch": "FreeSWITCH", "five9": "Five9", "talkdesk": "Talkdesk",
    "pipecat": "Pipecat",
}  # fmt: skip
_OUTCOMES = {
    "resolved": "Resolved", "transferred_external": "Transferred out", "callback_scheduled": "Callback scheduled",
    "abandoned": "Abandoned", "dropped": "Dropped", "unknown": "Unknown",
}  # fmt: skip
_ACRONYMS = {"ai": "AI", "ivr": "IVR", "mos": "MOS", "rtt": "RTT", "sip": "SIP", "sla": "SLA", "acw": "ACW", "id": "ID"}
_SEVERITIES = {"critical": 2, "warning": 1, "info": 0}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# list/query.js, list.js
_RANGES = {"15m": "15 min", "1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d"}
_PAGE_SIZES = (25, 50, 100, 200)
_COLUMNS = ("Start", "Duration", "Customer", "Journey", "Outcome", "Insights", "Status")


def zone_of(cookie: str | None) -> ZoneInfo:
    """The browser's time zone as its ``jt_tz`` cookie names it (index.html writes it
    URI-encoded), else UTC."""
    if cookie:
        try:
            return ZoneInfo(unquote(cookie[:128]))
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder ("America")
            pass
    return ZoneInfo(DEFAULT_ZONE)


# -- markup ----------------------------------------------------------------------------------


class _Html(str):
    """Markup already escaped."""


def h(tag: str, attributes: Mapping[str, object] | None = None, *children: object) -> _Html:
    """An element as ``dom.js`` ``h`` builds it: ``None``/``False`` attributes are left out,
    ``True`` is an empty attribute, ``dataset`` becomes ``data-*``; text children are escaped."""
    parts = [tag]
    for name, value in (attributes or {}).items():
        if name == "dataset":
            parts += (f'data-{re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), k)}="{escape(str(v))}"'
                      for k, v in value.items())  # type: ignore[attr-defined]  # fmt: skip
        elif value is True:
            parts.append(name)
        elif value is not None and value is not False:
            parts.append(f'{name}="{escape(str(value))}"')
    inner = "".join(_child(c) for c in _flat(children))
    return _Html(f"<{' '.join(parts)}>" + ("" if tag == "input" else f"{inner}</{tag}>"))


def _flat(children: Iterable[object]) -> Iterable[object]:
    for child in children:
        if isinstance(child, (list, tuple)):
            yield from _flat(child)
        elif child is not None and child is not False:
            yield child


def _child(child: object) -> str:
    return child if isinstance(child, _Html) else escape(str(child), quote=False)


# -- format.js ------------------------------------------------------------------------------


def _local(unix_nano: int, zone: ZoneInfo) -> datetime:
    # As JavaScript's Date gets it: a JSON number (a double) divided, the milliseconds truncated.
    ms = int(float(unix_nano) / 1e6)
    return datetime.fromtimestamp(ms // 1000, zone).replace(microsecond=(ms % 1000) * 1000)


def format_time(unix_nano: int | None, zone: ZoneInfo, now: datetime) -> str:
    if unix_nano is None:
        return "—"
    d = _local(unix_nano, zone)
    time = f"{d.hour:02}:{d.minute:02}"
    if d.date() == now.date():
        return f"{time}:{d.second:02}"
    year = "" if d.year == now.year else f" {d.year}"
    return f"{_MONTHS[d.month - 1]} {d.day}{year}, {time}"


def format_time_full(unix_nano: int, zone: ZoneInfo) -> str:
    d = _local(unix_nano, zone)
    offset = int(d.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if offset < 0 else "+"
    return (f"{d.year}-{d.month:02}-{d.day:02} {d.hour:02}:{d.minute:02}:{d.second:02}.{d.microsecond // 1000:03} "
            f"{sign}{abs(offset) // 60:02}:{abs(offset) % 60:02}")  # fmt: skip


def _round(x: float) -> int:  # Math.round
    return math.floor(x + 0.5)


def format_duration(nanos: float | None) -> str:
    if nanos is None or (isinstance(nanos, float) and math.isnan(nanos)):
        return "—"
    ns = max(0, nanos)
    if ns < 1e6:
        return "0 ms" if ns == 0 else f"{max(1, _round(ns / 1e3))} µs"
    if ns < 1e9:
        return f"{_round(ns / 1e6)} ms"
    seconds = ns / 1e9
    if seconds < 10:
        return f"{math.floor(seconds * 10) / 10:.1f}s"
    if seconds < 60:
        return f"{math.floor(seconds)}s"
    whole = math.floor(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    return f"{whole // 3600}h {(whole % 3600) // 60}m"


def _title_case(name: str) -> str:
    return " ".join(w[0].upper() + w[1:] for w in re.split(r"[_\s-]+", str(name)) if w)


def platform_label(name: str | None) -> str:
    return (_PLATFORMS.get(name) or _title_case(name)) if name else "Unknown"


def platform_path(platforms: Sequence[str] | None) -> str:
    return " → ".join(platform_label(p) for p in platforms or [])


def insight_label(rule: str | None) -> str:
    words = [_ACRONYMS.get(w, w) for w in str(rule or "").split("_") if w]
    if not words:
        return ""
    return words[0][0].upper() + words[0][1:] + (" " + " ".join(words[1:]) if len(words) > 1 else "")


def outcome_label(outcome: str | None) -> str:
    return (_OUTCOMES.get(outcome) or _title_case(outcome)) if outcome else "—"


_SENTENCE = re.compile(r"^.+?[.!?](?=\s+[A-Z(]|\s*\Z)", re.DOTALL)


def first_sentence(text: str | None) -> str:
    if not text:
        return ""
    found = _SENTENCE.match(str(text))
    return (found.group(0) if found else str(text)).strip()


def _severity_rank(severity: str) -> int:
    return _SEVERITIES.get(severity, -1)


def _to_local_input(value: str, zone: ZoneInfo) -> str:
    """``format.js`` ``toLocalInput`` for a URL's integer-nanosecond bound (``page_filters``
    leaves other spellings to the page)."""
    d = _local(int(value), zone)
    return f"{d.year:04}-{d.month:02}-{d.day:02}T{d.hour:02}:{d.minute:02}"


# -- list/table.js --------------------------------------------------------------------------


def _cell(attributes: Mapping[str, object], *children: object) -> _Html:
    return h("div", {"role": "cell", **attributes}, *children)


def _badge(insight: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> _Html:
    rule = rules.get(insight["rule"])
    label = insight_label(insight["rule"])
    count = insight.get("count") or 0
    tip = " — ".join(t for t in (f"{label} ({insight['severity']})", rule and rule.get("description"),
                                 f"{count} times" if count > 1 else "") if t)  # fmt: skip
    return h("span", {"class": f"badge sev-{insight['severity']}", "title": tip,
                      "dataset": {"rule": insight["rule"], "severity": insight["severity"]}},
             label, h("span", {"class": "times"}, f"×{count}") if count > 1 else None)  # fmt: skip


def _path_cell(record: Mapping[str, Any]) -> _Html:
    platforms = record.get("platforms") or []
    legs = record.get("leg_count") or 0
    summary = (record.get("summary") or {}).get("text")
    path = (h("span", {"class": "path", "title": platform_path(platforms)}, platform_path(platforms)) if platforms
            else h("span", {"class": "path muted"}, "no platform yet"))  # fmt: skip
    return _cell({"class": "col-journey"},
                 h("div", {"class": "line"}, path,
                   h("span", {"class": "legs", "title": "A leg is one platform's part of the journey"},
                     f"{legs} leg{'' if legs == 1 else 's'}")),
                 h("div", {"class": "summary", "title": summary}, first_sentence(summary)) if summary else None)  # fmt: skip


def row(record: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]], zone: ZoneInfo, now: datetime) -> _Html:
    """``table.js`` ``buildRow``."""
    journey = record["journey_id"]
    live = record.get("status") == "in_progress"
    insights = sorted(record.get("insights") or [], key=lambda i: -_severity_rank(i["severity"]))
    customer = record.get("customer_phone_hash")
    status = (h("span", {"class": "status live", "title": "Data may still arrive"},
                h("span", {"class": "dot", "aria-hidden": "true"}), "In progress") if live
              else h("span", {"class": "status done"}, "Complete"))  # fmt: skip
    return h("div", {"role": "row", "dataset": {"journeyId": journey, "status": record.get("status")},
                     "class": "is-live" if live else ""},
             _cell({"class": "col-start"},
                   h("a", {"href": f"/journeys/{journey}", "class": "open",
                           "title": format_time_full(record["start_unix_nano"], zone)},
                     format_time(record["start_unix_nano"], zone, now))),
             _cell({"class": "col-duration num"}, format_duration(record.get("duration_nano"))),
             _cell({"class": "col-customer",
                    "title": "The caller, by a tag of their number's keyed hash" if customer else "No caller number known"},
                   f"caller {str(customer)[:4]}…" if customer else "anonymous"),
             _path_cell(record),
             _cell({"class": "col-outcome"},
                   h("span", {"class": f"outcome outcome-{record.get('outcome') or 'none'}"},
                     outcome_label(record.get("outcome")))),
             _cell({"class": "col-insights"}, [_badge(i, rules) for i in insights]),
             _cell({"class": "col-status"}, status))  # fmt: skip


# -- list/form.js ---------------------------------------------------------------------------


def _picker(name: str, title: str, options: list[_Html], chosen: list[str]) -> _Html:
    return h("details", {"class": "picker has-choice" if chosen else "picker", "dataset": {"picker": name}},
             h("summary", {}, h("span", {"class": "picker-title"}, f"{title}: "),
               h("span", {"class": "chosen"}, ", ".join(chosen) if chosen else "any")),
             h("div", {"class": "menu", "role": "group", "aria-label": title}, options))  # fmt: skip


def _option(name: str, value: str, label: str, checked: bool, tip: str | None = None) -> _Html:
    return h("label", {"class": "option", "title": tip or None},
             h("input", {"type": "checkbox", "name": name, "value": value, "checked": checked, "dataset": {"label": label}}),
             " ", label)  # fmt: skip


def _select(name: str, label: str, options: list[tuple[str, str]], value: str) -> _Html:
    return h("div", {"class": "field"}, h("label", {"for": f"f-{name}"}, label),
             h("select", {"name": name, "id": f"f-{name}"},
               [h("option", {"value": v, "selected": v == value}, text) for v, text in options]))  # fmt: skip


def _insight_groups(rules: Sequence[Mapping[str, Any]], chosen: list[str]) -> list[_Html]:
    by_category: dict[str, list[Mapping[str, Any]]] = {}
    for rule in rules:
        by_category.setdefault(rule["category"], []).append(rule)
    groups = [
        h("fieldset", {"class": "group"}, h("legend", {}, _title_case(category or "other")),
          [_option("insight", r["id"], insight_label(r["id"]), r["id"] in chosen, r.get("description")) for r in listed])
        for category, listed in by_category.items()
    ]  # fmt: skip
    unknown = [i for i in chosen if all(r["id"] != i for r in rules)]
    if unknown:
        groups.append(h("fieldset", {"class": "group"}, h("legend", {}, "Unknown"),
                        [_option("insight", i, insight_label(i), True) for i in unknown]))  # fmt: skip
    return groups


def _menu_order(rules: Sequence[Mapping[str, Any]], chosen: list[str]) -> list[str]:
    """The chosen insights in the order the picker's menu lists them (by category, then unknown)."""
    categories = list(dict.fromkeys(r["category"] for r in rules))
    listed = [r["id"] for c in categories for r in rules if r["category"] == c]
    return [i for i in listed if i in chosen] + [i for i in chosen if i not in listed]


def form(filters: Mapping[str, Any], rules: Sequence[Mapping[str, Any]], zone: ZoneInfo) -> _Html:
    """``form.js`` ``buildForm``, its insight rules set."""
    known = [*_PLATFORMS, *(p for p in filters["platform"] if p not in _PLATFORMS)]
    platforms = _picker("platform", "Platforms",
                        [_option("platform", p, platform_label(p), p in filters["platform"]) for p in known],
                        [platform_label(p) for p in known if p in filters["platform"]])  # fmt: skip
    insights = _picker("insight", "Insights", _insight_groups(rules, filters["insight"]),
                       [insight_label(i) for i in _menu_order(rules, filters["insight"])])
    quick = [
        h("button", {"type": "button", "class": "range", "dataset": {"range": key}, "aria-pressed": "false",
                     "title": f"Journeys that started in the last {label}"}, label)
        for key, label in _RANGES.items()
    ]  # fmt: skip
    quick.append(h("button", {"type": "button", "class": "range", "dataset": {"range": ""},
                              "aria-pressed": "true" if not filters["from"] and not filters["to"] else "false"},
                   "Any time"))  # fmt: skip
    return h("form", {"class": "filters", "role": "search", "aria-label": "Find journeys"},
        h("input", {"type": "hidden", "name": "range", "value": ""}),
        h("div", {"class": "row"},
          h("div", {"class": "field"}, h("label", {"for": "f-phone"}, "Customer phone"),
            h("input", {"type": "tel", "name": "phone", "id": "f-phone", "value": filters["phone"], "autocomplete": "off",
                        "placeholder": "+1 415 555 0100", "size": 18})),
          h("div", {"class": "field grow"}, h("label", {"for": "f-id"}, "Any platform's ID"),
            h("input", {"type": "search", "name": "interaction_id", "id": "f-id", "value": filters["interaction_id"],
                        "autocomplete": "off", "spellcheck": "false",
                        "placeholder": "Contact ID, CallSid, conversation ID… or a journey ID"})),
          h("div", {"class": "actions"}, h("button", {"type": "submit", "class": "primary"}, "Search"),
            h("a", {"href": "/", "class": "clear"}, "Clear"))),
        h("div", {"class": "row"},
          h("div", {"class": "field time", "role": "group", "aria-label": "Started"},
            h("span", {"class": "label"}, "Started"), h("div", {"class": "quick"}, quick)),
          h("div", {"class": "field"}, h("label", {"for": "f-from"}, "From"),
            h("input", {"type": "datetime-local", "name": "from", "id": "f-from",
                        "value": _to_local_input(filters["from"], zone) if filters["from"] else ""})),
          h("div", {"class": "field"}, h("label", {"for": "f-to"}, "To"),
            h("input", {"type": "datetime-local", "name": "to", "id": "f-to",
                        "value": _to_local_input(filters["to"], zone) if filters["to"] else ""})),
          h("span", {"class": "muted tz"}, "local time")),
        h("div", {"class": "row"}, platforms, insights,
          _select("outcome", "Outcome", [("", "Any outcome"), *_OUTCOMES.items()], filters["outcome"]),
          _select("status", "Status", [("", "Any status"), ("in_progress", "In progress"), ("complete", "Complete")],
                  filters["status"])))  # fmt: skip


# -- list.js --------------------------------------------------------------------------------


def page_filters(api_query: str) -> dict[str, Any] | None:
    """The page's filters (``list/query.js`` ``readFilters``) from the API query the page sends
    for them (``first_answer.list_api_params``, which already left out quick ranges and page
    cursors), or None where this module does not draw: analytics filters, time bounds other
    than integer nanoseconds."""
    query = QueryParams(api_query)
    bounds = [query.get(n, "") for n in ("from", "to")]
    if any(n in query for n in LINKED) or any(b and not re.fullmatch(r"[0-9]{1,19}", b) for b in bounds):
        return None
    return {
        "phone": query.get("phone", ""), "from": bounds[0], "to": bounds[1], "platform": query.getlist("platform"),
        "insight": query.getlist("insight"), "outcome": query.get("outcome", ""), "status": query.get("status", ""),
        "interaction_id": query.get("interaction_id", ""), "limit": int(query["limit"]),
    }  # fmt: skip


def list_page(filters: Mapping[str, Any], journeys: Sequence[Mapping[str, Any]], rules: Sequence[Mapping[str, Any]],
              zone: ZoneInfo) -> bytes:
    """The list page (``list.js`` ``render``, its first answer shown) for ``#app``, marked with
    the zone its times are in (``first_frame.js`` discards it in another)."""
    now = datetime.now(zone)
    by_id = {r["id"]: r for r in rules}
    limit = filters["limit"]
    sizes = sorted({*_PAGE_SIZES, limit})
    n = len(journeys)
    results = h("section", {"class": "results", "dataset": {"state": "ready"}, "aria-busy": "false", "aria-label": "Journeys"},
        h("div", {"class": "bar"},
          h("h1", {}, "Journeys"),
          h("span", {"class": "count", "aria-live": "polite"}, f"{n} journey{'' if n == 1 else 's'}, newest first"),
          h("span", {"class": "live-badge", "dataset": {"live": "off"}, "hidden": True, "role": "status"}),
          h("span", {"class": "spacer"}),
          h("label", {"class": "page-size"}, "Per page ",
            h("select", {"id": "f-limit", "aria-label": "Journeys per page"},
              [h("option", {"value": str(s), "selected": s == limit}, str(s)) for s in sizes])),
          h("button", {"type": "button", "class": "pager newer", "disabled": True}, "← Newer"),
          h("button", {"type": "button", "class": "pager older", "disabled": n < limit}, "Next page →")),
        h("div", {"class": "message", "hidden": True, "role": "status"}),
        h("div", {"class": "table-wrap"},
          h("div", {"class": "journeys", "role": "table", "aria-label": "Journeys"},
            h("div", {"class": "head", "role": "rowgroup"},
              h("div", {"role": "row"}, [h("div", {"role": "columnheader", "class": f"col-{c.lower()}"}, c) for c in _COLUMNS])),
            h("div", {"class": "rows", "role": "rowgroup"}, [row(r, by_id, zone, now) for r in journeys]))))  # fmt: skip
    return h("div", {"class": "list-page", "dataset": {"firstFrame": "server", "zone": zone.key}},
             form(filters, rules, zone), results).encode()  # fmt: skip
