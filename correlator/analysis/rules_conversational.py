"""Conversational insight rules: what the AI conversations and the handoffs felt like to the customer.

Same contract as ``rules_technical``. Texts (``cx.turn.input.text`` / ``output.text``) exist only
when a platform endpoint was asked to keep them; without them the text-based conditions stay
silent and the rules fall back to structured signals (``cx.handoff.reason`` …) where there are any.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from journeytrace.correlator.analysis.insight_config import InsightConfig
from journeytrace.correlator.analysis.journey_view import (
    Finding,
    JourneyView,
    S,
    Span,
    agent_text,
    attr,
    customer_spoke,
    customer_text,
    duration,
    end,
    level,
    name_of,
    number,
    start,
    texts,
)

from journeytrace import semconv

_ORDINALS = ("first", "second", "third", "fourth", "fifth")


@lru_cache(maxsize=32)
def _pattern(phrases: tuple[str, ...], *, word_start: bool = False) -> re.Pattern[str]:
    """Any of ``phrases`` as whole words (``word_start``: as the beginning of a word), any case,
    any spacing between their words."""
    alternatives = [r"\s+".join(re.escape(word) for word in phrase.lower().split()) for phrase in phrases]
    return re.compile(r"\b(?:" + "|".join(alternatives) + ")" + ("" if word_start else r"\b"), re.IGNORECASE)


def _words(name: str) -> str:
    """A menu node or flow name as words: ``verify_PIN-entry`` → ``verify pin entry``."""
    return " ".join(re.split(r"[^a-z0-9]+", name.lower())).strip()


def handed_off_early(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``ai_handed_off_early``: in an AI conversation that handed off, the customer asked for a human
    within their first ``first_turns`` turns (by text), or the handoff's reason is
    ``customer_request`` and came within that many customer turns."""
    settings = config.ai_handed_off_early
    asks = _pattern(settings.phrases)
    for conversation, turns in view.conversations:
        interaction = view.interaction_of(conversation)
        transfers = [t for t in view.transfers
                     if interaction is not None and t.source.key == interaction.key and t.failure is None]  # fmt: skip
        if attr(conversation, semconv.CX_AI_OUTCOME) != "handoff" and not transfers:
            continue
        ai = name_of(conversation)
        spoken = [t for t in turns if customer_spoke(t)]
        asked = next(((n, t) for n, t in enumerate(spoken[: settings.first_turns], 1)
                      if (text := customer_text(t)) is not None and asks.search(text)), None)  # fmt: skip
        if asked is not None:
            n, turn = asked
            which = _ORDINALS[n - 1] if n <= len(_ORDINALS) else f"turn {n} of their"
            yield Finding("ai_handed_off_early", str(turn["span_id"]), "warning",
                          f"The customer asked for a human in their {which} turn, and the {ai} AI handed off",
                          n, settings.first_turns, "turns")  # fmt: skip
            continue
        for transfer in transfers:
            before = sum(1 for turn in spoken if start(turn) <= transfer.at)
            if attr(transfer.span, semconv.CX_HANDOFF_REASON) == "customer_request" and before <= settings.first_turns:
                yield Finding("ai_handed_off_early", str(transfer.span["span_id"]), "warning",
                              f"The {ai} AI handed off at the customer's request after {before} customer turn(s)",
                              before, settings.first_turns, "turns")  # fmt: skip
                break


def context_lost(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``context_lost_at_handoff``: a platform says the context did not pass; a leg after one that
    carried the journey token carries none; or the customer identified themselves to an AI and a
    later leg asked again (an identification step in an IVR, or another AI asking)."""
    settings = config.context_lost_at_handoff
    for span in view.of_type("handoff"):
        if attr(span, semconv.CX_HANDOFF_CONTEXT_PASSED) is False:
            yield Finding("context_lost_at_handoff", str(span["span_id"]), "warning",
                          f"{name_of(span)} reported that the journey context did not reach the "
                          f"transfer target")  # fmt: skip
    carriers = [i for i in view.interactions.values() if any(attr(s, semconv.CX_JOURNEY_ID) for s in i.spans)]
    for interaction in view.interactions.values():
        if any(attr(s, semconv.CX_JOURNEY_ID) or attr(s, semconv.CX_TRACEPARENT) for s in interaction.spans):
            continue
        if any(c.start < interaction.start for c in carriers):
            yield Finding("context_lost_at_handoff", str(interaction.root["span_id"]), "warning",
                          f"The {name_of(interaction.root)} leg carries no journey token, though an earlier "
                          f"leg did: the context was not passed on")  # fmt: skip
    yield from _asked_again(view, settings.verification_phrases, settings.auth_steps)


def _asked_again(view: JourneyView, phrases: tuple[str, ...], steps: tuple[str, ...]) -> Iterator[Finding]:
    verify, step = _pattern(phrases), _pattern(steps, word_start=True)
    reported: set[str] = set()
    for conversation, turns in view.conversations:
        collected = next((turn for i, turn in enumerate(turns)
                          if (text := agent_text(turn)) is not None and verify.search(text)
                          and any(customer_spoke(t) for t in turns[i + 1:])), None)  # fmt: skip
        source = view.interaction_of(conversation)
        if collected is None or source is None:
            continue
        ai = name_of(conversation)
        for later in view.interactions.values():
            if later.key == source.key or later.start < end(collected):
                continue
            for ivr in later.of_type("ivr"):
                names = [*texts(attr(ivr, semconv.CX_IVR_MENU_PATH)), *texts(attr(ivr, semconv.CX_IVR_FLOW_NAME))]
                if any(step.search(_words(n)) for n in names) and str(ivr["span_id"]) not in reported:
                    reported.add(str(ivr["span_id"]))
                    yield Finding("context_lost_at_handoff", str(ivr["span_id"]), "warning",
                                  f"The customer identified themselves to the {ai} AI, then the "
                                  f"{name_of(later.root)} IVR asked them again")  # fmt: skip
        for other, other_turns in view.conversations:
            other_source = view.interaction_of(other)
            if other_source is None or other_source.key == source.key or other_source.start < end(collected):
                continue
            again = next((t for t in other_turns if (text := agent_text(t)) is not None and verify.search(text)), None)
            if again is not None and str(again["span_id"]) not in reported:
                reported.add(str(again["span_id"]))
                yield Finding("context_lost_at_handoff", str(again["span_id"]), "warning",
                              f"The customer identified themselves to the {ai} AI, then the "
                              f"{name_of(other_source.root)} AI asked them again")  # fmt: skip


def dead_air(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``dead_air``: the longest silence between two turns of an AI conversation (one turn's end,
    or the latest end so far, to the next turn's start)."""
    settings = config.dead_air
    for conversation, turns in view.conversations:
        worst: tuple[int, Span] | None = None
        spoken_until: int | None = None
        for turn in turns:
            if spoken_until is not None and (worst is None or start(turn) - spoken_until > worst[0]):
                worst = (start(turn) - spoken_until, turn)
            spoken_until = max(spoken_until or 0, end(turn))
        if worst is None:
            continue
        gap = worst[0] / S
        hit = level(gap, settings.warning_s, settings.critical_s)
        if hit is not None:
            yield Finding("dead_air", str(worst[1]["span_id"]), hit[0],
                          f"{duration(gap)} of silence in the {name_of(conversation)} AI conversation "
                          f"(over {duration(hit[1])})", gap, hit[1], "s")  # fmt: skip


def interruptions(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``interruption_burst``: ``count`` interrupted turns within ``window_s``; for conversations
    whose turns carry no end reason, ``conversation_count`` interruptions in all."""
    settings = config.interruption_burst
    window = round(settings.window_s * S)
    with_reasons: set[str] = set()
    for conversation, turns in view.conversations:
        if not any(attr(t, semconv.CX_TURN_END_REASON) is not None for t in turns):
            continue
        with_reasons.add(str(conversation["span_id"]))
        cut = [t for t in turns if attr(t, semconv.CX_TURN_END_REASON) == "interrupted"]
        bursts = [[t for t in cut[i:] if start(t) - start(first) <= window] for i, first in enumerate(cut)]
        burst = max(bursts, key=len, default=[])
        if burst and len(burst) >= settings.count:
            yield Finding("interruption_burst", str(burst[-1]["span_id"]), "warning",
                          f"{len(burst)} turns of the {name_of(conversation)} AI conversation were "
                          f"interrupted within {duration(settings.window_s)}", len(burst), settings.count, "count")  # fmt: skip
    for conversation in view.of_type("ai_conversation"):
        total = number(attr(conversation, semconv.CX_AI_INTERRUPTION_COUNT))
        if str(conversation["span_id"]) in with_reasons or total is None or total < settings.conversation_count:
            continue
        yield Finding("interruption_burst", str(conversation["span_id"]), "warning",
                      f"The customer and the {name_of(conversation)} AI interrupted each other "
                      f"{int(total)} times", total, settings.conversation_count, "count")  # fmt: skip
