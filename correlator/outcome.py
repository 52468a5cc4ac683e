"""A journey's outcome, from what its spans report.

A platform or an SDK may state the outcome outright with ``cx.journey.outcome``
(``resolved``, ``transferred_external``, ``callback_scheduled``, ``abandoned``, ``dropped``,
``unknown``; otel-conventions §6.5). The latest-ending span that states it wins. Without one, the
outcome is derived from the latest-ending span that carries a signal, by this table (first match):

=========================================================  ======================
signal on the span                                          outcome
=========================================================  ======================
``cx.queue.exit_reason``, ``cx.ivr.outcome`` or              ``abandoned``
``cx.ai.outcome`` = ``abandoned``
``cx.disconnect.reason`` = ``telecom_problem``              ``dropped``
``cx.queue.exit_reason`` = ``callback_requested``           ``callback_scheduled``
``cx.ai.outcome`` = ``resolved``, ``cx.ivr.outcome`` =       ``resolved``
``self_served``
an ``agent_interaction`` span without error status        ``resolved``
=========================================================  ======================

A journey with no signal has no outcome (``null``) until one arrives. Both choices use the
latest end time; at the same instant the more severe outcome wins (``dropped`` over
``abandoned`` over ``callback_scheduled`` over ``transferred_external`` over ``resolved`` over
``unknown``: a call that drops as the agent's span ends was dropped, not resolved). The result
is the same for any arrival order.
"""

from __future__ import annotations

from journeytrace import semconv

OUTCOME_ATTRIBUTES = (
    semconv.CX_JOURNEY_OUTCOME, semconv.CX_AI_OUTCOME, semconv.CX_IVR_OUTCOME,
    semconv.CX_QUEUE_EXIT_REASON, semconv.CX_DISCONNECT_REASON,
)  # fmt: skip


def derived_outcome_sql(value: dict[str, str]) -> str:
    """SQL for one span's derived outcome; ``value`` maps each attribute to its SQL expression."""
    queue, ivr, ai, disconnect = (value[a] for a in (
        semconv.CX_QUEUE_EXIT_REASON, semconv.CX_IVR_OUTCOME, semconv.CX_AI_OUTCOME, semconv.CX_DISCONNECT_REASON))  # fmt: skip
    return f"""CASE
        WHEN 'abandoned' IN ({queue}, {ivr}, {ai}) THEN 'abandoned'
        WHEN {disconnect} = 'telecom_problem' THEN 'dropped'
        WHEN {queue} = 'callback_requested' THEN 'callback_scheduled'
        WHEN {ai} = 'resolved' OR {ivr} = 'self_served' THEN 'resolved'
        WHEN span_type = 'agent_interaction' AND status_code <> 2 THEN 'resolved'
    END"""


SEVERITY = ("unknown", "resolved", "transferred_external", "callback_scheduled", "abandoned", "dropped")


def rank_sql(expression: str) -> str:
    """SQL ranking an outcome by ``SEVERITY`` (other values rank lowest), to break ties in time."""
    cases = " ".join(f"WHEN '{name}' THEN {rank + 1}" for rank, name in enumerate(SEVERITY))
    return f"(CASE {expression} {cases} ELSE 0 END)"
