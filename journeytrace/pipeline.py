"""The hand-off between stages: each stage consumes a SpanBatch and passes it to the next.

Receivers hold a ``SpanConsumer`` and never import the stages after them; the server wires
receivers → correlator → storage at start-up (``journeytrace.server``).
"""

from __future__ import annotations

from typing import Protocol

from journeytrace.spans import SpanBatch


class SpanConsumer(Protocol):
    def check_capacity(self) -> None:
        """Raise ``errors.Overloaded`` if a new request would be refused; called before decoding."""

    async def consume(self, batch: SpanBatch) -> None:
        """Take ``batch``; return only once it is durable. Raises ``errors.PipelineError``."""
