"""Errors that cross stage boundaries, each saying whether the sender should retry.

    PipelineError
    ├── InvalidInput        permanent: the data is wrong (gRPC INVALID_ARGUMENT, HTTP 400)
    │   └── PayloadTooLarge permanent: the request is over the size limit (HTTP 413)
    ├── Overloaded          retry later: queue full (gRPC RESOURCE_EXHAUSTED, HTTP 503 + Retry-After)
    └── StorageUnavailable  retry later: the store cannot commit right now (UNAVAILABLE, HTTP 503)

Each transport maps these in one function (``receivers.otlp_grpc`` and ``receivers.otlp_http``).
"""

import math


class PipelineError(Exception):
    """Base class; ``str(error)`` is safe to show to the sender."""


class InvalidInput(PipelineError):
    """The request cannot be understood; resending it unchanged will fail again."""


class PayloadTooLarge(InvalidInput):
    """The request is larger than ``max_request_bytes``."""


class Overloaded(PipelineError):
    """Too much data is waiting to be written; the sender should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_header(error: Overloaded) -> str:
    """HTTP ``Retry-After`` for ``error``: whole seconds, at least one."""
    return str(max(1, math.ceil(error.retry_after)))


class StorageUnavailable(PipelineError):
    """The store is closed or failing; retrying later may succeed."""
