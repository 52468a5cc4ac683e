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
