"""Declarative adapters: a YAML file maps a JSON webhook's fields to spans, for any platform
that has no native adapter module.

Most contact-center platforms post one flat JSON record per call (a call log row, a
``call_finished`` webhook). Mapping such a record needs no code: say where the interaction ID
and the times are, which spans to draw, and which fields become which attributes. The shipped
files in ``declarative/`` (Five9, Talkdesk) are loaded automatically; ``load_declarative_dir``
loads a user's own directory of them.

The YAML format is documented, with examples, in ``docs/adapters.md``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from journeytrace import semconv
from journeytrace.config import ConfigError
from journeytrace.phone import normalize
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.model import KIND, BadPayload, Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get
from journeytrace.receivers.platforms.registry import JSON, NDJSON, Adapter

SHIPPED_DIR = Path(__file__).with_name("declarative")
"""The YAML files shipped with journeytrace (package data)."""

TIME_FORMATS = ("iso8601", "rfc2822", "epoch_s", "epoch_ms", "epoch_ns", "auto")
DURATION_FORMATS = ("seconds", "ms", "hms", "days")
VALUE_TYPES = ("string", "int", "float", "bool", "duration_ms")
SPAN_TYPES = ("telephony", "ivr", "ai_conversation", "turn", "queue", "agent_interaction", "handoff")
SIGNATURE_SCHEMES = ("bearer", "hmac-sha256")
_PLATFORM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_HMS = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?")
_TRUE, _FALSE = ("true", "yes", "y", "1"), ("false", "no", "n", "0")
_DURATION_SCALE = {"seconds": 1_000_000_000, "ms": 1_000_000, "days": 86_400_000_000_000}
_EPOCH_UNIT = {"epoch_s": "s", "epoch_ms": "ms", "epoch_ns": "ns"}


# --- the parsed definition ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """One field, under any of several names (the first present wins)."""

    paths: tuple[str, ...]

    def find(self, record: Any) -> tuple[str, Any] | None:
        for path in self.paths:
            value = get(record, path)
            if value is not None and value != "":
                return path, value
        return None

    def require(self, record: Any) -> tuple[str, Any]:
        found = self.find(record)
        if found is None:
            raise BadPayload(f"required field {self.describe()} is missing")
        return found

    def describe(self) -> str:
        return " or ".join(repr(path) for path in self.paths)


@dataclass(frozen=True, slots=True)
class Condition:
    source: Source
    allowed: frozenset[str] | None
    excluded: frozenset[str]

    def holds(self, record: Any) -> bool:
        found = self.source.find(record)
        if found is None:
            return False
        text = _text(found[1])
        return (self.allowed is None or text in self.allowed) and text not in self.excluded


@dataclass(frozen=True, slots=True)
class FieldTime:
    source: Source
    format: str
    zone: str | None


@dataclass(frozen=True, slots=True)
class SpanTime:
    span: str
    edge: str


@dataclass(frozen=True, slots=True)
class Duration:
    source: Source
    format: str


@dataclass(frozen=True, slots=True)
class PhoneRule:
    country_code: str | None
    national_digits: int | None


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    name: str
    source: Source | None
    constant: Any = None
    mapping: Mapping[str, Any] | None = None
    default: Any = None
    phone: PhoneRule | None = None
    type: str | None = None
    duration_format: str | None = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class ErrorRule:
    source: Source
    values: frozenset[str]
    error_type: str | None


@dataclass(frozen=True, slots=True)
class SpanSpec:
    key: str
    name: str
    span_type: str
    parent: str | None
    kind: str
    start: tuple[FieldTime | SpanTime, ...]
    end: tuple[FieldTime | SpanTime, ...] | None
    duration: Duration | None
    when: tuple[Condition, ...]
    attributes: tuple[AttributeSpec, ...]
    error: ErrorRule | None


@dataclass(frozen=True, slots=True)
class Signature:
    scheme: str
    header: str
    encoding: str
    prefix: str


@dataclass(frozen=True, slots=True)
class Definition:
    platform: str
    file: Path
    description: str
    service_name: str | None
    records: tuple[str, ...] | None
    accept: tuple[Condition, ...]
    interaction: Source
    record_version: FieldTime | None
    spans: tuple[SpanSpec, ...]
    signature: Signature | None


# --- loading and validating -------------------------------------------------------------------


class _Loader:
    """Builds a ``Definition`` from one YAML document; every error names the file and the key."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"platform adapter file {self.file}: {where}: {problem}")

    def mapping(self, node: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(node, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(node).__name__}")
        for key in node:
            if key not in required and key not in optional:
                raise self.fail(f"{where}.{key}" if where else str(key),
                                f"unknown key (expected one of {', '.join(required + optional)})")  # fmt: skip
        for key in required:
            if node.get(key) is None:
                raise self.fail(f"{where}.{key}" if where else key, "required key is missing")
        return dict(node)

    def text(self, node: Any, where: str) -> str:
        if not isinstance(node, str) or not node.strip():
            raise self.fail(where, f"expected a non-empty string, got {node!r}")
        return node

    def choice(self, node: Any, where: str, allowed: tuple[str, ...]) -> str:
        if node not in allowed:
            raise self.fail(where, f"{node!r} is not one of {', '.join(allowed)}")
        return str(node)

    def source(self, node: Any, where: str) -> Source:
        paths = node if isinstance(node, list) else [node]
        if not paths:
            raise self.fail(where, "expected a path or a non-empty list of paths")
        return Source(tuple(self.text(path, where) for path in paths))

    def values(self, node: Any, where: str) -> frozenset[str]:
        if not isinstance(node, list) or not all(isinstance(v, str | int | float | bool) for v in node):
            raise self.fail(where, "expected a list of values")
        return frozenset(_text(v) for v in node)

    def zone(self, node: Any, where: str) -> str | None:
        if node is None:
            return None
        try:
            ZoneInfo(self.text(node, where))
        except (ValueError, KeyError, OSError):
            raise self.fail(where, f"unknown time zone {node!r}") from None
        return str(node)

    def condition(self, node: Any, where: str) -> Condition:
        if not isinstance(node, Mapping):
            return Condition(self.source(node, where), None, frozenset())
        fields = self.mapping(node, where, ("path",), ("in", "not_in"))
        allowed = self.values(fields["in"], f"{where}.in") if "in" in fields else None
        excluded = self.values(fields["not_in"], f"{where}.not_in") if "not_in" in fields else frozenset()
        return Condition(self.source(fields["path"], f"{where}.path"), allowed, excluded)

    def conditions(self, node: Any, where: str) -> tuple[Condition, ...]:
        if node is None:
            return ()
        items = node if isinstance(node, list) else [node]
        return tuple(self.condition(item, f"{where}[{i}]") for i, item in enumerate(items))

    def field_time(self, node: Any, where: str, formats: tuple[str, ...] = TIME_FORMATS) -> FieldTime:
        fields = self.mapping(node, where, ("path", "format"), ("zone",))
        return FieldTime(
            self.source(fields["path"], f"{where}.path"),
            self.choice(fields["format"], f"{where}.format", formats),
            self.zone(fields.get("zone"), f"{where}.zone"),
        )

    def time(self, node: Any, where: str, earlier: list[str]) -> tuple[FieldTime | SpanTime, ...]:
        items = node if isinstance(node, list) else [node]
        if not items:
            raise self.fail(where, "expected a time or a non-empty list of times")
        alternatives: list[FieldTime | SpanTime] = []
        for i, item in enumerate(items):
            at = f"{where}[{i}]" if isinstance(node, list) else where
            if isinstance(item, Mapping) and "span" in item:
                fields = self.mapping(item, at, ("span", "edge"), ())
                if fields["span"] not in earlier:
                    raise self.fail(f"{at}.span", f"{fields['span']!r} is not a span declared before this one")
                edge = self.choice(fields["edge"], f"{at}.edge", ("start", "end"))
                alternatives.append(SpanTime(fields["span"], edge))
            else:
                alternatives.append(self.field_time(item, at))
        return tuple(alternatives)

    def phone(self, node: Any, where: str) -> PhoneRule | None:
        if node is False or node is None:
            return None
        if node is True:
            return PhoneRule(None, None)
        fields = self.mapping(node, where, ("country_code", "national_digits"), ())
        code = str(fields["country_code"]).lstrip("+")
        digits = fields["national_digits"]
        if not code.isdigit() or not isinstance(digits, int) or isinstance(digits, bool) or not 4 <= digits <= 14:
            raise self.fail(where, "country_code must be digits and national_digits an integer 4-14")
        return PhoneRule(code, digits)

    def attribute(self, name: Any, node: Any, where: str) -> AttributeSpec:
        name = self.text(name, where)
        if not isinstance(node, Mapping):
            return AttributeSpec(name, self.source(node, where))
        if "value" in node:
            fields = self.mapping(node, where, ("value",), ())
            return AttributeSpec(name, None, constant=fields["value"])
        fields = self.mapping(node, where, ("path",), ("map", "default", "phone", "type", "format", "required"))
        mapping = fields.get("map")
        if mapping is not None and not isinstance(mapping, Mapping):
            raise self.fail(f"{where}.map", "expected a mapping of field value to attribute value")
        kind = self.choice(fields["type"], f"{where}.type", VALUE_TYPES) if "type" in fields else None
        duration_format = None
        if kind == "duration_ms":
            duration_format = self.choice(fields.get("format"), f"{where}.format", DURATION_FORMATS)
        elif "format" in fields:
            raise self.fail(f"{where}.format", "only used with type: duration_ms")
        phone = self.phone(fields.get("phone"), f"{where}.phone")
        if sum(x is not None for x in (mapping, phone, kind)) > 1:
            raise self.fail(where, "use at most one of map, phone and type")
        return AttributeSpec(
            name,
            self.source(fields["path"], f"{where}.path"),
            mapping={_text(k): v for k, v in mapping.items()} if mapping is not None else None,
            default=fields.get("default"),
            phone=phone,
            type=kind,
            duration_format=duration_format,
            required=bool(fields.get("required", False)),
        )

    def span(self, node: Any, where: str, platform: str, earlier: list[str], unconditional: set[str]) -> SpanSpec:
        fields = self.mapping(
            node, where, ("key", "type", "start"),
            ("name", "parent", "kind", "end", "duration", "when", "attributes", "error"),
        )  # fmt: skip
        key = self.text(fields["key"], f"{where}.key")
        if key in earlier:
            raise self.fail(f"{where}.key", f"{key!r} is used by another span")
        span_type = self.choice(fields["type"], f"{where}.type", SPAN_TYPES)
        parent = fields.get("parent")
        if parent is not None and parent not in unconditional:
            raise self.fail(f"{where}.parent", f"{parent!r} is not a span without `when` declared before this one")
        if ("end" in fields) == ("duration" in fields):
            raise self.fail(where, "give exactly one of end and duration")
        duration = None
        if "duration" in fields:
            d = self.mapping(fields["duration"], f"{where}.duration", ("path", "format"), ())
            duration = Duration(self.source(d["path"], f"{where}.duration.path"),
                                self.choice(d["format"], f"{where}.duration.format", DURATION_FORMATS))  # fmt: skip
        attributes = fields.get("attributes") or {}
        if not isinstance(attributes, Mapping):
            raise self.fail(f"{where}.attributes", "expected a mapping of attribute name to source")
        error = None
        if "error" in fields:
            e = self.mapping(fields["error"], f"{where}.error", ("path", "values"), ("type",))
            error = ErrorRule(
                self.source(e["path"], f"{where}.error.path"),
                self.values(e["values"], f"{where}.error.values"),
                self.text(e["type"], f"{where}.error.type") if "type" in e else None,
            )
        return SpanSpec(
            key=key,
            name=self.text(fields["name"], f"{where}.name") if "name" in fields else f"{span_type} {platform}",
            span_type=span_type,
            parent=parent,
            kind=self.choice(fields.get("kind", "internal"), f"{where}.kind", tuple(KIND)),
            start=self.time(fields["start"], f"{where}.start", earlier),
            end=self.time(fields["end"], f"{where}.end", earlier) if "end" in fields else None,
            duration=duration,
            when=self.conditions(fields.get("when"), f"{where}.when"),
            attributes=tuple(self.attribute(k, v, f"{where}.attributes.{k}") for k, v in attributes.items()),
            error=error,
        )

    def signature(self, node: Any) -> Signature | None:
        if node is None:
            return None
        fields = self.mapping(node, "signature", ("scheme",), ("header", "encoding", "prefix"))
        scheme = self.choice(fields["scheme"], "signature.scheme", SIGNATURE_SCHEMES)
        if scheme == "hmac-sha256" and "header" not in fields:
            raise self.fail("signature.header", "required for hmac-sha256")
        return Signature(
            scheme,
            self.text(fields.get("header", "Authorization"), "signature.header"),
            self.choice(fields.get("encoding", "hex"), "signature.encoding", ("hex", "base64")),
            str(fields.get("prefix", "")),
        )

    def definition(self, document: Any) -> Definition:
        fields = self.mapping(
            document, "", ("platform", "interaction_id", "spans"),
            ("description", "service_name", "records", "accept", "record_version", "signature"),
        )  # fmt: skip
        platform = fields["platform"]
        if not isinstance(platform, str) or not _PLATFORM_NAME.fullmatch(platform):
            raise self.fail("platform", f"{platform!r} must be lowercase letters, digits and underscores")
        if not isinstance(fields["spans"], list) or not fields["spans"]:
            raise self.fail("spans", "expected a non-empty list of spans")
        spans: list[SpanSpec] = []
        unconditional: set[str] = set()
        for i, node in enumerate(fields["spans"]):
            spec = self.span(node, f"spans[{i}]", platform, [s.key for s in spans], unconditional)
            spans.append(spec)
            if not spec.when:
                unconditional.add(spec.key)
        version = fields.get("record_version")
        version_formats = (*TIME_FORMATS, "int")
        return Definition(
            platform=platform,
            file=self.file,
            description=str(fields.get("description") or f"{platform} (declarative: {self.file.name})"),
            service_name=self.text(fields["service_name"], "service_name") if "service_name" in fields else None,
            records=self.source(fields["records"], "records").paths if "records" in fields else None,
            accept=self.conditions(fields.get("accept"), "accept"),
            interaction=self.source(fields["interaction_id"], "interaction_id"),
            record_version=None if version is None else self.field_time(version, "record_version", version_formats),
            spans=tuple(spans),
            signature=self.signature(fields.get("signature")),
        )


def load_definition(path: Path) -> Definition:
    """The validated definition in ``path``; any problem is a ``ConfigError`` naming the file and key."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"platform adapter file {path}: {exc}") from None
    return _Loader(path).definition(document)


def to_adapter(definition: Definition) -> Adapter:
    verify = partial(_verify, definition.signature) if definition.signature is not None else None
    return Adapter(
        name=definition.platform,
        parse=partial(parse, definition),
        content_types=(JSON, NDJSON),
        verify=verify,
        description=definition.description,
    )


def load_declarative(path: Path) -> Adapter:
    """The adapter one YAML file describes."""
    return to_adapter(load_definition(path))


def load_declarative_dir(path: Path) -> dict[str, Adapter]:
    """Every adapter described by ``*.yaml`` / ``*.yml`` in ``path``, by name; two files naming the
    same platform are an error."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"platform adapter directory {path}: not a directory")
    found: dict[str, tuple[Path, Adapter]] = {}
    for file in sorted([*path.glob("*.yaml"), *path.glob("*.yml")]):
        adapter = load_declarative(file)
        if adapter.name in found:
            raise ConfigError(f"platform adapter file {file}: platform {adapter.name!r} is already defined "
                              f"by {found[adapter.name][0]}")  # fmt: skip
        found[adapter.name] = (file, adapter)
    return {name: adapter for name, (_, adapter) in sorted(found.items())}


def combine(native: Mapping[str, Adapter], path: Path) -> dict[str, Adapter]:
    """``native`` plus the declarative adapters in ``path``, sorted by name; a declarative
    adapter may not take a native adapter's name."""
    declarative = load_declarative_dir(path)
    for name in declarative:
        if name in native:
            raise ConfigError(f"platform adapter directory {path}: {name!r} would shadow the native {name} adapter")
    return dict(sorted({**native, **declarative}.items()))


# --- parsing a payload ------------------------------------------------------------------------


def parse(definition: Definition, native: Any, options: Mapping[str, str]) -> Parsed:
    """Every record's spans (records failing ``accept`` are counted as ignored); one bad record
    rejects the whole payload, so nothing is half-stored."""
    zone = times.zone_option(options)
    records = _records(definition, native)
    spans: list[SpanDraft] = []
    ignored = 0
    for index, record in enumerate(records):
        where = f"{definition.platform} record {index}" if len(records) > 1 else definition.platform
        if not isinstance(record, Mapping):
            raise BadPayload(f"{where}: must be a JSON object, got {type(record).__name__}")
        if not all(condition.holds(record) for condition in definition.accept):
            ignored += 1
            continue
        try:
            spans += _record_spans(definition, record, zone)
        except BadPayload as exc:
            raise BadPayload(f"{where}: {exc}") from None
    return Parsed(spans, ignored)


def _records(definition: Definition, native: Any) -> list[Any]:
    if definition.records is None:
        return as_list(native)
    for path in definition.records:
        if path == ".":
            return as_list(native)
        value = get(native, path)
        if value is not None:
            return as_list(value)
    raise BadPayload(f"{definition.platform}: required field {Source(definition.records).describe()} is missing")


def _record_spans(definition: Definition, record: Mapping[str, Any], zone: str | None) -> list[SpanDraft]:
    interaction_id = str(definition.interaction.require(record)[1])
    version = _version(definition.record_version, record, zone)
    drawn: dict[str, tuple[int, int]] = {}
    drafts = []
    for spec in definition.spans:
        if not all(condition.holds(record) for condition in spec.when):
            continue
        start = _time(spec.start, record, drawn, zone)
        if spec.end is not None:
            end = _time(spec.end, record, drawn, zone)
        else:
            assert spec.duration is not None
            path, value = spec.duration.source.require(record)
            end = start + _duration_ns(value, spec.duration.format, path)
        drawn[spec.key] = (start, end)
        attributes = {}
        for attribute in spec.attributes:
            value = _attribute(attribute, record)
            if value is not None:
                attributes[attribute.name] = value
        status, error_type = _status(spec.error, record)
        if error_type is not None:
            attributes[semconv.ERROR_TYPE] = error_type
        drafts.append(SpanDraft(
            platform=definition.platform, interaction_id=interaction_id, key=spec.key, name=spec.name,
            span_type=spec.span_type, start_unix_nano=start, end_unix_nano=end, attributes=attributes,
            parent_key=spec.parent, kind=spec.kind, status=status, status_message=error_type or "",
            record_version=version, service_name=definition.service_name,
        ))  # fmt: skip
    return drafts


def _time(
    alternatives: tuple[FieldTime | SpanTime, ...], record: Any, drawn: Mapping[str, tuple[int, int]], zone: str | None
) -> int:
    """The first available alternative, in Unix ns."""
    tried = []
    for alternative in alternatives:
        if isinstance(alternative, SpanTime):
            if alternative.span in drawn:
                start, end = drawn[alternative.span]
                return start if alternative.edge == "start" else end
            continue
        found = alternative.source.find(record)
        if found is None:
            tried.append(alternative.source.describe())
            continue
        return _field_time(found[1], alternative.format, zone or alternative.zone, found[0])
    if tried:
        raise BadPayload(f"required field {' or '.join(tried)} is missing")
    spans = " or ".join(repr(a.span) for a in alternatives if isinstance(a, SpanTime))
    raise BadPayload(f"a span time comes from span {spans}, which this record does not draw")


def _field_time(value: Any, fmt: str, zone: str | None, path: str) -> int:
    if fmt in _EPOCH_UNIT:
        return times.epoch(value, unit=_EPOCH_UNIT[fmt], field=path)
    if fmt == "auto":
        if isinstance(value, str) and value.strip()[:1].isalpha():
            return _rfc2822(value, zone, path)
        return times.any_time(value, field=path, zone=zone)
    if not isinstance(value, str):
        raise BadPayload(f"{path} {str(value)[:40]!r} is not an {fmt} timestamp")
    if fmt == "iso8601":
        return times.iso8601(value, field=path, zone=zone)
    return _rfc2822(value, zone, path)


def _rfc2822(value: str, zone: str | None, path: str) -> int:
    """Like ``times.rfc2822``, but a date without an offset is in ``zone`` (reports often are)."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise BadPayload(f"{path} {str(value)[:40]!r} is not an RFC 2822 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
    return int(parsed.timestamp()) * 1_000_000_000


def _duration_ns(value: Any, fmt: str, path: str) -> int:
    if fmt == "hms":
        match = _HMS.fullmatch(str(value).strip())
        if match is None:
            raise BadPayload(f"{path} {str(value)[:40]!r} is not a H:MM:SS duration")
        hours, minutes, seconds, fraction = match.groups()
        whole = (int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)
        return whole * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))
    number = _number(value, path)
    if number < 0:
        raise BadPayload(f"{path} {value!r} is a negative duration")
    scale = _DURATION_SCALE[fmt]
    return number * scale if isinstance(number, int) else round(number * scale)


def _number(value: Any, path: str) -> int | float:
    if isinstance(value, bool):
        raise BadPayload(f"{path} {value!r} is not a number")
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        raise BadPayload(f"{path} {text[:40]!r} is not a number") from None


def _version(spec: FieldTime | None, record: Any, zone: str | None) -> int | None:
    if spec is None:
        return None
    found = spec.source.find(record)
    if found is None:
        return None
    path, value = found
    if spec.format == "int":
        number = _number(value, path)
        if not isinstance(number, int):
            raise BadPayload(f"{path} {value!r} is not an integer version")
        return number
    return _field_time(value, spec.format, zone or spec.zone, path)


def _attribute(spec: AttributeSpec, record: Any) -> Any:
    if spec.source is None:
        return spec.constant
    found = spec.source.find(record)
    if found is None:
        if spec.required:
            raise BadPayload(f"required field {spec.source.describe()} is missing")
        return spec.default
    path, value = found
    if spec.mapping is not None:
        return spec.mapping.get(_text(value), spec.default)
    if spec.phone is not None:
        return _phone(value, spec.phone)
    return _convert(value, spec, path)


def _convert(value: Any, spec: AttributeSpec, path: str) -> Any:
    if spec.type is None:
        return value
    if spec.type == "string":
        return _text(value) if isinstance(value, bool) else str(value)
    if spec.type == "bool":
        text = _text(value)
        if text not in _TRUE + _FALSE:
            raise BadPayload(f"{path} {str(value)[:40]!r} is not a boolean")
        return text in _TRUE
    if spec.type == "duration_ms":
        assert spec.duration_format is not None
        return _duration_ns(value, spec.duration_format, path) // 1_000_000
    number = _number(value, path)
    if spec.type == "float":
        return float(number)
    if isinstance(number, float) and not number.is_integer():
        raise BadPayload(f"{path} {value!r} is not an integer")
    return int(number)


def _phone(value: Any, rule: PhoneRule) -> str | None:
    """E.164, or None for withheld and invalid numbers (never logged: PII)."""
    number = normalize(str(value))
    if number is None or number.startswith("+") or rule.country_code is None:
        return number
    if len(number) == rule.national_digits:
        return f"+{rule.country_code}{number}"
    if len(number) == len(rule.country_code) + (rule.national_digits or 0) and number.startswith(rule.country_code):
        return f"+{number}"
    return number


def _status(rule: ErrorRule | None, record: Any) -> tuple[str, str | None]:
    if rule is None:
        return "unset", None
    found = rule.source.find(record)
    if found is None or _text(found[1]) not in rule.values:
        return "unset", None
    return "error", rule.error_type or str(found[1])


def _text(value: Any) -> str:
    """A field value as comparable text: lowercase, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


# --- signatures -------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _verify(signature: Signature, headers: Mapping[str, str], body: bytes, url: str, secret: str) -> str | None:
    """None if the request carries the secret (bearer) or the body's HMAC; else why not."""
    presented = _header(headers, signature.header)
    if not presented:
        return f"missing {signature.header} header"
    presented = presented.strip()
    if signature.scheme == "bearer":
        if presented[:7].lower() == "bearer ":
            presented = presented[7:].strip()
        return None if hmac.compare_digest(presented.encode(), secret.encode()) else "wrong token"
    if signature.prefix:
        if not presented.startswith(signature.prefix):
            return f"{signature.header} does not start with {signature.prefix!r}"
        presented = presented[len(signature.prefix) :]
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if signature.encoding == "hex":
        expected, presented = digest.hex(), presented.lower()
    else:
        expected = base64.b64encode(digest).decode()
    return None if hmac.compare_digest(presented.encode(), expected.encode()) else "signature does not match the body"
