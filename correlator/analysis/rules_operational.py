"""Operational insight rules: queues, agents, holds, routing loops, repeat callers.

Same contract as ``rules_technical``: detectors read a ``JourneyView`` and the ``InsightConfig``
and yield ``Finding``s; docs/insights.md states every condition exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from journeytrace.correlator.analysis.insight_config import InsightConfig
from journeytrace.correlator.analysis.journey_view import (
    EVENT_AGENT_HOLD,
    EVENT_AGENT_NO_ANSWER,
    EVENT_AGENT_RESUME,
    Finding,
    JourneyView,
    S,
    Span,
    attr,
    duration,
    end,
    events,
    figure,
    is_synthetic,
    label,
    level,
    name_of,
    number,
    platform_of,
    span_type,
    start,
    texts,
)

from journeytrace import semconv


def _queue_name(span: Span) -> str:
    name = attr(span, semconv.CX_QUEUE_NAME) or attr(span, semconv.CX_QUEUE_ID)
    return f"queue {name}" if name else "the queue"


def _wait_s(queue: Span) -> float:
    """Seconds in queue: the platform's ``cx.queue.wait.duration`` when it gives one, else the span's length."""
    reported = number(attr(queue, semconv.CX_QUEUE_WAIT_DURATION))
    return reported if reported is not None else (end(queue) - start(queue)) / S


def queues(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``abandoned_in_queue`` and ``long_queue_wait``, per queue span."""
    settings = config.long_queue_wait
    for queue in view.of_type("queue"):
        span_id, name, wait = str(queue["span_id"]), _queue_name(queue), _wait_s(queue)
        abandoned = attr(queue, semconv.CX_QUEUE_EXIT_REASON) == "abandoned"
        if abandoned:
            yield Finding("abandoned_in_queue", span_id, "warning",
                          f"The customer hung up after waiting {duration(wait)} in {name}", wait, None, "s")  # fmt: skip
        hit = level(wait, settings.warning_s, settings.critical_s)
        if hit is not None:
            how = "before hanging up" if abandoned else "for an agent"
            yield Finding("long_queue_wait", span_id, hit[0],
                          f"The customer waited {duration(wait)} in {name} {how} (over {duration(hit[1])})",
                          wait, hit[1], "s")  # fmt: skip


def agents(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``slow_agent_connection`` and ``ended_on_hold``, per agent interaction."""
    slow, hold = config.slow_agent_connection, config.ended_on_hold
    for agent in view.of_type("agent_interaction"):
        interaction = view.interaction_of(agent)
        if interaction is None:
            continue
        span_id = str(agent["span_id"])
        entered = [q for q in interaction.of_type("queue") if start(q) <= start(agent)]
        if entered:
            queue = max(entered, key=lambda q: (start(q), str(q["span_id"])))
            gap = max(0.0, (start(agent) - end(queue)) / S)
            hit = level(gap, slow.warning_s, slow.critical_s)
            if hit is not None:
                missed = [e for s in interaction.spans for e in events(s, EVENT_AGENT_NO_ANSWER)
                          if end(queue) <= int(e.get("time_unix_nano") or 0) <= start(agent)]  # fmt: skip
                unanswered = f"; {len(missed)} offer(s) went unanswered" if missed else ""
                yield Finding("slow_agent_connection", span_id, hit[0],
                              f"The agent connected {duration(gap)} after the call left {_queue_name(queue)}"
                              f"{unanswered}", gap, hit[1], "s")  # fmt: skip
        marks = events(agent, EVENT_AGENT_HOLD, EVENT_AGENT_RESUME)
        if not marks:
            continue
        last = marks[-1]
        at = int(last.get("time_unix_nano") or 0)
        tolerance = round(hold.resume_tolerance_s * S)
        if last.get("name") == EVENT_AGENT_RESUME and at < end(agent) - tolerance:
            continue
        held_from = at if last.get("name") == EVENT_AGENT_HOLD else next(
            (int(e.get("time_unix_nano") or 0) for e in reversed(marks) if e.get("name") == EVENT_AGENT_HOLD), at)
        if any(t.source.key == interaction.key and t.at >= held_from for t in view.transfers):
            continue  # held while the agent transferred the call: the customer went on, not away
        held = max(0.0, (end(agent) - held_from) / S)
        by_customer = any(
            attr(s, semconv.CX_DISCONNECT_INITIATOR) == "customer"
            or attr(s, semconv.CX_DISCONNECT_REASON) == "customer_disconnect"
            for s in (agent, interaction.root)
        )
        who = "The customer hung up" if by_customer else "The call ended"
        yield Finding("ended_on_hold", span_id, "warning", f"{who} while on hold (held {duration(held)})",
                      held, None, "s")  # fmt: skip


def legs(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``many_legs``: more legs than ``max_legs``."""
    count = view.journey.get("leg_count")
    count = count if isinstance(count, int) and not isinstance(count, bool) else len(view.journey.get("legs") or [])
    limit = config.many_legs.max_legs
    if count > limit:
        path = " → ".join(label(p) for p in view.journey.get("platforms") or [])
        yield Finding("many_legs", view.root_span_id, "warning",
                      f"The journey took {count} legs (more than {limit}): {path}", count, limit, "legs")  # fmt: skip


def _stop(view: JourneyView, span: Span) -> tuple[str, ...] | None:
    """Where a span put the customer, for loop detection: a dialled number (on an interaction's
    top span), an AI agent, a queue or a human agent; None for anything else."""
    kind, platform = span_type(span), platform_of(span) or ""
    if kind == "telephony":
        interaction = view.interaction_of(span)
        number_key = attr(span, semconv.CX_TELEPHONY_DNIS_HASH) or attr(span, semconv.CX_TELEPHONY_DNIS_NUMBER)
        if interaction is not None and interaction.root is span and number_key:
            return ("number", str(number_key))
    elif kind == "ai_conversation" and attr(span, semconv.GEN_AI_AGENT_ID):
        return ("ai", platform, str(attr(span, semconv.GEN_AI_AGENT_ID)))
    elif kind == "queue" and (queue := attr(span, semconv.CX_QUEUE_ID) or attr(span, semconv.CX_QUEUE_NAME)):
        return ("queue", platform, str(queue))
    elif kind == "agent_interaction" and attr(span, semconv.CX_AGENT_ID):
        return ("agent", platform, str(attr(span, semconv.CX_AGENT_ID)))
    return None


def transfer_loop(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``transfer_loop``: the customer is sent back to a stop (number, AI agent, queue, agent) they
    had already left for another one (A → B → A)."""
    del config  # nothing to tune
    path: list[tuple[tuple[str, ...], Span]] = []
    for span in view.spans:
        if is_synthetic(span) or (stop := _stop(view, span)) is None:
            continue
        if not path or path[-1][0] != stop:
            path.append((stop, span))
    reported: set[tuple[str, ...]] = set()
    for index, (stop, span) in enumerate(path):
        if stop in reported or all(earlier != stop for earlier, _ in path[:index]):
            continue
        reported.add(stop)
        if stop[0] == "number":
            what = "a number they had already been through"
        elif stop[0] == "ai":
            what = f"the same {name_of(span)} AI agent"
        elif stop[0] == "queue":
            what = f"queue {attr(span, semconv.CX_QUEUE_NAME) or stop[2]}"
        else:
            what = f"agent {stop[2]}"
        yield Finding("transfer_loop", str(span["span_id"]), "warning",
                      f"The customer was sent back to {what} after being transferred away (A → B → A)")  # fmt: skip


def ivr_loop(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``ivr_loop``: a menu node visited more than ``max_node_visits`` times, or more than
    ``max_retries`` no-input / no-match retries, in one IVR span."""
    settings = config.ivr_loop
    for ivr in view.of_type("ivr"):
        visits = Counter(texts(attr(ivr, semconv.CX_IVR_MENU_PATH)))
        node, count = max(visits.items(), key=lambda item: (item[1], item[0]), default=("", 0))
        retries = number(attr(ivr, semconv.CX_IVR_RETRY_COUNT)) or 0.0
        looped, retried = count > settings.max_node_visits, retries > settings.max_retries
        if not (looped or retried):
            continue
        flow = attr(ivr, semconv.CX_IVR_FLOW_NAME) or attr(ivr, semconv.CX_IVR_FLOW_ID)
        where = f"IVR flow {flow}" if flow else f"the {name_of(ivr)} IVR"
        parts = [f"menu '{node}' came up {count} times"] if looped else []
        parts += [f"{figure(retries)} no-input / no-match retries"] if retried else []
        value, threshold = (count, settings.max_node_visits) if looped else (retries, settings.max_retries)
        yield Finding("ivr_loop", str(ivr["span_id"]), "warning",
                      f"The customer went round in {where}: {' and '.join(parts)}", value, threshold, "count")  # fmt: skip


def repeat_caller(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``repeat_caller``: the same customer (by phone hash, looked up by the worker) started another
    journey within ``window_h`` before this one."""
    previous = view.previous_journey_start
    if view.previous_journey_id is None or previous is None:
        return
    gap_h = (view.start - previous) / (3600 * S)
    if 0 < gap_h <= config.repeat_caller.window_h:
        yield Finding("repeat_caller", view.root_span_id, "info",
                      f"The same customer called {duration(gap_h * 3600)} earlier (another journey)",
                      round(gap_h, 3), config.repeat_caller.window_h, "h")  # fmt: skip
