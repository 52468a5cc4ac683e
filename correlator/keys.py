"""Which attributes link interactions, and how strongly.

Every span yields tokens; two interactions that share a token are linked. A token names the
thing both sides saw (a journey ID, a trace ID, one platform's interaction ID, a SIP Call-ID,
a UUI value, a user-rule value). The method and confidence of a link come from the tokens'
sources, strongest first (issue #3, cx-platforms.md §1):

=================  ==========  =====================================================================
method             confidence  token source
=================  ==========  =====================================================================
journey_token      1.0         ``cx.journey.id``
trace_context      1.0         the span's trace ID, or the trace ID in ``cx.journey.traceparent``
parent_id          1.0         ``cx.platform.interaction.{previous,initial,related,parent}_id``
                               (an interaction ID of the same platform)
foreign_id         0.95        ``cx.peer.platform.name`` + ``cx.peer.interaction.id`` (another
                               platform's interaction ID carried across the boundary)
sip_call_id        0.9         ``sip.call_id``
uui                0.9         ``cx.telephony.uui``
rule:<name>        per rule    user rules (``correlator.config``)
ani_time           0.6         no token: same customer number hash, the next leg's dialled number
                               hash equals the previous leg's transfer target hash, and it starts
                               within the window around the transfer (the latest end of a span
                               naming the target, else the previous leg's end; ``state.py``)
=================  ==========  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from journeytrace import semconv
from journeytrace.correlator.config import Rule


@dataclass(frozen=True, slots=True)
class TokenSource:
    attribute: str
    method: str
    confidence: float
    prefix: str
    """Token = prefix + value; ``interaction:{platform}:`` takes the span's platform."""


ATTRIBUTE_TOKENS = (
    TokenSource(semconv.CX_JOURNEY_ID, "journey_token", 1.0, "journey:"),
    TokenSource(semconv.CX_INTERACTION_PREVIOUS_ID, "parent_id", 1.0, "interaction:{platform}:"),
    TokenSource(semconv.CX_INTERACTION_INITIAL_ID, "parent_id", 1.0, "interaction:{platform}:"),
    TokenSource(semconv.CX_INTERACTION_RELATED_ID, "parent_id", 1.0, "interaction:{platform}:"),
    TokenSource(semconv.CX_INTERACTION_PARENT_ID, "parent_id", 1.0, "interaction:{platform}:"),
    TokenSource(semconv.SIP_CALL_ID, "sip_call_id", 0.9, "sip:"),
    TokenSource(semconv.CX_TELEPHONY_UUI, "uui", 0.9, "uui:"),
)
SELF_METHOD = "self"
TRACE_METHOD = "trace_context"
FOREIGN_METHOD = "foreign_id"
FOREIGN_CONFIDENCE = 0.95
ANI_TIME_METHOD = "ani_time"
ANI_TIME_CONFIDENCE = 0.6


def rule_method(rule: Rule) -> str:
    return f"rule:{rule.name}"


def rule_token_prefix(rule: Rule) -> str:
    return f"rule:{rule.name}:"
