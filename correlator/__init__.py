"""Correlator stage: links spans from different platforms into one journey = one trace.

Two parts, because correlation must commit atomically with the spans it labels:

- ``Correlator`` (this package's pipeline stage) runs on the receiving path, before the
  write-ahead log: it replaces customer phone numbers by keyed hashes (``pii.py``).
- ``state.correlate`` runs inside storage's commit: it extracts correlation tokens
  (``keys.py``), links interactions, recomputes journeys as connected components, rewrites
  stored spans when journeys merge and records aliases. ``assembly.py`` turns a journey's
  stored spans, legs and links into the trace the read APIs show.
"""

from __future__ import annotations

from journeytrace.correlator.config import CorrelatorConfig
from journeytrace.correlator.pii import protect_phone_numbers
from journeytrace.pipeline import SpanConsumer
from journeytrace.spans import SpanBatch

__all__ = ["Correlator", "CorrelatorConfig"]


class Correlator:
    """The pipeline stage between receivers and storage."""

    def __init__(self, config: CorrelatorConfig, next_consumer: SpanConsumer) -> None:
        self.config = config
        self._next = next_consumer

    def check_capacity(self) -> None:
        self._next.check_capacity()

    async def consume(self, batch: SpanBatch) -> None:
        if len(batch):
            batch = protect_phone_numbers(
                batch, self.config.phone_hash_key, keep_raw=self.config.store_raw_phone_numbers
            )
        await self._next.consume(batch)
