"""Asterisk CDRs → one ``telephony asterisk`` span per CDR (the generic SIP fallback).

Payloads:

- CSV (``text/csv``): ``cdr_custom`` / ``cdr_adaptive_odbc``-style files with a header row naming
  the CDR fields, or ``cdr_csv``'s ``Master.csv``, which has no header: its columns are fixed by
  ``cdr.conf`` and recognised by count (16 base fields ``accountcode … amaflags``, then
  ``uniqueid`` if ``loguniqueid``, ``userfield`` if ``loguserfield``, then ``peeraccount``,
  ``linkedid``, ``sequence`` if ``newcdrcolumns``). The endpoint reads CSV with a header row; a
  header-less file can only be told apart when its rows arrive as lists (see ``parse``).
- JSON: one CDR object, an array, or JSON lines, with the ``cdr_custom`` field names
  (``src``, ``dst``, ``uniqueid``, …) or the AMI ``Cdr`` event names (``Source``,
  ``Destination``, ``UniqueID``, ``StartTime``, …), any case.

Mapping: the span runs from ``start`` to ``end`` (``start`` + ``duration`` without an end);
``answer`` becomes an ``answered`` event. Times are ``YYYY-MM-DD HH:MM:SS`` in the PBX's local time
(``?tz=Europe/Berlin``; default UTC, as with ``usegmtime=yes``) or epoch seconds.
``disposition`` FAILED / CONGESTION is a system failure: status error, ``error.type`` =
the lower-cased disposition, ``cx.disconnect.reason`` = ``telecom_problem``; NO ANSWER and BUSY
are outcomes, kept in ``asterisk.disposition`` only. ``hangupcause`` (when a custom CDR logs
``${HANGUPCAUSE}``) → ``cx.telephony.q850_cause``.

Interaction: ``linkedid`` (shared by every channel of one call), else ``uniqueid``; span key
``cdr:<uniqueid>:<sequence>`` (``start`` and ``dstchannel`` replace the sequence when it is not
logged). CDRs are final, so the version is the end time: a re-posted CDR replaces itself.

Correlation keys: ``src`` → ``cx.telephony.ani.number``, ``dst`` → ``cx.telephony.dnis.number``,
``sip_call_id`` (``${CHANNEL(pjsip,call-id)}`` logged by a custom CDR) → ``sip.call_id``; custom
columns ``x-cx-journey-id`` / ``cx_journey_id`` → ``cx.journey.id``, ``traceparent`` →
``cx.journey.traceparent``, ``user-to-user`` / ``uui`` → ``cx.telephony.uui`` (without
``;encoding=…``); the argument of a
``Transfer`` / ``BlindTransfer`` last application → ``cx.transfer.target``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journeytrace import semconv
from journeytrace.receivers.platforms import payloads, times
from journeytrace.receivers.platforms.model import BadPayload, Event, Parsed, SpanDraft
from journeytrace.receivers.platforms.registry import CSV, JSON, NDJSON, Adapter

PLATFORM = "asterisk"

# Native CDR values kept beside our conventions.
ASTERISK_UNIQUEID = "asterisk.uniqueid"
ASTERISK_DISPOSITION = "asterisk.disposition"
ASTERISK_CHANNEL = "asterisk.channel"
ASTERISK_DSTCHANNEL = "asterisk.dstchannel"
ASTERISK_DCONTEXT = "asterisk.dcontext"
ASTERISK_LASTAPP = "asterisk.lastapp"
ASTERISK_ACCOUNTCODE = "asterisk.accountcode"
ASTERISK_USERFIELD = "asterisk.userfield"
ASTERISK_BILLSEC = "asterisk.billsec"

BASE_COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
    "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
)  # fmt: skip
"""``cdr_csv`` (Master.csv) columns, always written in this order."""
NEW_COLUMNS = ("peeraccount", "linkedid", "sequence")
MASTER_CSV_LAYOUTS = {
    len(BASE_COLUMNS): BASE_COLUMNS,
    len(BASE_COLUMNS) + 1: (*BASE_COLUMNS, "uniqueid"),
    len(BASE_COLUMNS) + 2: (*BASE_COLUMNS, "uniqueid", "userfield"),
    len(BASE_COLUMNS) + 3: (*BASE_COLUMNS, *NEW_COLUMNS),
    len(BASE_COLUMNS) + 4: (*BASE_COLUMNS, "uniqueid", *NEW_COLUMNS),
    len(BASE_COLUMNS) + 5: (*BASE_COLUMNS, "uniqueid", "userfield", *NEW_COLUMNS),
}
"""Master.csv layouts by column count (``loguniqueid`` / ``loguserfield`` / ``newcdrcolumns``)."""

_ALIASES = {
    # AMI ``Cdr`` event and other spellings → the cdr_custom field name.
    "source": "src", "destination": "dst", "destinationcontext": "dcontext", "callerid": "clid",
    "destinationchannel": "dstchannel", "lastapplication": "lastapp", "starttime": "start",
    "answertime": "answer", "endtime": "end", "billableseconds": "billsec", "sipcallid": "sip_call_id",
    "sip.call_id": "sip_call_id", "x-cx-journey-id": "cx_journey_id", "cx.journey.id": "cx_journey_id",
    "x-traceparent": "traceparent", "user-to-user": "uui", "x-user-to-user": "uui",
}  # fmt: skip
_HEADER_NAMES = frozenset({"uniqueid", "linkedid", "start", "starttime", "disposition", "src", "source"})
"""A CSV whose first row holds one of these is a header row, not a CDR."""

FAILED_DISPOSITIONS = frozenset({"FAILED", "CONGESTION"})
TRANSFER_APPS = frozenset({"transfer", "blindtransfer"})


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """One span per CDR in ``native``: JSON object(s), CSV rows as dicts (header row), or CSV
    rows as lists (header row optional; Master.csv order when absent)."""
    zone = times.zone_option(options)
    records = _records(native)
    return Parsed([_span(record, zone, n) for n, record in enumerate(records, 1)])



def _canonical(record: Mapping[Any, Any]) -> dict[str, Any]:
    """Field names lower-cased, AMI spellings mapped to the cdr_custom ones; blanks dropped."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key is None or value is None or (isinstance(value, str) and not value.strip()):
            continue
        name = str(key).strip().lower()
        name = _ALIASES.get(name.replace(" ", ""), _ALIASES.get(name, name))
        out.setdefault(name, value.strip() if isinstance(value, str) else value)
    return out


def _records(native: Any) -> list[dict[str, Any]]:
    rows = payloads.as_list(native)
    if rows and all(isinstance(row, list) for row in rows):
        return _from_lists(rows)
    records = []
    for n, row in enumerate(rows, 1):
        record = _canonical(payloads.require_object(row, f"Asterisk CDR {n}"))
        if not _HEADER_NAMES & record.keys() and not _HEADER_NAMES & {str(k).lower() for k in row}:
            raise BadPayload(
                f"Asterisk CDR {n}: no known CDR field names; a CSV without a header row "
                f"(Master.csv) needs one (e.g. {','.join(BASE_COLUMNS[:4])},…)"
            )
        records.append(record)
    return records


def _from_lists(rows: list[list[Any]]) -> list[dict[str, Any]]:
    """CSV rows as lists: a first row of field names is the header, else Master.csv order."""
    first = [str(cell).strip().lower() for cell in rows[0]]
    if _HEADER_NAMES & set(first):
        return [_canonical(dict(zip(first, row, strict=False))) for row in rows[1:] if any(row)]
    records = []
    for n, row in enumerate(rows, 1):
        if not any(row):
            continue
        layout = MASTER_CSV_LAYOUTS.get(len(row))
        if layout is None:
            raise BadPayload(
                f"Asterisk CDR {n}: Master.csv rows have {min(MASTER_CSV_LAYOUTS)}-{max(MASTER_CSV_LAYOUTS)} "
                f"columns, this one has {len(row)}"
            )
        records.append(_canonical(dict(zip(layout, row, strict=True))))
    return records


def _time(record: Mapping[str, Any], name: str, zone: str | None, n: int) -> int | None:
    value = record.get(name)
    if value is None:
        return None
    return times.any_time(value, field=f"Asterisk CDR {n}: {name}", zone=zone)


def _int(value: Any) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _span(record: dict[str, Any], zone: str | None, n: int) -> SpanDraft:
    uniqueid = record.get("uniqueid")
    if uniqueid is None:
        raise BadPayload(f"Asterisk CDR {n}: required field 'uniqueid' is missing")
    start = _time(record, "start", zone, n)
    if start is None:
        raise BadPayload(f"Asterisk CDR {n}: required field 'start' is missing")
    end = _time(record, "end", zone, n)
    if end is None:
        end = start + (_int(record.get("duration")) or 0) * 1_000_000_000
    answer = _time(record, "answer", zone, n)
    disposition = str(record.get("disposition", "")).upper() or None
    attributes: dict[str, Any] = {
        ASTERISK_UNIQUEID: str(uniqueid),
        ASTERISK_DISPOSITION: disposition,
        ASTERISK_CHANNEL: record.get("channel"),
        ASTERISK_DSTCHANNEL: record.get("dstchannel"),
        ASTERISK_DCONTEXT: record.get("dcontext"),
        ASTERISK_LASTAPP: record.get("lastapp"),
        ASTERISK_ACCOUNTCODE: record.get("accountcode"),
        ASTERISK_USERFIELD: record.get("userfield"),
        ASTERISK_BILLSEC: _int(record.get("billsec")),
        semconv.CX_CHANNEL: "voice",
        semconv.CX_TELEPHONY_ANI_NUMBER: _text(record.get("src")),
        semconv.CX_TELEPHONY_DNIS_NUMBER: _text(record.get("dst")),
        semconv.SIP_CALL_ID: _text(record.get("sip_call_id")),
        semconv.CX_JOURNEY_ID: _text(record.get("cx_journey_id")),
        semconv.CX_TRACEPARENT: _text(record.get("traceparent")),
        semconv.CX_TELEPHONY_UUI: str(record["uui"]).split(";", 1)[0] if "uui" in record else None,
        semconv.CX_TELEPHONY_Q850_CAUSE: _int(record.get("hangupcause")),
        semconv.CX_TRANSFER_TARGET: _transfer_target(record),
    }
    status, message = "unset", ""
    if disposition in FAILED_DISPOSITIONS:
        status, message = "error", f"call {disposition.lower()}"
        attributes[semconv.ERROR_TYPE] = disposition.lower()
        attributes[semconv.CX_DISCONNECT_REASON] = "telecom_problem"
    sequence = record.get("sequence")
    distinct = sequence if sequence is not None else f"{start}:{record.get('dstchannel', '')}"
    return SpanDraft(
        platform=PLATFORM,
        interaction_id=str(record.get("linkedid") or uniqueid),
        key=f"cdr:{uniqueid}:{distinct}",
        name="telephony asterisk",
        span_type="telephony",
        start_unix_nano=start,
        end_unix_nano=max(start, end),
        attributes={k: v for k, v in attributes.items() if v is not None},
        status=status,
        status_message=message,
        events=[Event("answered", answer)] if answer is not None else [],
        record_version=max(start, end),
        service_name=PLATFORM,
    )


def _transfer_target(record: Mapping[str, Any]) -> str | None:
    """Where a ``Transfer`` / ``BlindTransfer`` sent the call: its argument without the channel
    technology, ``sip:``, host or options (``PJSIP/+14155550199@carrier,…`` → ``+14155550199``)."""
    if str(record.get("lastapp", "")).lower() not in TRANSFER_APPS or record.get("lastdata") is None:
        return None
    target = str(record["lastdata"]).split(",")[0].rsplit("/", 1)[-1]
    target = target.removeprefix("sip:").removeprefix("tel:").split("@")[0].strip()
    return target or None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    csv_rows_as_lists=True,
    content_types=(CSV, JSON, NDJSON),
    description="Asterisk CDRs (Master.csv, cdr_custom CSV, JSON / AMI Cdr events): one telephony span per CDR",
)
