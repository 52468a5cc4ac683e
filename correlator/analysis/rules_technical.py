"""Technical insight rules: drops, failed and slow handoffs, audio quality, AI latency, late data.

Each detector reads a ``JourneyView`` and the whole ``InsightConfig`` (drops and handoffs decide
together which rule explains a failed transfer) and yields ``Finding``s for one or more rule IDs;
the engine drops findings of disabled rules. docs/insights.md states every condition exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

from journeytrace.correlator.analysis.insight_config import InsightConfig
from journeytrace.correlator.analysis.journey_view import (
    MS,
    Finding,
    Interaction,
    JourneyView,
    Recheck,
    S,
    Span,
    Transfer,
    attr,
    customer_spoke,
    dropped,
    duration,
    end,
    figure,
    is_synthetic,
    label,
    level,
    name_of,
    never_connected,
    number,
    role,
    span_type,
    start,
    texts,
)

from journeytrace import semconv

AWS_CONNECT_AUDIO_QUALITY_ISSUES = "aws.connect.audio.potential_quality_issues"
AWS_CONNECT_CONTACT_EVENT = "aws.connect.contact_event"
TWILIO_INSIGHTS_TAGS = "twilio.insights.tags"
TWILIO_INSIGHTS_STATE = "twilio.insights.processing_state"

_CONNECT_ENDED_EVENTS = frozenset({"DISCONNECTED", "COMPLETED"})
_STAGES = {
    "agent_interaction": "while with an agent", "queue": "while waiting in queue", "ivr": "in the IVR",
    "ai_conversation": "during the AI conversation", "turn": "during the AI conversation",
}  # fmt: skip
_WHERE = {"telephony": "call", "agent_interaction": "agent call", "ai_conversation": "AI conversation"}


# --- drops and handoffs ---------------------------------------------------------------------------------


def _sending_drop(transfer: Transfer, window_ns: int) -> Span | None:
    """The transfer's own interaction dropped after the transfer began and before any next leg started."""
    for span in transfer.source.spans:
        ended = end(span)
        followed = transfer.followed_at
        if (dropped(span) and transfer.at <= ended <= transfer.at + window_ns
                and (followed is None or followed > ended)):  # fmt: skip
            return span
    return None


def _receiving_drop(interaction: Interaction, window_ns: int) -> Span | None:
    """A leg reached by a transfer dropped soon after it started, before a queue, agent or AI took the call."""
    for span in interaction.spans:
        ended = end(span)
        if not dropped(span) or never_connected(span) or ended > interaction.start + window_ns:
            continue
        answered = [s for s in interaction.of_type("queue", "agent_interaction", "ai_conversation", "turn")
                    if start(s) < ended]  # fmt: skip
        if not answered:
            return span
    return None


def _stage(interaction: Interaction, at: int) -> str:
    """Where the customer was at ``at``: the latest stage of the interaction begun by then."""
    stages = [s for s in interaction.spans if span_type(s) in _STAGES and start(s) <= at]
    if not stages:
        return ""
    latest = max(stages, key=lambda s: (start(s), str(s["span_id"])))
    stage = _STAGES[str(span_type(latest))]
    queue = attr(latest, semconv.CX_QUEUE_NAME) if span_type(latest) == "queue" else None
    return f" {stage} {queue}" if queue else f" {stage}"


def drops(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``call_dropped_during_transfer`` (either side of a transfer) and ``call_dropped`` (anywhere else)."""
    during = config.call_dropped_during_transfer
    window = round(during.window_s * S)
    explained: set[str] = set()
    if during.enabled:
        for transfer in view.transfers:
            span = _sending_drop(transfer, window)
            if span is not None and str(span["span_id"]) not in explained:
                explained.add(str(span["span_id"]))
                after = (end(span) - transfer.at) / S
                yield Finding("call_dropped_during_transfer", str(span["span_id"]), "critical",
                              f"The call dropped on {name_of(transfer.source.root)} {duration(after)} after the "
                              f"transfer began, before the next leg answered", after, during.window_s, "s")  # fmt: skip
        first = next(iter(view.interactions.values()), None)
        for interaction in view.interactions.values():
            span = None if interaction is first else _receiving_drop(interaction, window)
            if span is not None and str(span["span_id"]) not in explained:
                explained.add(str(span["span_id"]))
                after = (end(span) - interaction.start) / S
                yield Finding("call_dropped_during_transfer", str(span["span_id"]), "critical",
                              f"The call dropped {duration(after)} after reaching {name_of(interaction.root)} "
                              f"from a transfer, before a queue, agent or AI took it", after, during.window_s, "s")  # fmt: skip
    for interaction in view.interactions.values():
        if any(str(s["span_id"]) in explained for s in interaction.spans):
            continue
        span = next((s for s in interaction.spans if dropped(s) and not never_connected(s)), None)
        if span is not None:
            yield Finding("call_dropped", str(span["span_id"]), "critical",
                          f"The call dropped on {name_of(interaction.root)}{_stage(interaction, end(span))} "
                          f"(telecom problem)")  # fmt: skip


def handoffs(view: JourneyView, config: InsightConfig) -> Iterator[Finding | Recheck]:
    """``handoff_failed`` and ``slow_handoff``, for every transfer and every inferred handoff between legs."""
    failed, slow, during = config.handoff_failed, config.slow_handoff, config.call_dropped_during_transfer
    window = round(failed.window_s * S)
    measured: set[tuple[str, str]] = set()
    for transfer in view.transfers:
        span_id, source = str(transfer.span["span_id"]), name_of(transfer.source.root)
        if transfer.failure is not None:
            yield Finding("handoff_failed", span_id, "critical", f"The transfer from {source} failed: {transfer.failure}")
            continue
        followed = transfer.followed_at
        if followed is None or followed > transfer.at + window:
            if during.enabled and _sending_drop(transfer, round(during.window_s * S)) is not None:
                continue  # the drop explains it: call_dropped_during_transfer
            if followed is None and view.now < transfer.at + window:
                yield Recheck("handoff_failed", transfer.at + window)
                continue
            late = None if followed is None else (followed - transfer.at) / S
            what = "no next leg began" if late is None else f"the next leg began only {duration(late)} later"
            yield Finding("handoff_failed", span_id, "warning",
                          f"The transfer from {source} started but {what} (window {duration(failed.window_s)})",
                          late, failed.window_s, "s")  # fmt: skip
            continue
        following = transfer.next
        if following is not None and following.start == followed:
            measured.add(following.key)
            target = name_of(following.root)
        else:
            target = f"a {str(span_type(transfer.continued)).replace('_', ' ')} on {source}"
        reported = number(attr(transfer.span, semconv.CX_HANDOFF_LATENCY_MS))
        latency = reported if reported is not None else max(0.0, (followed - transfer.at) / MS)
        yield from _slow(span_id, latency, source, target, slow.warning_ms, slow.critical_ms)
    for span in view.spans:
        if span_type(span) != "handoff" or not is_synthetic(span):
            continue
        to_platform = attr(span, semconv.CX_HANDOFF_TO_PLATFORM)
        receiving = [leg for leg in view.journey.get("legs") or []
                     if leg.get("start_unix_nano") == end(span) and leg.get("platform") == to_platform]  # fmt: skip
        if any(i.key in measured for leg in receiving for i in view.leg_interactions(leg)):
            continue  # measured from the platform's own transfer above
        latency = number(attr(span, semconv.CX_HANDOFF_LATENCY_MS))
        if latency is not None:
            yield from _slow(str(span["span_id"]), latency, label(attr(span, semconv.CX_HANDOFF_FROM_PLATFORM)),
                             label(to_platform), slow.warning_ms, slow.critical_ms)  # fmt: skip


def _slow(span_id: str, latency_ms: float, source: str, target: str, warning: float,
          critical: float) -> Iterator[Finding]:  # fmt: skip
    hit = level(latency_ms, warning, critical)
    if hit is not None:
        yield Finding("slow_handoff", span_id, hit[0],
                      f"The handoff from {source} to {target} took {duration(latency_ms / 1000)} "
                      f"(over {duration(hit[1] / 1000)})", latency_ms, hit[1], "ms")  # fmt: skip


# --- audio -------------------------------------------------------------------------------------------------


def audio(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``low_mos``, ``high_jitter``, ``high_packet_loss``, ``high_rtt``: a measured value beyond its
    thresholds, else (optionally) the platform's own flag for it."""
    mos, jitter, loss, rtt = config.low_mos, config.high_jitter, config.high_packet_loss, config.high_rtt
    checks = (
        ("low_mos", "MOS", "low MOS", (semconv.CX_AUDIO_MOS, semconv.CX_AUDIO_MOS_MIN), "", mos.warning_mos,
         mos.critical_mos, True, mos.platform_flags, {"low_mos"}),
        ("high_jitter", "jitter", "high jitter", (semconv.CX_AUDIO_JITTER_MS,), "ms", jitter.warning_ms,
         jitter.critical_ms, False, jitter.platform_flags, {"HighJitterBuffer", "high_jitter"}),
        ("high_packet_loss", "packet loss", "high packet loss", (semconv.CX_AUDIO_PACKET_LOSS_PCT,), "%",
         loss.warning_pct, loss.critical_pct, False, loss.platform_flags, {"HighPacketLoss", "high_packet_loss"}),
        ("high_rtt", "round-trip time", "a high round-trip time", (semconv.CX_AUDIO_RTT_MS,), "ms", rtt.warning_ms,
         rtt.critical_ms, False, rtt.platform_flags, {"HighRoundTripTime", "high_latency"}),
    )  # fmt: skip
    for span in view.spans:
        if is_synthetic(span):
            continue
        platform = name_of(span)
        point = attr(span, semconv.CX_AUDIO_MEASUREMENT_POINT)
        at = f" (measured at {str(point).replace('_', ' ')})" if point else ""
        what = _WHERE.get(str(span_type(span)), "leg")
        flags = set(texts(attr(span, AWS_CONNECT_AUDIO_QUALITY_ISSUES))) | set(texts(attr(span, TWILIO_INSIGHTS_TAGS)))
        for rule, name, flagged, names, unit, warning, critical, lower, use_flags, flag_names in checks:
            found = next(((n, v) for n in names if (v := number(attr(span, n))) is not None), None)
            if found is not None:
                source, value = found
                hit = level(value, warning, critical, lower_is_worse=lower)
                if hit is not None:
                    space = " " if unit == "ms" else ""
                    shown = "Worst MOS" if source == semconv.CX_AUDIO_MOS_MIN else f"{name[0].upper()}{name[1:]}"
                    yield Finding(rule, str(span["span_id"]), hit[0],
                                  f"{shown} {figure(value)}{space}{unit} on the {platform} "
                                  f"{what}{at}, {'below' if lower else 'above'} {figure(hit[1])}{space}{unit}",
                                  value, hit[1], unit or "mos")  # fmt: skip
            elif use_flags and flags & flag_names:
                yield Finding(rule, str(span["span_id"]), "warning",
                              f"{platform} flagged {flagged} on the {what}{at}")  # fmt: skip


def one_way_audio(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``one_way_audio``: a span that says so outright, or an AI that heard nothing from the
    customer for ``silent_turns`` turns in a row."""
    flagged: set[str] = set()
    for span in view.spans:
        if attr(span, semconv.CX_AUDIO_ONE_WAY) is True:
            flagged.add(str(span["span_id"]))
            yield Finding("one_way_audio", str(span["span_id"]), "critical",
                          f"{name_of(span)} reported one-way audio on the "
                          f"{_WHERE.get(str(span_type(span)), 'leg')}")  # fmt: skip
    needed = config.one_way_audio.silent_turns
    for conversation, turns in view.conversations:
        if str(conversation["span_id"]) in flagged or needed <= 0:
            continue
        run = _longest_silence(turns)
        if len(run) >= needed:
            yield Finding("one_way_audio", str(run[0]["span_id"]), "warning",
                          f"The {name_of(conversation)} AI heard nothing from the customer for "
                          f"{len(run)} turns in a row: the caller's audio may not be reaching it",
                          len(run), needed, "turns")  # fmt: skip


def _longest_silence(turns: list[Span]) -> list[Span]:
    """The longest run of turns in which the customer was not heard. An AI turn right after another
    AI turn counts (it spoke again, hearing nothing); a customer turn counts when it was silent; a
    turn holding both sides counts when its customer part was silent, except the opening greeting.
    Customer speech ends a run."""
    best: list[Span] = []
    run: list[Span] = []
    previous: str | None = None
    for index, turn in enumerate(turns):
        who = role(turn)
        if who == "third_party":
            continue
        if who == "agent":
            silent, spoke = previous == "agent", False
        else:
            spoke = customer_spoke(turn)
            silent = not spoke and (who == "customer" or index > 0)
        if spoke:
            run = []
        elif silent:
            run = [*run, turn]
            best = run if len(run) > len(best) else best
        previous = who
    return best


# --- AI latency ---------------------------------------------------------------------------------------------


def turn_latency(view: JourneyView, config: InsightConfig) -> Iterator[Finding]:
    """``high_turn_latency``: the slowest answer of each AI conversation (``cx.turn.latency.e2e_ms``)."""
    settings = config.high_turn_latency
    for conversation, turns in view.conversations:
        timed = [(v, t) for t in turns if (v := number(attr(t, semconv.CX_TURN_LATENCY_E2E_MS))) is not None]
        if not timed:
            continue
        worst, turn = max(timed, key=lambda pair: (pair[0], -start(pair[1])))
        hit = level(worst, settings.warning_ms, settings.critical_ms)
        if hit is None:
            continue
        slow = sum(1 for value, _ in timed if value > settings.warning_ms)
        yield Finding("high_turn_latency", str(turn["span_id"]), hit[0],
                      f"The {name_of(conversation)} AI took {duration(worst / 1000)} to answer; "
                      f"{slow} of {len(timed)} answers took over {duration(settings.warning_ms / 1000)}",
                      worst, hit[1], "ms")  # fmt: skip


# --- late data ------------------------------------------------------------------------------------------------


def data_pending(view: JourneyView, config: InsightConfig) -> Iterator[Finding | Recheck]:
    """``data_pending``: a record the platform always sends late has not arrived yet (info), or is
    overdue (warning). Amazon Connect: the contact's root span still comes from a contact event,
    no contact record replaced it yet. Twilio: the Voice Insights summary is still ``partial``."""
    settings = config.data_pending
    for interaction in view.interactions.values():
        root = interaction.root
        if interaction.platform == "amazon_connect" and (event := attr(root, AWS_CONNECT_CONTACT_EVENT)):
            ended = event in _CONNECT_ENDED_EVENTS or attr(root, semconv.CX_DISCONNECT_REASON) is not None
            yield from _pending(view, root, "Amazon Connect contact record", "they arrive 5–20 min after the call",
                                interaction.end if ended else None, settings.amazon_connect_wait_s)  # fmt: skip
        for span in interaction.spans:
            if attr(span, TWILIO_INSIGHTS_STATE) == "partial":
                yield from _pending(view, span, "complete Twilio Voice Insights summary",
                                    "it arrives up to 30 min after the call", end(span), settings.twilio_wait_s)


def _pending(view: JourneyView, span: Span, record: str, usually: str, ended: int | None,
             wait_s: float) -> Iterator[Finding | Recheck]:  # fmt: skip
    span_id = str(span["span_id"])
    if ended is None:
        yield Finding("data_pending", span_id, "info", f"The {record} has not arrived: the call is still under way "
                      f"or its end was not reported ({usually})")  # fmt: skip
        return
    deadline = ended + round(wait_s * S)
    if view.now < deadline:
        yield Recheck("data_pending", deadline)
        yield Finding("data_pending", span_id, "info", f"The {record} has not arrived yet ({usually}); "
                      f"details may still change")  # fmt: skip
        return
    late = (view.now - ended) / S
    yield Finding("data_pending", span_id, "warning", f"The {record} is still missing {duration(late)} after the "
                  f"call ended; check that the platform's export reaches journeytrace", late, wait_s, "s")  # fmt: skip
