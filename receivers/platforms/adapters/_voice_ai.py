"""What the voice-AI adapters (PolyAI, Vapi, Bland, Retell) share.

Their payloads differ, but what becomes of them is the same: an ``ai_conversation`` root span,
``turn`` children, an optional ``handoff`` span, and the same few decisions — how a phone number
is written, which SIP headers or state variables carry another platform's ID, how a native end
reason becomes ``cx.disconnect.reason`` / ``cx.ai.outcome``. Keeping them here means the four
platforms make those decisions identically. No module-level ``ADAPTER``: the registry skips it.

Transcript text is PII and large, so turn spans record character counts only; the text itself is
added only when the request asks for it with ``?include_text=true``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from journeytrace import semconv
from journeytrace.phone import normalize
from journeytrace.receivers.platforms.model import SpanDraft

ROOT_KEY = "conversation"
MS = 1_000_000
S = 1_000_000_000
VERSION_RANK = 10**13
"""``record_version = rank * VERSION_RANK + update time in ms``: a later event type always wins,
and within one type the later update (epoch ms < 10^13 until the year 2286)."""

TURN_LATENCIES = {
    "e2e": semconv.CX_TURN_LATENCY_E2E_MS,
    "endpointing": semconv.CX_TURN_LATENCY_ENDPOINTING_MS,
    "stt": semconv.CX_TURN_LATENCY_STT_MS,
    "tts": semconv.CX_TURN_LATENCY_TTS_TTFB_MS,
    "llm": semconv.CX_TURN_LATENCY_LLM_MS,
}

# Correlation keys by SIP header name (lower case) — cx-platforms.md §1.1.
_HEADER_KEYS = {
    "call-id": semconv.SIP_CALL_ID,
    "user-to-user": semconv.CX_TELEPHONY_UUI,
    "x-user-to-user": semconv.CX_TELEPHONY_UUI,
    "traceparent": semconv.CX_TRACEPARENT,
    "x-traceparent": semconv.CX_TRACEPARENT,
    "x-cx-journey-id": semconv.CX_JOURNEY_ID,
}
_HEADER_PEERS = {
    "x-twilio-callsid": "twilio",
    "x-amzn-connectcontactid": "amazon_connect",
    "x-inin-cnv": "genesys_cloud",
}
# The same keys as state / metadata variable names, the way a flow copies an inbound header into
# a variable (cx-platforms.md §1.2, §1.4). Names compare in lower case with ``-`` read as ``_`` and
# a leading ``x_`` dropped, so ``X-User-to-User`` and ``user_to_user`` are one name. (A bare
# ``call_id`` is not a SIP Call-ID: platforms use it for their own ID.)
_VARIABLE_KEYS = {
    "sip_call_id": semconv.SIP_CALL_ID,
    "uui": semconv.CX_TELEPHONY_UUI,
    "user_to_user": semconv.CX_TELEPHONY_UUI,
    "traceparent": semconv.CX_TRACEPARENT,
    "cx_journey_id": semconv.CX_JOURNEY_ID,
    "journey_id": semconv.CX_JOURNEY_ID,
}
_VARIABLE_PEERS = {
    "twilio_call_sid": "twilio",
    "twilio_callsid": "twilio",
    "connect_contact_id": "amazon_connect",
    "amzn_connectcontactid": "amazon_connect",
    "genesys_conversation_id": "genesys_cloud",
    "inin_cnv": "genesys_cloud",
}


@dataclass(frozen=True, slots=True)
class Ending:
    """How a conversation ended, in our vocabulary (semantic-conventions.md, outcome signals)."""

    disconnect: str | None = None
    """``cx.disconnect.reason``."""
    initiator: str | None = None
    """``cx.disconnect.initiator``: customer, agent, ai, system, network, third_party."""
    outcome: str | None = None
    """``cx.ai.outcome``: resolved, handoff, abandoned, failed; None when the call never connected."""
    error_type: str | None = None
    """Set only for system failures: the root span's status becomes error with this ``error.type``."""


CUSTOMER_HANGUP = Ending("customer_disconnect", "customer", "resolved")
AI_HANGUP = Ending("ai_disconnect", "ai", "resolved")
AI_TRANSFER = Ending("ai_disconnect", "ai", "handoff")
NOT_CONNECTED = Ending("other", "customer")


def settle(ending: Ending, *, customer_turns: int | None, unsuccessful: bool = False,
           transferred: bool = False) -> Ending:  # fmt: skip
    """The final outcome: a transfer makes it ``handoff`` (unless the call failed); a customer
    hang-up counts as ``abandoned`` when the customer never spoke or the platform's own analysis
    calls the call unsuccessful (a hang-up alone does not say whether the customer got what they
    called for)."""
    if transferred and ending.error_type is None:
        return Ending(ending.disconnect, ending.initiator, "handoff", ending.error_type)
    if ending.outcome == "resolved" and ending.initiator == "customer" and (customer_turns == 0 or unsuccessful):
        return Ending(ending.disconnect, ending.initiator, "abandoned", ending.error_type)
    return ending


def ending_attributes(ending: Ending) -> dict[str, Any]:
    return {
        semconv.CX_DISCONNECT_REASON: ending.disconnect,
        semconv.CX_DISCONNECT_INITIATOR: ending.initiator,
        semconv.CX_AI_OUTCOME: ending.outcome,
        semconv.ERROR_TYPE: ending.error_type,
    }


def phone(value: Any) -> str | None:
    """A phone number as ``+digits`` (``tel:``/``sip:`` user parts too), or None if it is not one
    (anonymous, withheld, a SIP name), so it never links unrelated callers."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for scheme in ("tel:", "sip:", "sips:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme):]
    return normalize(text.split("@", 1)[0].split(";", 1)[0])


def transfer_target(value: Any) -> str | None:
    """Where a transfer went: the E.164 number when it is one (the correlator matches it against
    the next leg's dialled number), else the value as sent (SIP URI, queue or assistant name)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return phone(value) or value.strip()


def with_plus(number: str | None, alternatives: list[Any]) -> str | None:
    """``number`` written with its country code when one of ``alternatives`` is the same number
    with a ``+`` (Bland's ``to`` may lack it while its ``variables.to`` has it)."""
    if number is None or number.startswith("+"):
        return number
    for alternative in alternatives:
        candidate = phone(alternative)
        if candidate and candidate.startswith("+") and candidate.endswith(number) and len(number) >= 7:
            return candidate
    return number


def _variable_name(name: str) -> str:
    canonical = name.lower().replace("-", "_")
    return canonical.removeprefix("x_")


def correlation_keys(headers: Any = None, variables: Any = None) -> dict[str, str]:
    """Correlation attributes found in SIP headers and in state / metadata variables.

    A span has one ``cx.peer.*`` pair, so when several foreign IDs are present the first found
    wins (headers before variables, in table order)."""
    found: dict[str, str] = {}
    for source, keys, peers, canonical in (
        (headers, _HEADER_KEYS, _HEADER_PEERS, lambda k: k.lower()),
        (variables, _VARIABLE_KEYS, _VARIABLE_PEERS, _variable_name),
    ):
        if not isinstance(source, Mapping):
            continue
        by_name = {canonical(k): v for k, v in source.items()
                   if isinstance(k, str) and isinstance(v, str) and v.strip()}  # fmt: skip
        for name, attribute in keys.items():
            if name in by_name and attribute not in found:
                value = by_name[name].strip()
                found[attribute] = value.split(";", 1)[0].strip() if attribute == semconv.CX_TELEPHONY_UUI else value
        for name, platform in peers.items():
            if name in by_name and semconv.CX_PEER_PLATFORM_NAME not in found:
                found[semconv.CX_PEER_PLATFORM_NAME] = platform
                found[semconv.CX_PEER_INTERACTION_ID] = by_name[name].strip()
    return found


def peer(platform: str | None, interaction_id: Any) -> dict[str, str]:
    """A foreign interaction ID as ``cx.peer.*`` attributes (empty when either part is missing)."""
    if not platform or not isinstance(interaction_id, str) or not interaction_id.strip():
        return {}
    return {semconv.CX_PEER_PLATFORM_NAME: platform, semconv.CX_PEER_INTERACTION_ID: interaction_id.strip()}


def merge_keys(*sources: Mapping[str, str]) -> dict[str, str]:
    """Correlation attributes from several sources, the earlier winning (and the peer pair kept whole)."""
    merged: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            if key == semconv.CX_PEER_INTERACTION_ID:
                continue
            if key == semconv.CX_PEER_PLATFORM_NAME:
                if key not in merged:
                    merged[key] = value
                    merged[semconv.CX_PEER_INTERACTION_ID] = source[semconv.CX_PEER_INTERACTION_ID]
            elif key not in merged:
                merged[key] = value
    return merged


def present(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` without the absent (None) ones, so drafts hold only what the payload said."""
    return {key: value for key, value in attributes.items() if value is not None}


def include_text(options: Mapping[str, str]) -> bool:
    return str(options.get("include_text", "")).lower() in ("1", "true", "yes")


def number(value: Any) -> float | None:
    """A JSON number (or numeric string) as a float; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def turn_draft(
    platform: str,
    interaction_id: str,
    turn: int,
    start: int,
    end: int,
    *,
    role: str | None,
    said: str | None = None,
    answered: str | None = None,
    latencies: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    text: bool = False,
    version: int | None = None,
) -> SpanDraft:
    """One ``turn`` span under the conversation root. ``said`` is the customer's text and
    ``answered`` the agent's (either may be None); only their lengths are kept unless ``text``.
    ``latencies`` maps ``e2e``/``endpointing``/``stt``/``tts``/``llm`` to milliseconds."""
    attrs: dict[str, Any] = {semconv.CX_TURN_NUMBER: turn, semconv.CX_TURN_ROLE: role}
    if isinstance(said, str):
        attrs[semconv.CX_TURN_INPUT_CHAR_COUNT] = len(said)
        attrs[semconv.CX_TURN_INPUT_TEXT] = said if text else None
    if isinstance(answered, str):
        attrs[semconv.CX_TURN_OUTPUT_CHAR_COUNT] = len(answered)
        attrs[semconv.CX_TURN_OUTPUT_TEXT] = answered if text else None
    for name, value in (latencies or {}).items():
        ms = number(value)
        if ms is not None:
            attrs[TURN_LATENCIES[name]] = round(ms)
    attrs.update(attributes or {})
    return SpanDraft(
        platform=platform, interaction_id=interaction_id, key=f"turn-{turn}", name=f"turn {platform}",
        span_type="turn", start_unix_nano=start, end_unix_nano=max(start, end), attributes=present(attrs),
        parent_key=ROOT_KEY, record_version=version,
    )  # fmt: skip


def handoff_draft(
    platform: str,
    interaction_id: str,
    key: str,
    at: int,
    *,
    to_type: str,
    target: str | None,
    attributes: Mapping[str, Any] | None = None,
    error_type: str | None = None,
    version: int | None = None,
) -> SpanDraft:
    """A zero-length ``handoff`` span at the moment the AI handed the customer on."""
    attrs: dict[str, Any] = {
        semconv.CX_HANDOFF_FROM_TYPE: "ai",
        semconv.CX_HANDOFF_TO_TYPE: to_type,
        semconv.CX_HANDOFF_FROM_PLATFORM: platform,
        semconv.CX_TRANSFER_TARGET: target,
        semconv.ERROR_TYPE: error_type,
        **(attributes or {}),
    }
    return SpanDraft(
        platform=platform, interaction_id=interaction_id, key=key, name=f"handoff ai->{to_type}",
        span_type="handoff", start_unix_nano=at, end_unix_nano=at, attributes=present(attrs), parent_key=ROOT_KEY,
        kind="producer", status="error" if error_type else "unset", status_message=error_type or "",
        record_version=version,
    )  # fmt: skip


def root_draft(
    platform: str,
    interaction_id: str,
    start: int,
    end: int,
    *,
    direction: str | None,
    attributes: Mapping[str, Any],
    ending: Ending | None,
    version: int | None = None,
) -> SpanDraft:
    """The ``ai_conversation`` root span of one call; ``ending`` None while the call is live."""
    attrs: dict[str, Any] = {semconv.CX_DIRECTION: direction, semconv.GEN_AI_CONVERSATION_ID: interaction_id}
    attrs.update(attributes)
    error_type = None
    if ending is not None:
        attrs.update(ending_attributes(ending))
        error_type = ending.error_type
    return SpanDraft(
        platform=platform, interaction_id=interaction_id, key=ROOT_KEY, name=f"ai_conversation {platform}",
        span_type="ai_conversation", start_unix_nano=start, end_unix_nano=max(start, end), attributes=present(attrs),
        kind="client" if direction == "outbound" else "server", status="error" if error_type else "unset",
        status_message=error_type or "", record_version=version,
    )  # fmt: skip


def latencies_for_responses(roles: Sequence[str | None], series: Mapping[str, list[Any]]) -> dict[int, dict[str, Any]]:
    """Per-turn latency series (one value per agent response) assigned to turns: the k-th value
    goes to the k-th agent turn that follows a customer turn (an opening greeting has no latency).
    ``roles`` are the turns' roles in order; the answer maps turn index → ``{name: ms}``."""
    responses = [i for i, role in enumerate(roles) if role == "agent" and i > 0 and roles[i - 1] == "customer"]
    assigned: dict[int, dict[str, Any]] = {}
    for name, values in series.items():
        for index, value in zip(responses, values if isinstance(values, list) else [], strict=False):
            assigned.setdefault(index, {})[name] = value
    return assigned
