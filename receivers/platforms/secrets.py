"""Per-platform webhook secrets, from a YAML file kept out of the config and the logs.

    twilio: "your auth token"
    retell: "your API key"
    vapi: "the server URL secret"
    livekit: "api-key:api-secret"
    amazon_connect: "a bearer token your stream forwarder sends"
"""

from __future__ import annotations

from pathlib import Path

import yaml

from journeytrace.config import ConfigError


def load_secrets(path: Path) -> dict[str, str]:
    """``platform → secret``; any problem is a ``ConfigError`` that never quotes a secret."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"platform secrets file {path}: {type(exc).__name__}") from None
    if not isinstance(document, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in document.items()
    ):
        raise ConfigError(f"platform secrets file {path}: expected a mapping of platform name to non-empty secret")
    return dict(document)
