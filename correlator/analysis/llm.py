"""The optional journey summary written by a language model, over any OpenAI-compatible API.

The deterministic summary (``summary.py``) is always written first; when a model is configured
(``summary_llm_base_url``, ``summary_llm_model``, ``summary_llm_api_key``), this module asks it
for a better-worded paragraph. The model sees a compact rendering of the journey's facts, never
the journey itself: only attributes named in ``_SENT_ATTRIBUTES`` (names, outcomes, kinds,
durations, audio metrics, AI turn texts), with every string passed through ``redact`` and turn
texts cut short. Customer and dialled numbers, transfer targets, hashes, interaction IDs, agent
names and platform-native attributes (which may hold anything) are not sent at all.

A model call is slow and may fail, so it never decides anything: any failure (no connection, a
timeout, an error status, an answer that is not a chat completion, an empty answer) returns the
deterministic summary, and further calls are skipped for ``failure_backoff_seconds`` so a model
that is down costs one timeout, not one per journey. Answers are cached by ``summary.fingerprint``:
a journey is summarized again only when it changes materially. Nothing logged names the API key,
the request or the answer.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from journeytrace import semconv
from journeytrace.correlator.analysis.model import Insight, Summary
from journeytrace.correlator.analysis.summary import fingerprint, redact

__all__ = ["LlmConfig", "LlmSummarizer", "prompt_for", "redact"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """Where the model is and how much of a journey it is shown."""

    base_url: str  # e.g. http://localhost:11434/v1; requests go to {base_url}/chat/completions
    model: str
    api_key: str | None = field(default=None, repr=False)  # sent as a bearer token; never printed
    timeout_seconds: float = 20.0
    max_spans: int = 400
    """Spans shown to the model; AI turns are left out first."""
    max_text_chars: int = 200
    """Characters kept of each AI turn text (after redaction)."""
    cache_size: int = 10_000
    failure_backoff_seconds: float = 30.0


_SYSTEM_PROMPT = (
    "You summarize contact-center customer journeys for customer-experience managers. "
    "The user message is one journey's facts as JSON: its legs across platforms, its spans (IVR, AI conversation "
    "and turns, queue, agent, handoffs) with times in seconds from the journey's start, the issues detected, and a "
    "summary written by rules. Write one paragraph of two to four plain sentences: why the customer got in touch, "
    "the path across platforms with each handoff's kind and how long it took, the key events (queue waits, agents, "
    "holds, failed transfers, drops, detected issues) and the outcome. Use only these facts and say when something "
    "is unknown. Never include phone numbers, e-mail addresses, account or card numbers or anything else that "
    "identifies a person, and do not quote the customer. Answer with the paragraph only."
)

# What the model may see of a span: names, kinds, outcomes, counts, durations and metrics.
_SENT_ATTRIBUTES = frozenset({
    semconv.CX_CHANNEL, semconv.CX_DIRECTION, semconv.CX_INITIATION_METHOD, semconv.CX_TRANSFER_TYPE,
    semconv.CX_JOURNEY_OUTCOME, semconv.CX_AI_OUTCOME, semconv.CX_IVR_OUTCOME, semconv.CX_QUEUE_EXIT_REASON,
    semconv.CX_DISCONNECT_REASON, semconv.CX_DISCONNECT_INITIATOR,
    semconv.CX_IVR_FLOW_NAME, semconv.CX_IVR_MENU_PATH, semconv.CX_IVR_INPUT_MODE, semconv.CX_IVR_RETRY_COUNT,
    semconv.CX_QUEUE_NAME, semconv.CX_QUEUE_WAIT_DURATION, semconv.CX_QUEUE_POSITION_INITIAL,
    semconv.CX_AGENT_TYPE, semconv.CX_AGENT_SKILL, semconv.CX_AGENT_HOLD_COUNT, semconv.CX_AGENT_HOLD_DURATION_MS,
    semconv.CX_AGENT_ACW_DURATION_MS,
    semconv.GEN_AI_AGENT_NAME, semconv.GEN_AI_REQUEST_MODEL,
    semconv.CX_AI_INTENT_NAME, semconv.CX_AI_INTENT_CONFIDENCE, semconv.CX_AI_TURN_COUNT,
    semconv.CX_AI_INTERRUPTION_COUNT,
    semconv.CX_TURN_NUMBER, semconv.CX_TURN_ROLE, semconv.CX_TURN_END_REASON, semconv.CX_TURN_INTERRUPTION_INITIATOR,
    semconv.CX_TURN_LATENCY_E2E_MS, semconv.CX_TURN_LATENCY_LLM_MS, semconv.CX_TURN_INPUT_TEXT,
    semconv.CX_TURN_OUTPUT_TEXT,
    semconv.CX_HANDOFF_FROM_TYPE, semconv.CX_HANDOFF_TO_TYPE, semconv.CX_HANDOFF_FROM_PLATFORM,
    semconv.CX_HANDOFF_TO_PLATFORM, semconv.CX_HANDOFF_REASON, semconv.CX_HANDOFF_METHOD, semconv.CX_HANDOFF_MODE,
    semconv.CX_HANDOFF_CONTEXT_PASSED, semconv.CX_HANDOFF_LATENCY_MS, semconv.CX_HANDOFF_SYNTHETIC,
    semconv.CX_AUDIO_MOS, semconv.CX_AUDIO_MOS_MIN, semconv.CX_AUDIO_JITTER_MS, semconv.CX_AUDIO_JITTER_MAX_MS,
    semconv.CX_AUDIO_PACKET_LOSS_PCT, semconv.CX_AUDIO_RTT_MS,
    semconv.SIP_RESPONSE_STATUS_CODE, semconv.CX_TELEPHONY_Q850_CAUSE, semconv.ERROR_TYPE,
})  # fmt: skip
_TEXTS = frozenset({semconv.CX_TURN_INPUT_TEXT, semconv.CX_TURN_OUTPUT_TEXT})
_MAX_STRING = 200
"""Characters kept of any other string (span names, status messages, explanations)."""
_MAX_ANSWER = 2000
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)  # reasoning models served locally prepend it


def _clean(value: Any, limit: int | None = None) -> Any:
    """``value`` fit to send: every string redacted (then cut to ``limit``), long integers too.

    Redaction comes before the cut, so a number cut in half cannot slip through.
    """
    if isinstance(value, str):
        cleaned = redact(value)
        return cleaned if limit is None or len(cleaned) <= limit else cleaned[: limit - 1] + "…"
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if redact(str(value)) == str(value) else "[number]"
    if isinstance(value, Mapping):
        return {str(k): _clean(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, limit) for v in value]
    return None


def _seconds(nanos: Any, since: int) -> float | None:
    return round((int(nanos) - since) / 1e9, 3) if isinstance(nanos, int) and nanos else None


def _span_facts(span: Mapping[str, Any], since: int, max_text_chars: int) -> dict[str, Any]:
    attributes, resource = span.get("attributes") or {}, span.get("resource_attributes") or {}
    start, end = _seconds(span.get("start_unix_nano"), since), _seconds(span.get("end_unix_nano"), since)
    shown: dict[str, Any] = {
        "name": _clean(span.get("name") or "", _MAX_STRING),
        "type": attributes.get(semconv.CX_SPAN_TYPE),
        "platform": attributes.get(semconv.CX_PLATFORM_NAME) or resource.get(semconv.CX_PLATFORM_NAME),
        "leg": attributes.get(semconv.CX_LEG_NUMBER),
        "start_s": start,
        "duration_s": round(end - start, 3) if start is not None and end is not None else None,
    }
    if span.get("status_code") == "STATUS_CODE_ERROR":
        shown["error"] = _clean(span.get("status_message") or "error", _MAX_STRING)
    shown["attributes"] = {
        key: _clean(value, max_text_chars if key in _TEXTS else _MAX_STRING)
        for key, value in sorted(attributes.items()) if key in _SENT_ATTRIBUTES
    }  # fmt: skip
    events = [{"name": _clean(e.get("name") or "", _MAX_STRING), "at_s": _seconds(e.get("time_unix_nano"), since)}
              for e in span.get("events") or ()]  # fmt: skip
    if events:
        shown["events"] = events
    return {k: v for k, v in shown.items() if v not in (None, {}, "")}


def prompt_for(
    journey: Mapping[str, Any], insights: Sequence[Insight], facts_summary: Summary,
    *, max_spans: int = 400, max_text_chars: int = 200,
) -> list[dict[str, str]]:  # fmt: skip
    """The chat messages asking for ``journey``'s summary: instructions, then its redacted facts."""
    since = int(journey.get("start_unix_nano") or 0)
    spans = sorted(journey.get("spans") or (), key=lambda s: (s.get("start_unix_nano") or 0, s.get("span_id") or ""))
    # Over the limit, AI turns give way first: the structure of the journey matters more.
    by_kind = sorted(spans, key=lambda s: (s.get("attributes") or {}).get(semconv.CX_SPAN_TYPE) == "turn")
    kept = {id(s) for s in by_kind[:max_spans]}
    legs = [
        {"leg": leg.get("leg"), "platform": leg.get("platform"), "start_s": _seconds(leg.get("start_unix_nano"), since),
         "end_s": _seconds(leg.get("end_unix_nano"), since)}
        for leg in journey.get("legs") or ()
    ]  # fmt: skip
    issues = [
        {"rule": i.rule, "category": i.category, "severity": i.severity,
         "explanation": _clean(i.explanation, _MAX_STRING), "value": i.value, "threshold": i.threshold,
         "unit": i.unit, "platform": i.platform, "queue": i.queue, "flow": i.flow}
        for i in insights
    ]  # fmt: skip
    facts = {
        "journey": {
            "status": journey.get("status"),
            "outcome": journey.get("outcome"),
            "duration_s": round(int(journey.get("duration_nano") or 0) / 1e9, 3),
            "platforms": list(journey.get("platforms") or ()),
            "legs": legs,
        },
        "spans": [_span_facts(s, since, max_text_chars) for s in spans if id(s) in kept],
        "spans_left_out": len(spans) - len(kept),
        "issues": issues,
        "rules_summary": {
            "intent": facts_summary.intent, "text": facts_summary.text, "key_events": list(facts_summary.key_events),
        },
    }
    # Every string is redacted once more here: whatever was added above, nothing leaves unredacted.
    content = json.dumps(_clean(facts), ensure_ascii=False, separators=(",", ":"))
    return [{"role": "system", "content": _SYSTEM_PROMPT}, {"role": "user", "content": content}]


class _Failed(Exception):
    """A model call that gave no usable summary; the message is safe to log."""


class LlmSummarizer:
    """Asks the configured model for journey summaries, falling back to the deterministic one.

    Safe to share between threads; owns an HTTP client, so ``close`` it.
    """

    def __init__(self, config: LlmConfig) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.Client(timeout=config.timeout_seconds, headers=headers)
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._cache: OrderedDict[str, str] = OrderedDict()  # fingerprint -> the model's text
        self._lock = threading.Lock()
        self._paused_until = 0.0

    def summarize(self, journey: Mapping[str, Any], insights: Sequence[Insight], fallback: Summary) -> Summary:
        """The model's summary of ``journey``, or ``fallback`` when there is none to be had."""
        key = fingerprint(journey, insights)
        with self._lock:
            text = self._cache.get(key)
            if text is not None:
                self._cache.move_to_end(key)
            elif time.monotonic() < self._paused_until:
                return fallback
        if text is None:
            try:
                text = self._ask(prompt_for(journey, insights, fallback, max_spans=self.config.max_spans,
                                            max_text_chars=self.config.max_text_chars))  # fmt: skip
            except _Failed as failure:
                with self._lock:
                    self._paused_until = time.monotonic() + self.config.failure_backoff_seconds
                log.warning("LLM summary of journey %s failed (%s); keeping the deterministic summary, "
                            "next attempt in %.0f s", journey.get("journey_id"), failure,
                            self.config.failure_backoff_seconds)  # fmt: skip
                return fallback
            with self._lock:
                self._cache[key] = text
                while len(self._cache) > self.config.cache_size:
                    self._cache.popitem(last=False)
        return replace(fallback, text=text, source="llm", model=self.config.model)

    def _ask(self, messages: list[dict[str, str]]) -> str:
        try:
            response = self._client.post(self._url, json={"model": self.config.model, "messages": messages})
        except httpx.TimeoutException:
            raise _Failed(f"no answer within {self.config.timeout_seconds:g} s") from None
        except httpx.HTTPError as error:  # the message may hold the URL: log only the kind
            raise _Failed(f"cannot reach the endpoint: {type(error).__name__}") from None
        if not response.is_success:
            raise _Failed(f"HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError):
            raise _Failed("the answer is not a chat completion") from None
        if not isinstance(content, str):
            raise _Failed("the answer has no text")
        text = redact(_THINKING.sub("", content).strip())[:_MAX_ANSWER].strip()
        if not text:
            raise _Failed("the answer is empty")
        return text

    def close(self) -> None:
        self._client.close()
