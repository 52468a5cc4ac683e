"""Server configuration: one typed dataclass, loaded from YAML < environment < flags.

Every setting is declared once, as a field with a help text; the CLI flags, the
``JOURNEYTRACE_*`` environment variables and the YAML keys are all derived from the
field names, so they cannot drift apart. Nothing below the CLI reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "JOURNEYTRACE_"
MiB = 1024 * 1024


_MEMORY_SIZE = re.compile(r"[1-9][0-9]*(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_MEMORY_UNITS = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_bytes(size: str) -> int:
    """Bytes in a size such as ``384MB`` or ``4GiB``, as DuckDB reads it (MB = 10^6, MiB = 2^20)."""
    match = _MEMORY_SIZE.fullmatch(size)
    if match is None:
        raise ValueError(f"{size!r} is not a size such as 384MB or 4GB")
    return int(float(size[: match.start(2)]) * _MEMORY_UNITS[match.group(2).lower()])


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """Everything `journeytrace serve` needs; the defaults run a single local node."""

    host: str = _setting("127.0.0.1", "address every port binds to (0.0.0.0 to listen on all interfaces)")
    data_dir: Path = _setting(Path("data"), "folder holding the DuckDB file (created if missing)")
    otlp_grpc_port: int = _setting(4317, "OTLP/gRPC receiver port (TraceService/Export)")
    otlp_http_port: int = _setting(4318, "OTLP/HTTP receiver port (POST /v1/traces)")
    query_port: int = _setting(16686, "query API and web page port")
    tempo_port: int = _setting(3200, "Tempo-compatible API port")
    tenant: str = _setting("default", "tenant that data received without a tenant is stored under")
    max_request_bytes: int = _setting(16 * MiB, "largest OTLP request accepted, after decompression")
    max_queued_spans: int = _setting(
        300_000, "spans accepted but not yet committed; beyond this, senders are told to retry later"
    )
    max_commit_spans: int = _setting(
        250_000, "most spans written to DuckDB in one transaction (large ones are cheaper per span)"
    )
    commit_interval_ms: int = _setting(
        100, "a commit starts at most once per interval, so spans arriving within one share a commit"
    )
    receiver_nice: int = _setting(
        5, "how much lower the receiver process's CPU priority is than the server's (a nice increment, "
        "0-19): on busy cores reads and commits run first, and an acknowledgement waits a little longer"
    )
    writer_nice: int = _setting(
        5, "how much lower the storage writer's CPU priority is than the readers' (a nice increment, 0-19): "
        "on busy cores a read runs before a commit; 0 favours peak ingest instead (about a tenth more on two cores)"
    )
    memory_limit: str = _setting(
        "384MB", "DuckDB's buffer pool (e.g. 4GB): more keeps more of the file in memory and reads of older "
        "journeys faster; the default keeps the server under 1 GiB while it ingests"
    )
    phone_hash_key: str = _setting(
        "", "hex HMAC key for customer phone numbers (default: generated into DATA_DIR/phone-hash.key)"
    )
    store_raw_phone_numbers: bool = _setting(False, "keep raw customer numbers; by default only keyed hashes")
    correlation_rules: str = _setting("", "YAML file of extra correlation rules (see docs/correlation.md)")
    phone_time_matching: bool = _setting(
        True, "link legs by customer number + transfer target + time when no ID links them"
    )
    match_window_before_s: float = _setting(5.0, "a next leg may start this many seconds before the transfer")
    match_window_after_s: float = _setting(60.0, "... and this many seconds after it")
    journey_quiet_period_s: float = _setting(1800.0, "a journey with no new data for this long is complete")
    platform_secrets: str = _setting(
        "", "YAML file of webhook secrets per platform; requests to a platform with a secret must be signed"
    )
    platform_adapters: str = _setting(
        "", "folder of declarative adapter YAML files for platforms without a native adapter (docs/adapters.md)"
    )
    public_url: str = _setting(
        "", "the URL platforms post to, as they see it (behind a proxy), for signatures that cover the URL"
    )
    analysis: bool = _setting(True, "detect insights and write summaries as journeys change (docs/insights.md)")
    insight_thresholds: str = _setting("", "YAML file overriding insight thresholds or turning rules off")
    summary_llm_base_url: str = _setting(
        "", "OpenAI-compatible API (e.g. http://localhost:11434/v1) for journey summaries; default: offline"
    )
    summary_llm_model: str = _setting("", "model name for LLM summaries")
    summary_llm_api_key: str = _setting("", "API key for the LLM endpoint (never logged)")
    jaeger_ui_url: str = _setting("", "Jaeger UI's URL, for 'open in Jaeger' links on journey pages")
    grafana_url: str = _setting("", "Grafana's URL, for 'open in Grafana' links on journey pages")
    grafana_tempo_datasource: str = _setting("", "UID of Grafana's Tempo data source reading journeytrace")
    log_level: str = _setting("info", "debug, info, warning or error")

    @property
    def database_path(self) -> Path:
        return self.data_dir / "journeytrace.duckdb"

    def validate(self) -> list[str]:
        """Every problem with this config, each prefixed with the setting's name."""
        errors = []
        ports = {
            "otlp_grpc_port": self.otlp_grpc_port,
            "otlp_http_port": self.otlp_http_port,
            "query_port": self.query_port,
            "tempo_port": self.tempo_port,
        }
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                errors.append(f"{name}: {port} is not a port number (1-65535)")
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                errors.append(f"{name}: port {port} is already used by {seen[port]}")
            seen.setdefault(port, name)
        for name in ("max_request_bytes", "max_queued_spans", "max_commit_spans", "commit_interval_ms"):
            if getattr(self, name) <= 0:
                errors.append(f"{name}: must be > 0")
        for name in ("receiver_nice", "writer_nice"):
            if not 0 <= getattr(self, name) <= 19:
                errors.append(f"{name}: {getattr(self, name)} is not a nice increment (0-19)")
        if not _MEMORY_SIZE.fullmatch(self.memory_limit):
            errors.append(f"memory_limit: {self.memory_limit!r} is not a size such as 384MB or 4GB")
        if self.phone_hash_key:
            try:
                if len(bytes.fromhex(self.phone_hash_key)) < 16:
                    errors.append("phone_hash_key: must be at least 16 bytes (32 hex characters)")
            except ValueError:
                errors.append("phone_hash_key: must be hex")
        for name in ("match_window_before_s", "match_window_after_s"):
            if getattr(self, name) < 0:
                errors.append(f"{name}: must be >= 0")
        if self.journey_quiet_period_s <= 0:
            errors.append("journey_quiet_period_s: must be > 0")
        if not self.tenant:
            errors.append("tenant: must not be empty")
        if self.log_level not in ("debug", "info", "warning", "error"):
            errors.append(f"log_level: {self.log_level!r} is not one of debug, info, warning, error")
        return errors


class ConfigError(ValueError):
    """The configuration cannot be used; the message lists every problem found."""


SETTINGS: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(Config)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _convert(name: str, raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in _TRUE + _FALSE:
            return str(raw).lower() in _TRUE
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")
    if kind is float:
        if isinstance(raw, bool):
            raise ConfigError(f"{name}: expected a number, got {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"[+-]?[0-9]+", raw.strip()):
            return int(raw)
        raise ConfigError(f"{name}: expected an integer, got {raw!r}")
    if kind is Path:
        return Path(str(raw))
    return str(raw)


def _field_type(f: dataclasses.Field[Any]) -> type:
    return {"int": int, "Path": Path, "bool": bool, "float": float}.get(str(f.type), str)


def load(
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Config:
    """Merge the YAML file, then environment variables, then flags (highest wins), and validate."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    names = {f.name: f for f in SETTINGS}

    def put(name: str, label: str, raw: Any) -> None:
        try:
            values[name] = _convert(label, raw, _field_type(names[name]))
        except ConfigError as exc:
            errors.append(str(exc))

    if config_file is not None:
        try:
            data = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {config_file}: expected a mapping of settings")
        for key, raw in data.items():
            name = str(key).replace("-", "_")
            if name not in names:
                errors.append(f"config file {config_file}: unknown setting {key!r}")
            else:
                put(name, name, raw)
    for name in names:
        raw = (environ if environ is not None else os.environ).get(ENV_PREFIX + name.upper())
        if raw is not None:
            put(name, ENV_PREFIX + name.upper(), raw)
    for name, raw in (flags or {}).items():
        if raw is not None:
            put(name, name, raw)
    config = Config(**values)
    errors += config.validate()
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    return config
