"""journeytrace: an OpenTelemetry-native trace backend for contact-center customer journeys.

The data flows through four stages, each its own package and top-level folder:
``journeytrace.receivers`` → ``journeytrace.correlator`` → ``journeytrace.storage`` →
``journeytrace.query``. This core package holds what they share: configuration, the CLI,
the span model and the semantic conventions.
"""

__version__ = "0.1.0"
