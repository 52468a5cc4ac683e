"""Platform adapters: native CX events (webhooks, contact records, CDRs) become OTLP spans.

``adapters/`` holds one module per platform, each exposing ``ADAPTER``; ``registry.py`` finds
them (and the declarative YAML adapters); ``http.py`` serves ``POST /v1/platforms/{platform}``.
"""
