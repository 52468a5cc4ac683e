"""Attribute names journeytrace reads or writes.

OpenTelemetry names are used wherever they exist; ``cx.*`` names are ours and every one is
documented in ``docs/semantic-conventions.md``.
"""

# OpenTelemetry resource and span attributes.
SERVICE_NAME = "service.name"

# CX conventions (docs/semantic-conventions.md).
CX_JOURNEY_ID = "cx.journey.id"
CX_SPAN_TYPE = "cx.span.type"
CX_PLATFORM_NAME = "cx.platform.name"
CX_PLATFORM_INTERACTION_ID = "cx.platform.interaction.id"
CX_TELEPHONY_ANI_NUMBER = "cx.telephony.ani.number"
CX_TELEPHONY_ANI_HASH = "cx.telephony.ani.hash"
CX_QUEUE_NAME = "cx.queue.name"
CX_AGENT_ID = "cx.agent.id"

UNKNOWN_SERVICE = "unknown_service"
CX_TELEPHONY_DNIS_NUMBER = "cx.telephony.dnis.number"
CX_TELEPHONY_DNIS_HASH = "cx.telephony.dnis.hash"
CX_TRANSFER_TARGET = "cx.transfer.target"
CX_TRANSFER_TARGET_HASH = "cx.transfer.target.hash"
CX_TELEPHONY_UUI = "cx.telephony.uui"
SIP_CALL_ID = "sip.call_id"
CX_TRACEPARENT = "cx.journey.traceparent"
CX_INTERACTION_PREVIOUS_ID = "cx.platform.interaction.previous_id"
CX_INTERACTION_INITIAL_ID = "cx.platform.interaction.initial_id"
CX_INTERACTION_RELATED_ID = "cx.platform.interaction.related_id"
CX_INTERACTION_PARENT_ID = "cx.platform.interaction.parent_id"
CX_PEER_PLATFORM_NAME = "cx.peer.platform.name"
CX_PEER_INTERACTION_ID = "cx.peer.interaction.id"
CX_LEG_NUMBER = "cx.leg.number"
CX_JOURNEY_LEG_COUNT = "cx.journey.leg_count"
CX_ORIGINAL_TRACE_ID = "cx.original.trace_id"
CX_HANDOFF_FROM_PLATFORM = "cx.handoff.from.platform"
CX_HANDOFF_TO_PLATFORM = "cx.handoff.to.platform"
CX_HANDOFF_LATENCY_MS = "cx.handoff.latency_ms"
CX_HANDOFF_SYNTHETIC = "cx.handoff.synthetic"
CX_CORRELATION_METHOD = "cx.correlation.method"
CX_JOURNEY_OUTCOME = "cx.journey.outcome"
CX_AI_OUTCOME = "cx.ai.outcome"
CX_IVR_OUTCOME = "cx.ivr.outcome"
CX_QUEUE_EXIT_REASON = "cx.queue.exit_reason"
CX_DISCONNECT_REASON = "cx.disconnect.reason"
