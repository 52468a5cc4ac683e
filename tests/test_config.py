"""Configuration: YAML file < JOURNEYTRACE_* environment < flags, validated with every problem
listed; ``serve --help`` documents every setting; SIGTERM/SIGINT stop the server cleanly.
"""

from __future__ import annotations

import dataclasses
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml

from journeytrace import config
from jt_helpers import Server, clean_env, free_ports, grpc_export, new_trace_id, port_accepts, simple_request, span_ids_hex, wait_for_span_ids

SETTINGS = {f.name: f for f in dataclasses.fields(config.Config)}


def _sample(name: str) -> Any:
    """A valid value for a setting, different from its default."""
    default = getattr(config.Config(), name)
    if name == "log_level":
        return "debug"
    if name == "phone_hash_key":
        return "ab" * 16
    if name == "memory_limit":
        return "1.5GB"
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 7
    if isinstance(default, float):
        return default + 1.5
    if isinstance(default, Path):
        return Path(f"/tmp/jt-{name}")
    return f"x-{name}"


def _write_yaml(tmp_path: Path, data: dict[str, Any], name: str = "settings.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({k: str(v) if isinstance(v, Path) else v for k, v in data.items()}))
    return path


# --- config.load() ------------------------------------------------------------------------------


def test_defaults_when_nothing_is_set():
    assert config.load(flags={}, environ={}) == config.Config()


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_setting_from_every_source(tmp_path, name):
    value = _sample(name)
    env_name = config.ENV_PREFIX + name.upper()
    for key in (name, name.replace("_", "-")):
        loaded = config.load(flags={}, environ={}, config_file=_write_yaml(tmp_path, {key: value}))
        assert getattr(loaded, name) == value, f"YAML key {key!r}"
    assert getattr(config.load(flags={}, environ={env_name: str(value)}), name) == value
    assert getattr(config.load(flags={name: str(value)}, environ={}), name) == value


def test_precedence_flags_over_env_over_file(tmp_path):
    path = _write_yaml(
        tmp_path,
        {"query-port": 1111, "otlp_grpc_port": 2222, "otlp_http_port": 3333, "tenant": "from-file", "log_level": "error"},
    )
    environ = {"JOURNEYTRACE_QUERY_PORT": "4444", "JOURNEYTRACE_OTLP_GRPC_PORT": "5555", "JOURNEYTRACE_TENANT": "from-env"}
    flags = {"query_port": "6666", "tenant": None, "log_level": None}
    loaded = config.load(flags=flags, environ=environ, config_file=path)
    assert loaded.query_port == 6666  # flag > env > file
    assert loaded.otlp_grpc_port == 5555  # env > file
    assert loaded.otlp_http_port == 3333  # file only
    assert loaded.tenant == "from-env"  # a flag left as None does not override
    assert loaded.log_level == "error"
    assert loaded.tempo_port == config.Config().tempo_port  # default


def test_load_reads_os_environ_only_when_no_environ_is_given(monkeypatch):
    monkeypatch.setenv("JOURNEYTRACE_QUERY_PORT", "7777")
    assert config.load(flags={}).query_port == 7777
    assert config.load(flags={}, environ={}).query_port == config.Config().query_port


def test_every_validation_problem_is_listed_at_once():
    flags = {
        "query_port": "0",
        "otlp_grpc_port": "70000",
        "otlp_http_port": "4000",
        "tempo_port": "4000",
        "max_request_bytes": "0",
        "max_queued_spans": "-5",
        "max_commit_spans": "0",
        "commit_interval_ms": "0",
        "tenant": "",
        "log_level": "loud",
        "memory_limit": "lots",
        "receiver_nice": "20",
        "writer_nice": "-1",
    }
    with pytest.raises(config.ConfigError) as info:
        config.load(flags=flags, environ={})
    message = str(info.value)
    for expected in (
        "query_port: 0", "otlp_grpc_port: 70000", "tempo_port: port 4000 is already used by otlp_http_port",
        "max_request_bytes", "max_queued_spans", "max_commit_spans", "commit_interval_ms", "tenant", "log_level",
        "memory_limit: 'lots' is not a size such as 384MB or 4GB", "receiver_nice: 20 is not a nice increment (0-19)",
        "writer_nice: -1 is not a nice increment (0-19)",
    ):  # fmt: skip
        assert expected in message, f"{expected!r} missing from:\n{message}"


@pytest.mark.parametrize(("size", "expected"), [
    ("384MB", 384 * 10**6), ("4GB", 4 * 10**9), ("2gb", 2 * 10**9), ("1.5 GiB", 3 * 2**29), ("512KiB", 2**19),
])  # fmt: skip
def test_memory_sizes_count_bytes_as_duckdb_does(size, expected):
    """MB is 10^6 bytes and MiB 2^20, as in DuckDB's memory_limit (the pool advice compares them
    with the file's size)."""
    assert config.memory_bytes(size) == expected


def test_type_errors_name_the_source():
    with pytest.raises(config.ConfigError, match="JOURNEYTRACE_QUERY_PORT"):
        config.load(flags={}, environ={"JOURNEYTRACE_QUERY_PORT": "sixteen"})
    with pytest.raises(config.ConfigError, match="query_port"):
        config.load(flags={"query_port": "1.5"}, environ={})


def test_type_errors_and_validation_errors_are_all_listed_together():
    """The ConfigError contract is "the message lists every problem found": a bad integer must
    not hide the other problems (the operator would fix them one restart at a time)."""
    with pytest.raises(config.ConfigError) as info:
        config.load(
            flags={"query_port": "abc", "otlp_grpc_port": "xyz", "log_level": "loud"},
            environ={"JOURNEYTRACE_MAX_QUEUED_SPANS": "lots"},
        )
    message = str(info.value)
    for expected in ("query_port", "otlp_grpc_port", "log_level", "MAX_QUEUED_SPANS"):
        assert expected in message, f"{expected!r} missing from:\n{message}"


@pytest.mark.parametrize(
    "content, expected",
    [
        ("query_port: 1\nno_such_setting: 3\n", "no_such_setting"),
        ("- a\n- b\n", "mapping"),
        ("query_port: [1, 2\n", "settings.yaml"),
        ("query_port: true\n", "query_port"),
        ("query_port: 8080.7\n", "query_port"),
        ("max_queued_spans: 1e3\n", "max_queued_spans"),
    ],
)
def test_bad_yaml_files(tmp_path, content, expected):
    path = tmp_path / "settings.yaml"
    path.write_text(content)
    with pytest.raises(config.ConfigError) as info:
        loaded = config.load(flags={}, environ={}, config_file=path)
        print("accepted:", loaded)
    assert expected in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(config.ConfigError, match="nope.yaml"):
        config.load(flags={}, environ={}, config_file=tmp_path / "nope.yaml")


def test_empty_yaml_file_means_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert config.load(flags={}, environ={}, config_file=path) == config.Config()


# --- the CLI --------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeytrace", *args],
        capture_output=True, text=True, timeout=timeout, env=clean_env(env), stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_help_lists_every_setting():
    result = _cli("serve", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for name in SETTINGS:
        assert f"--{name.replace('_', '-')}" in text, f"--{name} missing from serve --help"
        default = getattr(config.Config(), name)
        assert f"(default: {default})" in text, f"default of {name} missing from serve --help"
    assert "--config" in text
    assert "JOURNEYTRACE_" in text


def test_cli_invalid_config_exits_2_listing_every_problem(tmp_path):
    result = _cli(
        "serve", "--data-dir", str(tmp_path / "data"), "--query-port", "0", "--log-level", "loud", "--tenant", "",
        env={"JOURNEYTRACE_MAX_QUEUED_SPANS": "0"},
    )  # fmt: skip
    assert result.returncode == 2, (result.returncode, result.stderr)
    for expected in ("query_port", "log_level", "tenant", "max_queued_spans"):
        assert expected in result.stderr, f"{expected!r} missing from:\n{result.stderr}"
    assert not (tmp_path / "data").exists(), "nothing may be created for an invalid configuration"


def test_cli_bad_integers_exit_2_listing_each(tmp_path):
    result = _cli("serve", "--data-dir", str(tmp_path / "data"), "--query-port", "abc", "--otlp-grpc-port", "xyz")
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "query_port" in result.stderr and "otlp_grpc_port" in result.stderr, result.stderr


def test_cli_unknown_yaml_key_exits_2(tmp_path):
    path = _write_yaml(tmp_path, {"query_prot": 1234})
    result = _cli("serve", "--config", str(path), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "query_prot" in result.stderr


@pytest.mark.parametrize(
    "rules, expected",
    [
        (None, "missing.yaml"),
        ("rules: [{name: 'bad name!', from: {platform: a, attribute: b}, to: {platform: c, attribute: d}}]\n", "name"),
        ("rules: 5\n", "rules"),
    ],
    ids=["missing-file", "bad-rule-name", "not-a-list"],
)
def test_cli_bad_correlation_rules_exit_2(tmp_path, rules, expected):
    path = tmp_path / "missing.yaml"
    if rules is not None:
        path = tmp_path / "rules.yaml"
        path.write_text(rules)
    query_port = free_ports(1)[0]
    result = _cli("serve", "--data-dir", str(tmp_path / "data"), "--query-port", str(query_port),
                  "--correlation-rules", str(path))  # fmt: skip
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert expected in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_cli_precedence_with_a_real_server(tmp_path):
    """A real `serve` reading a YAML file, the environment and flags binds where precedence says."""
    (file_query, file_grpc, file_http, env_query, env_grpc, env_tempo, flag_grpc, file_tempo) = free_ports(8)
    data_dir = tmp_path / "from-yaml"
    path = _write_yaml(
        tmp_path,
        {"data-dir": data_dir, "query_port": file_query, "otlp-grpc-port": file_grpc, "otlp_http_port": file_http,
         "tempo_port": file_tempo, "log_level": "debug"},
    )  # fmt: skip
    env = {
        "JOURNEYTRACE_QUERY_PORT": str(env_query),
        "JOURNEYTRACE_OTLP_GRPC_PORT": str(env_grpc),
        "JOURNEYTRACE_TEMPO_PORT": str(env_tempo),
        "JOURNEYTRACE_MAX_REQUEST_BYTES": "50000",
        "JOURNEYTRACE_MEMORY_LIMIT": "2GiB",
    }
    server = Server(tmp_path / "unused", tmp_path / "logs", args=["--config", str(path), "--otlp-grpc-port", str(flag_grpc)],
                    env=env, use_flags=False)  # fmt: skip
    server.query_port, server.grpc_port, server.http_port = env_query, flag_grpc, file_http
    try:
        server.start()
        assert (data_dir / "journeytrace.duckdb").exists()  # data dir from the file
        assert not port_accepts(file_query) and not port_accepts(file_grpc) and not port_accepts(env_grpc)
        assert "DEBUG" in server.log_text()  # log level from the file
        assert "(DuckDB buffer pool 2.0 GiB)" in server.log_text()  # memory limit from the environment
        # max_request_bytes from the environment: 60 kB is refused.
        request = simple_request(new_trace_id(), 1, attributes={"blob": "b" * 60_000})
        response = httpx.post(server.traces_url, content=request.SerializeToString(),
                              headers={"content-type": "application/x-protobuf"}, timeout=15)  # fmt: skip
        assert response.status_code == 413
    finally:
        server.ensure_stopped()


# --- signals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_and_keeps_data(server_factory, sig):
    server = server_factory("--commit-interval-ms", "5000")  # acknowledged spans still wait in the log
    trace_id = new_trace_id()
    request = simple_request(trace_id, 50)
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        grpc_export(channel, request)
    assert server.stop(sig, timeout=30) == 0, server.log_tail()
    server.start()
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        wait_for_span_ids(client, trace_id.hex(), span_ids_hex(request), timeout=15)


@pytest.mark.parametrize("flag", ["--otlp-grpc-port", "--otlp-http-port"])
def test_cli_a_taken_receiver_port_exits_1_naming_it(tmp_path, flag):
    """The receivers listen in the receiver process; when one cannot, the server says so and exits."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        query_port, tempo_port, other = free_ports(3)
        other_flag = "--otlp-http-port" if flag == "--otlp-grpc-port" else "--otlp-grpc-port"
        result = _cli("serve", "--data-dir", str(tmp_path / "data"), "--query-port", str(query_port),
                      "--tempo-port", str(tempo_port), other_flag, str(other), flag, str(port))  # fmt: skip
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "cannot start" in result.stderr and str(port) in result.stderr, result.stderr[-2000:]


def test_cli_a_bad_platform_adapter_file_exits_2(tmp_path):
    path = tmp_path / "adapters"
    path.mkdir()
    (path / "bad.yaml").write_text("platform: 5\n")
    query_port, tempo_port, grpc_port, http_port = free_ports(4)
    result = _cli("serve", "--data-dir", str(tmp_path / "data"), "--query-port", str(query_port),
                  "--tempo-port", str(tempo_port), "--otlp-grpc-port", str(grpc_port),
                  "--otlp-http-port", str(http_port), "--platform-adapters", str(path))  # fmt: skip
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "platform adapter file" in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
