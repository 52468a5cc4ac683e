"""Shared helpers for the end-to-end tests: the server process, polling, OTLP request builders.

Everything here talks to a real ``python -m journeytrace serve`` subprocess over real sockets.
Acknowledged spans become visible to queries only after the store's write-ahead log has been
applied to DuckDB (up to a second or two later), so every read-after-write polls.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from journeytrace.values import to_proto

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"

READ_TIMEOUT = 15.0
"""How long a test waits for acknowledged spans to become visible to queries."""


# --- ports and the server process -------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago (bound to port 0 together, then closed)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def child_processes(pid: int) -> dict[int, str]:
    """The live (not zombie) children of process ``pid``: their pid → command line."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
            if int(parent) == pid and state != "Z":
                children[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue  # it ended while being read
    return children


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any JOURNEYTRACE_* setting (they would change the server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYTRACE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class ServerExited(RuntimeError):
    pass


class Server:
    """One ``python -m journeytrace serve`` subprocess on free ports with its own data dir.

    Output (stdout and stderr) of each start goes to ``<log_dir>/server-<n>.log``. The same
    data dir and ports are reused by ``restart()``.
    """

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        use_flags: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.args = list(args)
        self.env = dict(env or {})
        self.use_flags = use_flags
        self.grpc_port, self.http_port, self.query_port, self.tempo_port = free_ports(4)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path: Path | None = None

    # addresses
    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def traces_url(self) -> str:
        return f"{self.http_base}/v1/traces"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "journeytrace", "serve"]
        if self.use_flags:
            cmd += [
                "--data-dir", str(self.data_dir),
                "--otlp-grpc-port", str(self.grpc_port),
                "--otlp-http-port", str(self.http_port),
                "--query-port", str(self.query_port),
                "--tempo-port", str(self.tempo_port),
            ]  # fmt: skip
        return cmd + self.args

    # lifecycle
    def start(self, wait: bool = True, timeout: float = 60.0) -> Server:
        assert not self.running, "server already running"
        self.starts += 1
        self.log_path = self.log_dir / f"server-{self.starts}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(self.env),
                cwd=str(self.log_dir),
            )
        if wait:
            self.wait_ready(timeout)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``GET /readyz`` until 200, then until both OTLP ports accept connections.

        (The query port reports ready as soon as storage is open; the receivers start a few
        milliseconds later, so the OTLP ports are checked too.)
        """
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    raise ServerExited(
                        f"server exited with code {self.proc.returncode if self.proc else None} before it was ready:\n"
                        + self.log_tail()
                    )
                try:
                    ready = client.get(self.query_url + "/readyz").status_code == 200
                except httpx.TransportError:
                    ready = False
                if ready and port_accepts(self.grpc_port) and port_accepts(self.http_port):
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server not ready after {timeout}s:\n" + self.log_tail())
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit; return the exit code (kill -9 and fail if it hangs)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"server did not exit within {timeout}s of signal {sig}:\n" + self.log_tail()
                ) from None
        return self.proc.returncode

    def receiver_pid(self) -> int | None:
        """The server's receiver process (``journeytrace.receiving``), if it runs."""
        for pid, command in child_processes(self.pid).items():
            if "spawn_main" in command:  # multiprocessing's resource tracker is a child too
                return pid
        return None

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def restart(self, wait: bool = True) -> Server:
        if self.running:
            rc = self.stop()
            assert rc == 0, f"server exited with {rc} on SIGTERM:\n{self.log_tail()}"
        return self.start(wait=wait)

    def ensure_stopped(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop(timeout=15)
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    # diagnostics
    def log_text(self) -> str:
        texts = []
        for n in range(1, self.starts + 1):
            path = self.log_dir / f"server-{n}.log"
            if path.exists():
                texts.append(f"--- {path} ---\n" + path.read_text(errors="replace"))
        return "\n".join(texts)

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_text()[-chars:]

    def rss_bytes(self) -> int:
        """Resident set size of the server process (VmRSS from /proc/<pid>/status)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")


# --- polling ------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float = READ_TIMEOUT, interval: float = 0.1, what: str = "") -> Any:
    """Call ``predicate`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last value {last!r}")
        time.sleep(interval)


CORRELATOR_ATTRIBUTES = ("cx.leg.number", "cx.original.trace_id")
"""Attributes the correlator adds to stored spans on read (docs/correlation.md)."""


def real_spans(journey: dict[str, Any]) -> list[dict[str, Any]]:
    """The spans that were sent, without the synthetic ones the correlator adds on read
    (the journey root, handoffs)."""
    return [s for s in journey["spans"] if not s.get("synthetic")]


def user_attributes(span: dict[str, Any]) -> dict[str, Any]:
    """A span's attributes without the ones the correlator adds on read."""
    return {k: v for k, v in span["attributes"].items() if k not in CORRELATOR_ATTRIBUTES}


def root_span_id(journey_id: str) -> str:
    """The synthetic root span's ID: sha256("cx-root:" + trace_id)[:8 bytes] (docs/correlation.md)."""
    return hashlib.sha256(b"cx-root:" + journey_id.encode()).hexdigest()[:16]


def wait_for_journey(
    client: httpx.Client, journey_id: str, expected_spans: int, timeout: float = READ_TIMEOUT
) -> dict[str, Any]:
    """Poll ``GET /api/journeys/{id}`` until it holds at least ``expected_spans`` spans that were
    sent (synthetic ones not counted); return it."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        response = client.get(f"/api/journeys/{journey_id}")
        last = response
        if response.status_code == 200:
            journey = response.json()
            if len(real_spans(journey)) >= expected_spans:
                return journey
        elif response.status_code != 404:
            raise AssertionError(
                f"GET /api/journeys/{journey_id} answered {response.status_code}: {response.text[:2000]}"
            )
        if time.monotonic() > deadline:
            detail = last.text[:1000] if last is not None else ""
            raise AssertionError(
                f"journey {journey_id} did not reach {expected_spans} spans within {timeout}s; "
                f"last answer {last.status_code if last is not None else None}: {detail}"
            )
        time.sleep(0.1)


def wait_for_span_ids(
    client: httpx.Client, journey_id: str, span_ids: Iterable[str], timeout: float = READ_TIMEOUT
) -> dict[str, Any]:
    """Poll until the journey holds every span in ``span_ids``; fail naming the missing ones."""
    wanted = set(span_ids)
    deadline = time.monotonic() + timeout
    missing: set[str] = wanted
    while True:
        response = client.get(f"/api/journeys/{journey_id}")
        if response.status_code == 200:
            journey = response.json()
            missing = wanted - {s["span_id"] for s in journey["spans"]}
            if not missing:
                return journey
        elif response.status_code != 404:
            raise AssertionError(f"GET /api/journeys/{journey_id} answered {response.status_code}: {response.text[:2000]}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"journey {journey_id}: {len(missing)} of {len(wanted)} acknowledged spans never became visible "
                f"(e.g. {sorted(missing)[:5]})"
            )
        time.sleep(0.2)


# --- IDs and request builders -------------------------------------------------------------------


def new_trace_id() -> bytes:
    return random.getrandbits(127).to_bytes(16, "big") or b"\x01" * 16


def new_span_id() -> bytes:
    return (random.getrandbits(63) | 1).to_bytes(8, "big")


def set_attr(attributes: Any, key: str, value: Any) -> None:
    """Append ``key``=``value`` to a repeated KeyValue field (value: python value or an AnyValue)."""
    kv = attributes.add()
    kv.key = key
    if isinstance(value, AnyValue):
        kv.value.CopyFrom(value)
    else:
        to_proto(value, kv.value)  # journeytrace.values; its inverse is round-trip tested


def simple_request(
    trace_id: bytes,
    count: int,
    *,
    service: str = "test-service",
    name: str = "span",
    start: int | None = None,
    attributes: dict[str, Any] | None = None,
    span_ids: list[bytes] | None = None,
) -> ExportTraceServiceRequest:
    """A request of ``count`` valid spans in one trace (span i starts at ``start + i`` µs)."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    set_attr(rs.resource.attributes, "service.name", service)
    ss = rs.scope_spans.add()
    ss.scope.name = "journeytrace-tests"
    base = start if start is not None else time.time_ns()
    for i in range(count):
        span = ss.spans.add()
        span.trace_id = trace_id
        span.span_id = span_ids[i] if span_ids else new_span_id()
        span.name = f"{name}-{i}"
        span.kind = 2
        span.start_time_unix_nano = base + i * 1000
        span.end_time_unix_nano = base + i * 1000 + 500
        for k, v in (attributes or {}).items():
            set_attr(span.attributes, k, v)
    return request


def span_ids_hex(request: ExportTraceServiceRequest) -> set[str]:
    return {s.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}


# --- transports -----------------------------------------------------------------------------------


def grpc_export(
    channel: grpc.Channel,
    body: bytes | ExportTraceServiceRequest,
    *,
    timeout: float = 30.0,
    compression: grpc.Compression | None = None,
) -> ExportTraceServiceResponse:
    """Call TraceService/Export with raw bytes; raises grpc.RpcError on a non-OK status."""
    if isinstance(body, ExportTraceServiceRequest):
        body = body.SerializeToString()
    call = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
    raw = call(body, timeout=timeout, compression=compression)
    return ExportTraceServiceResponse.FromString(raw)


def http_export(
    client: httpx.Client,
    url: str,
    body: bytes | ExportTraceServiceRequest,
    *,
    content_type: str = PROTOBUF,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    if isinstance(body, ExportTraceServiceRequest):
        body = body.SerializeToString()
    return client.post(url, content=body, headers={"content-type": content_type, **(headers or {})})


def otlp_json(request: ExportTraceServiceRequest, *, enums_as_ints: bool = False, snake_case: bool = False) -> dict:
    """OTLP/JSON per the spec: protobuf JSON mapping, but trace/span IDs as lowercase hex."""
    document = json_format.MessageToDict(
        request, use_integers_for_enums=enums_as_ints, preserving_proto_field_name=snake_case
    )
    id_keys = ("trace_id", "span_id", "parent_span_id") if snake_case else ("traceId", "spanId", "parentSpanId")
    rs_key, ss_key = ("resource_spans", "scope_spans") if snake_case else ("resourceSpans", "scopeSpans")

    def rewrite(obj: dict) -> None:
        for key in id_keys:
            if key in obj:
                obj[key] = base64.b64decode(obj[key]).hex()

    for rs in document.get(rs_key, []):
        for ss in rs.get(ss_key, []):
            for span in ss.get("spans", []):
                rewrite(span)
                for link in span.get("links", []):
                    rewrite(link)
    return document


# --- platform adapters ---------------------------------------------------------------------------

PLATFORM_FIXTURES = Path(__file__).parent / "fixtures" / "platforms"


def platform_fixture(platform: str, name: str) -> Any:
    """A JSON fixture of ``tests/fixtures/platforms/<platform>/``."""
    return json.loads((PLATFORM_FIXTURES / platform / name).read_text())


def parse_fixture(adapter: Any, name: str, **options: str) -> list[Any]:
    """The spans ``adapter`` makes of its fixture ``name``: nothing ignored, every draft a valid span."""
    from journeytrace.receivers.platforms.model import to_request

    parsed = adapter.parse(platform_fixture(adapter.name, name), options)
    assert parsed.ignored == 0
    to_request(parsed.spans)
    return parsed.spans


def draft_shape(span: Any) -> tuple[Any, ...]:
    """A span draft's identity, place and timing, for exact comparison."""
    return (span.key, span.name, span.span_type, span.kind, span.start_unix_nano, span.end_unix_nano,
            span.parent_key, span.status, span.status_message, span.record_version)  # fmt: skip


# --- simulated journeys -------------------------------------------------------------------------


def post_simulated(server: Server, journeys: Sequence[Any], *, late: bool | None = None) -> None:
    """POST the simulator's payloads to ``/v1/platforms/{platform}`` as the platforms would:
    every payload, or only the on-time (``late=False``) or late (``late=True``) ones."""
    with httpx.Client(base_url=server.http_base, timeout=30.0) as client:
        for journey in journeys:
            for post in journey.posts:
                if late is not None and post.late != late:
                    continue
                answer = client.post(
                    f"/v1/platforms/{post.platform}", content=post.body, headers={"Content-Type": post.content_type}
                )
                assert answer.status_code == 202, (post.platform, answer.status_code, answer.text)


def journey_of_interaction(client: httpx.Client, interaction_id: str) -> str | None:
    """The ID of the one journey holding a platform's interaction, or None."""
    found = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
    return found[0]["journey_id"] if len(found) == 1 else None


def quiet_for_a_second(record: dict[str, Any]) -> bool:
    """Whether no data has changed a journey record for a second."""
    return time.time_ns() - record["updated_unix_nano"] > 1_000_000_000


def settled_journey(client: httpx.Client, journey: Any) -> dict[str, Any] | None:
    """A simulated journey as the API returns it, once every interaction is in it with the expected
    legs and outcome, no data has changed it for a second (spans acknowledged but not yet
    committed still would: small commits make such in-between states visible), and its
    analysis (insights, summary) describes that data; else None."""
    ids = {journey_of_interaction(client, i.interaction_id) for i in journey.interactions}
    if len(ids) != 1 or None in ids:
        return None
    record = client.get(f"/api/journeys/{ids.pop()}").json()
    if record["platforms"] != journey.platforms or record["outcome"] != journey.expected_outcome:
        return None
    if not quiet_for_a_second(record):
        return None
    if not record.get("analysis", {}).get("current"):
        return None
    return record


# --- the browser tests ----------------------------------------------------------------------------

ARTIFACTS = Path(os.environ.get("JOURNEYTRACE_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))
"""Where browser tests save screenshots (CI keeps the folder as the run's artifacts)."""


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot of a Playwright page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def modules_not_preloaded(page: Any) -> list[str]:
    """The page's modules that index.html did not list for preloading (``app.js`` is its entry).
    Each one loads a step later than the rest: a page module added without its preload line."""
    return page.evaluate("""() => {
        const preloaded = new Set([...document.querySelectorAll('link[rel=modulepreload]')].map((l) => l.href));
        return performance.getEntriesByType('resource').map((r) => r.name)
            .filter((name) => name.endsWith('.js') && !name.endsWith('/web/app.js') && !preloaded.has(name));
    }""")
