"""Storage stage: spans in an embedded DuckDB file, written by one thread, read by many.

``SpanStore`` is the only way in: ``consume()`` returns once the spans are committed (so a
receiver may acknowledge them), and ``read()`` runs a query function on a reader cursor.
"""

from journeytrace.storage.store import SpanStore, StoreConfig

__all__ = ["SpanStore", "StoreConfig"]
