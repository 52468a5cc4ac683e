"""`journeytrace serve`: wires the stages together in two processes.

The server process runs storage and the query ports; the receiver process
(``journeytrace.receiving``) runs the receivers, the correlator's phone-number hashing and the
write-ahead log, and hands each WAL record to storage. Start order is storage → query →
receivers, and shutdown the reverse: receivers stop accepting first, storage then commits
everything acknowledged and closes the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import uvicorn
import yaml

from journeytrace.config import Config, ConfigError
from journeytrace.correlator import CorrelatorConfig
from journeytrace.correlator.analysis.insights import InsightConfig
from journeytrace.correlator.analysis.llm import LlmConfig
from journeytrace.correlator.config import load_rules
from journeytrace.pipeline import SpanConsumer
from journeytrace.phone import load_or_create_key
from journeytrace.receiving import ReceiverProcess
from journeytrace.query.app import create_app as create_query_app
from journeytrace.query.tempo import create_tempo_app
from journeytrace.query.warmup import QUERY_TRACE_ROUTES, TEMPO_TRACE_ROUTES, warm_reads
from journeytrace.receivers.otlp_grpc import GrpcReceiverConfig, OtlpGrpcReceiver
from journeytrace.receivers.otlp_http import HttpReceiverConfig
from journeytrace.receivers.otlp_http import create_app as create_otlp_http_app
from journeytrace.receivers.platforms import declarative
from journeytrace.receivers.platforms import http as platform_routes
from journeytrace.receivers.platforms.registry import adapters
from journeytrace.receivers.platforms.secrets import load_secrets
from journeytrace.storage import SpanStore, StoreConfig
from journeytrace.storage.analysis import AnalysisConfig

log = logging.getLogger("journeytrace")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (several share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def _http_server(app: object, host: str, port: int, name: str) -> AsyncIterator[None]:
    server = _Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve(), name=name)
    while not server.started:
        if task.done():
            raise OSError(f"{name} could not start on {host}:{port}")
        await asyncio.sleep(0.01)
    log.info("%s listening on http://%s:%d", name, host, port)
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await task


def analysis_config(config: Config) -> AnalysisConfig:
    """The analysis worker's settings: insight thresholds from their YAML file, the optional LLM."""
    thresholds = InsightConfig()
    if config.insight_thresholds:
        path = Path(config.insight_thresholds)
        try:
            thresholds = InsightConfig.from_mapping(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise ConfigError(f"insight_thresholds: {path}: {exc}") from exc
    llm = None
    if config.summary_llm_base_url:
        if not config.summary_llm_model:
            raise ConfigError("summary_llm_model: required when summary_llm_base_url is set")
        llm = LlmConfig(
            base_url=config.summary_llm_base_url, model=config.summary_llm_model,
            api_key=config.summary_llm_api_key or None,
        )  # fmt: skip
    return AnalysisConfig(insights=thresholds, llm=llm, quiet_period_seconds=config.journey_quiet_period_s)


@contextlib.asynccontextmanager
async def receivers(config: Config, pipeline: SpanConsumer) -> AsyncIterator[None]:
    """Every receiver, listening and feeding ``pipeline``; they stop accepting on exit.

    Runs in the receiver process (``journeytrace.receiving``)."""
    grpc_receiver = OtlpGrpcReceiver(
        GrpcReceiverConfig(
            host=config.host, port=config.otlp_grpc_port, tenant=config.tenant,
            max_request_bytes=config.max_request_bytes,
        ),
        pipeline,
    )  # fmt: skip
    http_app = create_otlp_http_app(
        HttpReceiverConfig(tenant=config.tenant, max_request_bytes=config.max_request_bytes), pipeline
    )
    known = adapters()
    if config.platform_adapters:
        known = declarative.combine(known, Path(config.platform_adapters))
    platform_routes.add_routes(
        http_app, pipeline, known=known, tenant=config.tenant, max_request_bytes=config.max_request_bytes,
        secrets=load_secrets(Path(config.platform_secrets)) if config.platform_secrets else {},
        public_url=config.public_url or None,
    )  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(
            _http_server(http_app, config.host, config.otlp_http_port, "OTLP/HTTP receiver")
        )
        stack.push_async_callback(grpc_receiver.stop)
        await grpc_receiver.start()
        yield


def correlator_config(config: Config) -> CorrelatorConfig:
    rules = load_rules(Path(config.correlation_rules)) if config.correlation_rules else ()
    return CorrelatorConfig(
        phone_hash_key=bytes.fromhex(config.phone_hash_key)
        if config.phone_hash_key
        else load_or_create_key(config.data_dir / "phone-hash.key"),
        store_raw_phone_numbers=config.store_raw_phone_numbers,
        phone_time_matching=config.phone_time_matching,
        window_before_seconds=config.match_window_before_s,
        window_after_seconds=config.match_window_after_s,
        quiet_period_seconds=config.journey_quiet_period_s,
        rules=rules,
    )


def _freeze_startup_objects() -> int:
    """Move every object start-up made (modules, the apps, the store) out of the garbage
    collector's reach, and return how many there are.

    They live as long as the process, yet each full (generation 2) collection walked all ~86 k
    of them, holding the GIL, so every thread stopped: under 50 k spans/s one ran every ~3 s for
    ~45 ms (up to 70), and each read it overlapped took over 40 ms. Frozen, a full collection
    walks only what came later: 3–5 ms p50 (BENCHMARKS.md, Query latency, seventeenth session)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set, or SIGINT/SIGTERM arrives."""
    stop = stop or asyncio.Event()
    receiving = asyncio.Event()  # /readyz answers 200 only while every receiver listens
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    correlator = correlator_config(config)
    store = SpanStore(
        StoreConfig(
            path=config.database_path,
            correlator=correlator,
            max_queued_spans=config.max_queued_spans,
            max_commit_spans=config.max_commit_spans,
            commit_interval=config.commit_interval_ms / 1000,
            memory_limit=config.memory_limit,
            writer_nice=config.writer_nice,
            analysis=analysis_config(config) if config.analysis else None,
        ),
        own_intake=False,
    )
    receiver_process = ReceiverProcess(
        config, correlator, store, on_ready=lambda ready: receiving.set() if ready else receiving.clear()
    )
    async with contextlib.AsyncExitStack() as stack:
        query_app = create_query_app(
            store, tenant=config.tenant, phone_hash_key=correlator.phone_hash_key,
            quiet_period_seconds=config.journey_quiet_period_s, is_ready=receiving.is_set,
            ui={"jaeger_ui_url": config.jaeger_ui_url, "grafana_url": config.grafana_url,
                "grafana_tempo_datasource": config.grafana_tempo_datasource},
        )  # fmt: skip
        tempo_app = create_tempo_app(
            store, tenant=config.tenant, quiet_period_seconds=config.journey_quiet_period_s, is_ready=receiving.is_set
        )
        await stack.enter_async_context(_http_server(query_app, config.host, config.query_port, "query API"))
        await stack.enter_async_context(_http_server(tempo_app, config.host, config.tempo_port, "Tempo API"))
        await stack.enter_async_context(store)
        pool = await store.read(lambda cursor: cursor.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        log.info("storage open at %s (DuckDB buffer pool %s)", config.database_path, pool)
        warmed = await warm_reads(store, config.tenant, {query_app: QUERY_TRACE_ROUTES, tempo_app: TEMPO_TRACE_ROUTES})
        log.info(
            "read path warmed in %.0f ms on the newest journey, %s: %s",
            warmed.seconds * 1000, warmed.journey_id or "none yet",
            ", ".join(f"{path} {status}" for path, status in warmed.statuses.items()) or "nothing to read",
        )  # fmt: skip
        stack.push_async_callback(receiver_process.stop)
        await receiver_process.start()
        frozen = _freeze_startup_objects()
        log.info("journeytrace is ready (%d start-up objects kept out of garbage collection)", frozen)
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(receiver_process.lost.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        if receiver_process.lost.is_set():
            raise OSError("the receiver process died and could not be restarted")
        log.info("shutting down: no new data is accepted; committing what is in flight")
    log.info("journeytrace stopped")
