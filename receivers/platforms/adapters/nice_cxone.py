"""NICE CXone: completed contact / contact history records → spans.

Payloads: one contact record with the Reporting API's fields ("Contact Details By ID",
cx-platforms.md §5.b: ``contactId``, ``masterContactId``, ``contactStart``, ``lastUpdateTime``,
``fromAddr``, ``toAddr``, ``skillName``, ``agentId``, ``preQueueSeconds``, ``inQueueSeconds``,
``agentSeconds``, ``holdCount``, ``holdSeconds``, ``ACWSeconds``, ``abandoned`` / ``abandonSeconds``,
``totalDurationSeconds``, …), an array of them, or a list answer ``{"completedContacts": [...]}`` /
``{"contacts": [...]}``. CXone does not sign anything it sends (``verify=None``).

Interaction ID: ``contactId`` (numeric, as a string). One contact is one segment of the customer's
call: a transfer creates a new contact whose ``masterContactId`` is the contact that created it.

CXone reports durations, not boundaries, so the child spans are laid back to back from
``contactStart`` and marked ``cx.span.synthesized = true`` (§5.e):

- ``contact`` (root, ``telephony`` for calls): ``contactStart`` → + ``totalDurationSeconds``; channel,
  direction, ANI (``fromAddr`` inbound, ``toAddr`` outbound), dialled number (``toAddr``),
  disconnect reason from ``endReason`` / ``disconnectReason`` (a telecom problem is status error).
- ``ivr``: ``preQueueSeconds`` (script before the skill queue); ``cx.ivr.outcome``.
- ``queue``: ``inQueueSeconds`` in ``skillName``; ``cx.queue.exit_reason`` answered / abandoned
  (``abandoned``, ``abandonSeconds``: an abandoned contact waited until ``abandonSeconds``) /
  transferred.
- ``agent``: ``agentSeconds`` with hold count and duration and after-call work.
- ``handoff``: zero-length, where the handling ended, when ``transferIndicatorName`` names a transfer.

Correlation keys: ``cx.platform.interaction.parent_id`` = ``masterContactId`` (when it is another
contact), ``cx.telephony.ani.number`` / ``.dnis.number``. CXone puts ``contactId`` in a SIP X-header
to AI vendors, so the vendor's leg links here with ``cx.peer.interaction.id``. CXone writes national
numbers without a country code: the ``country_code`` option (e.g. ``?country_code=1``) makes them
E.164 so they match other platforms' numbers.

Versions: ``record_version`` is ``lastUpdateTime``. Times are ISO-8601; one without an offset is in
the ``tz`` option's zone (reports use the business unit's zone), else UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from journeytrace import semconv
from journeytrace.phone import normalize
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.model import BadPayload, Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get, require, require_object
from journeytrace.receivers.platforms.registry import Adapter

PLATFORM = "nice_cxone"
S = 1_000_000_000

NICE_CXONE_END_REASON = "nice_cxone.end_reason"
NICE_CXONE_TRANSFER_INDICATOR = "nice_cxone.transfer_indicator"

LIST_KEYS = ("completedContacts", "contacts")
CHANNELS = {"call": "voice", "phone call": "voice", "phonecall": "voice", "voice": "voice", "voice mail": "voice",
            "voicemail": "voice", "chat": "chat", "email": "email", "sms": "sms", "work item": "task",
            "workitem": "task", "digital": "messaging"}  # fmt: skip
NOT_TRANSFERS = frozenset({"", "none", "no transfer", "not transferred"})


@dataclass(frozen=True, slots=True)
class Phases:
    """Where each part of the contact sits on the timeline, rebuilt from CXone's durations."""

    start: int
    end: int
    ivr_end: int
    queue_end: int
    agent_end: int


def contacts(native: Any) -> list[Mapping[str, Any]]:
    """The contact records in any of the shapes the APIs return them in."""
    if isinstance(native, Mapping) and get(native, "contactId") is None:
        for key in LIST_KEYS:
            if isinstance(get(native, key), list):
                native = get(native, key)
                break
    return [require_object(item, "a CXone contact record") for item in as_list(native)]


def _id(value: Any) -> str | None:
    """CXone IDs are numbers (``501234567890``); as strings, with no ``.0`` from a float."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def _seconds(record: Mapping[str, Any], name: str, cid: str) -> int:
    """A duration field in ns (0 when absent); a value that is not a number is a bad payload."""
    value = get(record, name)
    if value is None or value == "":
        return 0
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise BadPayload(f"contact {cid}: field {name!r} is not a number of seconds") from None
    if seconds < 0:
        raise BadPayload(f"contact {cid}: field {name!r} is negative")
    return round(seconds * S)


def _flag(value: Any) -> bool:
    """CXone booleans: JSON ``true``, ``"true"``, report-style ``"Y"``, ``1``."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "y", "yes", "1")
    return bool(value) and not isinstance(value, dict | list)


def _time(value: Any, what: str, zone: str | None) -> int:
    return times.iso8601(value, field=what, zone=zone) if isinstance(value, str) else times.any_time(value, field=what)


def phone_number(value: Any, country_code: str | None) -> str | None:
    """``fromAddr`` / ``toAddr`` as E.164; a national number gets ``country_code`` when one is given."""
    if value is None or isinstance(value, bool):
        return None
    number = normalize(str(value).strip())
    if number is None or number.startswith("+") or not country_code or len(number) < 7:
        return number  # short codes and extensions stay as they are
    if number.startswith(country_code) and len(number) > 10:
        return "+" + number
    return "+" + country_code + number.lstrip("0")


def _disconnect_reason(end_reason: str) -> str | None:
    """``cx.disconnect.reason`` from CXone's free-text end reason (``Contact Hung Up``, ``CUSTOMER_DISCONNECT``).

    The vocabulary is not documented (cx-platforms.md §5.e, [I]), so it is matched by keyword and the
    native text is kept in ``nice_cxone.end_reason``."""
    text = end_reason.lower().replace("_", " ")
    if not text:
        return None
    if any(word in text for word in ("telecom", "network", "error", "fail")):
        return "telecom_problem"
    if any(word in text for word in ("contact", "customer", "caller")):
        return "customer_disconnect"
    if "agent" in text:
        return "agent_disconnect"
    if any(word in text for word in ("script", "system")):
        return "flow_disconnect"
    return "other"


def _phases(record: Mapping[str, Any], cid: str, start: int, abandoned: bool) -> Phases:
    pre, queued, handled = (_seconds(record, n, cid) for n in ("preQueueSeconds", "inQueueSeconds", "agentSeconds"))
    ivr_end = start + pre
    queue_end = ivr_end + queued
    abandon_at = start + _seconds(record, "abandonSeconds", cid)
    if abandoned and queued == 0 and abandon_at > ivr_end and _has_skill(record):
        queue_end = abandon_at  # abandoned in queue: the wait lasted until the abandon
    agent_end = queue_end + handled
    total = _seconds(record, "totalDurationSeconds", cid)
    post = _seconds(record, "postQueueSeconds", cid)
    end = start + total if total else max(agent_end + post, abandon_at)
    return Phases(start, end, ivr_end, queue_end, agent_end)


def _has_skill(record: Mapping[str, Any]) -> bool:
    return get(record, "skillName") is not None or _id(get(record, "skillId")) is not None


def _has_agent(record: Mapping[str, Any], phases: Phases) -> bool:
    return _id(get(record, "agentId")) not in (None, "0") and phases.agent_end > phases.queue_end


def _transfer_indicator(record: Mapping[str, Any]) -> str | None:
    name = get(record, "transferIndicatorName")
    return str(name) if isinstance(name, str) and name.strip().lower() not in NOT_TRANSFERS else None


def _spans(record: Mapping[str, Any], options: Mapping[str, str]) -> list[SpanDraft]:
    cid = _id(require(record, "contactId", "CXone contact"))
    if cid is None:
        raise BadPayload("CXone contact: field 'contactId' is not an ID")
    zone = times.zone_option(options)
    start = _time(require(record, "contactStart", f"contact {cid}"), "contactStart", zone)
    updated = get(record, "lastUpdateTime")
    version = _time(updated, "lastUpdateTime", zone) if updated is not None else None
    abandoned = _flag(get(record, "abandoned")) or _seconds(record, "abandonSeconds", cid) > 0
    phases = _phases(record, cid, start, abandoned)
    outbound = _flag(get(record, "isOutbound"))
    direction = None if get(record, "isOutbound") is None else "outbound" if outbound else "inbound"
    has_agent = _has_agent(record, phases)
    has_queue = phases.queue_end > phases.ivr_end or (_has_skill(record) and not outbound)
    transfer = _transfer_indicator(record)

    def draft(key: str, span_type: str, begin: int, end: int, attributes: dict[str, Any], **kwargs: Any) -> SpanDraft:
        parent = kwargs.pop("parent_key", "contact")
        synthesized = {semconv.CX_SPAN_SYNTHESIZED: True} if parent is not None else {}
        return SpanDraft(PLATFORM, cid, key, kwargs.pop("name", f"{span_type} {PLATFORM}"), span_type, begin,
                         max(end, begin), {**attributes, **synthesized}, parent_key=parent, record_version=version,
                         **kwargs)  # fmt: skip

    spans = [_root(record, cid, phases, direction, options, draft)]
    if phases.ivr_end > phases.start:
        outcome = ("routed" if has_queue or has_agent else "abandoned" if abandoned
                   else "handoff" if transfer else "self_served")  # fmt: skip
        spans.append(draft("ivr", "ivr", phases.start, phases.ivr_end, {semconv.CX_IVR_OUTCOME: outcome}))
    if has_queue:
        reason = ("answered" if has_agent else "abandoned" if abandoned
                  else "transferred" if transfer else None)  # fmt: skip
        spans.append(draft("queue", "queue", phases.ivr_end, phases.queue_end, {
            semconv.CX_QUEUE_NAME: get(record, "skillName") or _id(get(record, "skillId")),
            semconv.CX_QUEUE_ID: _id(get(record, "skillId")),
            semconv.CX_QUEUE_EXIT_REASON: reason,
        }))  # fmt: skip
    if has_agent:
        spans.append(draft("agent", "agent_interaction", phases.queue_end, phases.agent_end, _agent(record, cid)))
    if transfer:
        at = phases.agent_end if has_agent else phases.queue_end
        lowered = transfer.lower()
        mode = "warm" if any(w in lowered for w in ("warm", "consult", "conference")) else (
            "cold" if any(w in lowered for w in ("blind", "cold")) else None)  # fmt: skip
        from_type = "human" if has_agent else "ivr"
        spans.append(draft("handoff", "handoff", at, at, {
            semconv.CX_HANDOFF_FROM_PLATFORM: PLATFORM,
            semconv.CX_HANDOFF_FROM_TYPE: from_type,
            semconv.CX_HANDOFF_MODE: mode,
            NICE_CXONE_TRANSFER_INDICATOR: transfer,
        }, name=f"handoff {from_type}", kind="producer"))  # fmt: skip
    return spans


def _ms(record: Mapping[str, Any], name: str, cid: str) -> int | None:
    """A seconds field in ms, None when absent (absent is not zero on a span)."""
    return _seconds(record, name, cid) // 1_000_000 if get(record, name) not in (None, "") else None


def _count(record: Mapping[str, Any], name: str, cid: str) -> int | None:
    value = get(record, name)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not str(value).strip().isdigit():
        raise BadPayload(f"contact {cid}: field {name!r} is not a count")
    return int(str(value).strip())


def _agent(record: Mapping[str, Any], cid: str) -> dict[str, Any]:
    name = " ".join(str(get(record, n)) for n in ("firstName", "lastName") if get(record, n)) or None
    return {
        semconv.CX_AGENT_ID: _id(get(record, "agentId")),
        semconv.CX_AGENT_NAME: name,
        semconv.CX_AGENT_TYPE: "human",
        semconv.CX_AGENT_SKILL: get(record, "skillName"),
        semconv.CX_AGENT_HOLD_COUNT: _count(record, "holdCount", cid),
        semconv.CX_AGENT_HOLD_DURATION_MS: _ms(record, "holdSeconds", cid),
        semconv.CX_AGENT_ACW_DURATION_MS: _ms(record, "ACWSeconds", cid),
    }


def _root(record: Mapping[str, Any], cid: str, phases: Phases, direction: str | None, options: Mapping[str, str],
          draft: Callable[..., SpanDraft]) -> SpanDraft:  # fmt: skip
    country = options.get("country_code", "").lstrip("+") or None
    media = str(get(record, "mediaTypeName", "")).strip().lower()
    channel = CHANNELS.get(media)
    from_number = phone_number(get(record, "fromAddr"), country)
    to_number = phone_number(get(record, "toAddr"), country)
    outbound = direction == "outbound"
    master = _id(get(record, "masterContactId"))
    end_reason = str(get(record, "endReason") or get(record, "disconnectReason") or "")
    reason = _disconnect_reason(end_reason)
    failed = reason == "telecom_problem"
    attributes = {
        semconv.CX_CHANNEL: channel,
        semconv.CX_DIRECTION: direction,
        semconv.CX_TELEPHONY_ANI_NUMBER: to_number if outbound else from_number,
        semconv.CX_TELEPHONY_DNIS_NUMBER: to_number,
        semconv.CX_INTERACTION_PARENT_ID: master if master != cid else None,
        semconv.CX_DISCONNECT_REASON: reason,
        NICE_CXONE_END_REASON: end_reason or None,
        semconv.ERROR_TYPE: "telecom_problem" if failed else None,
    }
    span_type = "telephony" if channel in (None, "voice") else None
    return draft("contact", span_type, phases.start, phases.end, attributes, parent_key=None,
                 name=f"{span_type or 'contact'} {PLATFORM}", kind="client" if outbound else "server",
                 status="error" if failed else "unset", status_message="telecom_problem" if failed else "")  # fmt: skip


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """Spans of every contact in the payload (all parsed before any is returned)."""
    spans: list[SpanDraft] = []
    for record in contacts(native):
        spans += _spans(record, options)
    return Parsed(spans)


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    verify=None,
    description="NICE CXone completed contact records (one, an array, or {completedContacts: [...]})",
)
