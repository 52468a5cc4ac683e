"""The analysis worker: keeps each journey's insights, facts and summary current.

A thread of its own, beside the writer, so ingest never waits for analysis. After every commit
(and once a second for time-dependent rules) it:

1. finds journeys whose record changed since its watermark (``journeys.updated_unix_nano``,
   which only ever grows with the single writer's commits), plus journeys whose ``recheck_at``
   has come (a handoff that never began, a contact record still expected);
2. reads each as the API shows it (``reads.journeys``), with the same customer's previous
   journey within the repeat window;
3. runs ``correlator.analysis`` (insights, facts, deterministic summary) and replaces the
   journey's rows in ``journey_analysis`` and ``journey_insights`` -- and drops the rows of
   journeys merged into it -- in one transaction.

Only this thread writes those two tables, so it never conflicts with the writer. The optional
LLM summarizer runs on one more thread: it is slow and may fail, so the deterministic summary is
stored first and the model's replaces it (if the journey has not changed meanwhile) when it
arrives. Under load the worker falls behind and catches up; its watermark is in the tables, so
a restart resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from journeytrace.correlator.analysis import facts, insights, summary
from journeytrace.correlator.analysis.llm import LlmConfig, LlmSummarizer
from journeytrace.correlator.analysis.model import Evaluation, Summary
from journeytrace.storage import reads
from journeytrace.storage.transactions import begin, out_of_memory, roll_back

from journeytrace.ids import journey_key

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True, kw_only=True, slots=True)
class AnalysisConfig:
    insights: insights.InsightConfig = field(default_factory=insights.InsightConfig)
    llm: LlmConfig | None = None
    quiet_period_seconds: float = 1800.0
    interval: float = 1.0
    """How often to look for due rechecks when no commit wakes the worker."""
    batch_journeys: int = 500
    """Journeys read and analysed per transaction while the writer is idle; bounds the worker's
    memory and latency."""
    busy_batch_journeys: int = 50
    """The same while spans are being committed. Analysing 500 journeys per transaction under
    ingest cut ingest from ~44 k to ~18 k spans/s, and tripled the correlation lag. That is far
    more than the share of time it took, so it is not CPU alone. 50 per transaction keeps ingest
    at ~44 k (bench/ingest.py). Idle, big batches analyse faster: 333 against 219 journeys/s
    (bench/analysis.py)."""
    busy_share: float = 0.25
    """The most of its time the worker spends analysing while spans are being committed: it
    shares the GIL with the receivers and the writer, so under heavy ingest analysis falls
    behind rather than slowing ingest (bench/ingest.py), and catches up at full speed once
    the writer is idle (bench/analysis.py)."""
    heavy_share: float = 0.01
    """The same while ingest is heavy: saturated (senders are being told to retry), or the writer
    committing more than half of the time. There every cycle analysis takes is a span not
    accepted, or a journey readable later: at 25 % ingest of 3 M spans ran at ~27 k spans/s
    against ~36 k with analysis off (bench/ingest.py), and under 50 k spans/s the correlation
    lag's p99 was 0.89-1.07 s at 5 % and 0.75-0.91 s at 1 % (four alternating runs each;
    BENCHMARKS.md, thirteenth session). A little still runs, so insights do not stop
    altogether under a long overload; they catch up once the writer has time to spare."""


@dataclass(frozen=True, slots=True)
class _Job:
    tenant: str
    journey_id: str


def _summary_json(found: Summary) -> str:
    return json.dumps(asdict(found), separators=(",", ":"))


class AnalysisWorker:
    """Owns the analysis thread (and the LLM thread when one is configured)."""

    def __init__(
        self,
        db: duckdb.DuckDBPyConnection,
        config: AnalysisConfig,
        ingest_busy: Callable[[], bool] = lambda: False,
        ingest_heavy: Callable[[], bool] = lambda: False,
    ) -> None:
        """``ingest_busy`` says whether the writer is committing spans now (then analysis yields),
        ``ingest_heavy`` whether it needs most of the time (then analysis yields much more)."""
        self.config = config
        self._ingest_busy = ingest_busy
        self._ingest_heavy = ingest_heavy
        self._cursor = db.cursor()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="journeytrace-analysis")
        self._llm = LlmSummarizer(config.llm) if config.llm else None
        self._llm_queue: queue.Queue[Any] = queue.Queue(maxsize=10_000)
        self._llm_results: queue.Queue[tuple[str, str, str, Summary]] = queue.Queue()
        self._llm_thread = threading.Thread(target=self._llm_loop, name="journeytrace-llm") if self._llm else None
        self._idle = threading.Event()
        self._shrink = 1
        """Rounds take 1/this of the configured journeys: doubled when one runs out of memory,
        halved back after each that does not."""
        self.watermark = self._start_watermark()

    def start(self) -> None:
        self._thread.start()
        if self._llm_thread:
            self._llm_thread.start()

    def notify(self) -> None:
        """A commit landed: look for changed journeys now."""
        self._idle.clear()
        self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        """Block until everything committed so far is analysed (tests and benchmarks)."""
        return self._idle.wait(timeout)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._llm_thread and self._llm_thread.is_alive():
            self._llm_queue.put(_STOP)
            self._llm_thread.join()
        if self._llm:
            self._llm.close()
        self._cursor.close()

    # the loop --------------------------------------------------------------------------------

    def _start_watermark(self) -> tuple[int, str]:
        """Where to resume: journeys are analysed in (updated, key) order, so everything before
        the newest analysed update is done; those stamped at that time are analysed again."""
        # Read to the end: a fetchone would leave the query's transaction open on this cursor
        # until its next statement, and DuckDB skips automatic checkpoints meanwhile
        # (SpanStore._open).
        ((newest,),) = self._cursor.execute("SELECT max(updated_unix_nano) FROM journey_analysis").fetchall()
        return (int(newest) if newest is not None else 0), ""

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self.config.interval)
            self._wake.clear()
            try:
                while not self._stopping:
                    began = time.monotonic()
                    worked, more = self._round()
                    if worked:
                        self._yield_to_ingest(time.monotonic() - began)
                    if not more:
                        break
                self._apply_llm_results()
            except Exception as error:  # never let one bad journey stop analysis of the rest
                if out_of_memory(error):  # the writer holds the pool: smaller rounds, later
                    self._shrink = min(self._shrink * 2, 64)
                    log.warning("journey analysis paused: DuckDB's memory-limit is full; retrying in %.1fs with "
                                "1/%d of the usual journeys per round", self.config.interval, self._shrink)
                else:
                    log.exception("journey analysis failed; retrying in %.1fs", self.config.interval)
                time.sleep(self.config.interval)
                continue
            if not self._wake.is_set():
                self._idle.set()

    def _yield_to_ingest(self, spent: float) -> None:
        """While the writer is busy, pause so analysis takes at most ``busy_share`` of the time
        (``heavy_share`` while ingest is heavy); stop pausing as soon as the writer goes
        idle (or the worker stops)."""
        share = self.config.heavy_share if self._ingest_heavy() else self.config.busy_share
        until = time.monotonic() + spent * (1 - share) / share
        while self._ingest_busy() and not self._stopping and time.monotonic() < until:
            time.sleep(min(0.1, max(0.0, until - time.monotonic())))

    def _round(self) -> tuple[bool, bool]:
        """Analyse one batch of changed or due journeys; return whether it found any, and whether
        there may be more."""
        now = time.time_ns()
        limit = self.config.busy_batch_journeys if self._ingest_busy() else self.config.batch_journeys
        limit = max(1, limit // self._shrink)
        cursor = self._cursor
        try:
            begin(cursor)  # inside: a BEGIN out of memory can leave one aborted
            # One commit stamps all its journeys with the same time, so the cursor is (time, key):
            # a batch may end in the middle of a commit's journeys.
            changed = cursor.execute(
                """SELECT tenant, journey_id, updated_unix_nano FROM journeys
                   WHERE updated_unix_nano > ? OR (updated_unix_nano = ? AND tenant || chr(31) || journey_id > ?)
                   ORDER BY updated_unix_nano, tenant || chr(31) || journey_id LIMIT ?""",
                [self.watermark[0], self.watermark[0], self.watermark[1], limit],
            ).fetchall()
            due = cursor.execute(
                """SELECT tenant, journey_id FROM journey_analysis WHERE recheck_at_unix_nano <= ? LIMIT ?""",
                [now, limit],
            ).fetchall()
            jobs = sorted({_Job(t, j) for t, j, _ in changed} | {_Job(t, j) for t, j in due},
                          key=lambda job: (job.tenant, job.journey_id))  # fmt: skip
            if not jobs:
                cursor.execute("ROLLBACK")
                return False, False
            self._analyse(cursor, jobs, now)
            cursor.execute("COMMIT")
        except BaseException:
            roll_back(cursor)
            raise
        self._shrink = max(1, self._shrink // 2)
        if changed:
            tenant, journey_id, updated = changed[-1]
            self.watermark = (updated, f"{tenant}\x1f{journey_id}")
        return True, len(changed) == limit or len(due) == limit

    def _analyse(self, cursor: duckdb.DuckDBPyConnection, jobs: list[_Job], now: int) -> None:
        quiet_before = now - int(self.config.quiet_period_seconds * 1e9)
        by_tenant: dict[str, list[str]] = {}
        for job in jobs:
            by_tenant.setdefault(job.tenant, []).append(job.journey_id)
        analysis_rows: list[dict[str, Any]] = []
        insight_rows: list[dict[str, Any]] = []
        replaced: list[tuple[str, str]] = []
        for tenant, ids in by_tenant.items():
            found = [j for j in reads.journeys(cursor, tenant, ids, quiet_before=quiet_before, with_analysis=False) if j is not None]
            # The asked IDs that no longer name a journey of their own (merged away, or gone)
            # lose their rows, as do the aliases of every journey analysed now.
            replaced += [(tenant, i) for i in ids]
            names = [j["journey_id"] for j in found]
            replaced += [(tenant, r[0]) for r in cursor.execute(
                "SELECT alias FROM journey_aliases WHERE tenant = ? AND journey_id IN (SELECT unnest(?::VARCHAR[]))",
                [tenant, names]).fetchall()]  # fmt: skip
            previous = self._previous_journeys(cursor, tenant, found)
            for journey in found:
                context = insights.Context(
                    now_unix_nano=now,
                    previous_journey_id=previous.get(journey["journey_id"], (None, None))[0],
                    previous_journey_start_unix_nano=previous.get(journey["journey_id"], (None, None))[1],
                )
                evaluation = insights.evaluate(journey, context, self.config.insights)
                analysis_rows.append(self._analysis_row(tenant, journey, evaluation, now))
                insight_rows += [
                    {"tenant": tenant, "journey_id": journey["journey_id"], "journey_key": journey_key(journey["journey_id"]),
                     "start_unix_nano": journey["start_unix_nano"], **_insight_columns(i)}
                    for i in evaluation.insights
                ]  # fmt: skip
        self._replace(cursor, replaced, analysis_rows, insight_rows)

    def _analysis_row(self, tenant: str, journey: dict[str, Any], evaluation: Evaluation, now: int) -> dict[str, Any]:
        written = summary.summarize(journey, evaluation.insights)
        fingerprint = summary.fingerprint(journey, evaluation.insights)
        if self._llm is not None:
            try:
                self._llm_queue.put_nowait((tenant, journey, evaluation, written, fingerprint))
            except queue.Full:
                log.warning("LLM summary queue full; journey %s keeps its deterministic summary", journey["journey_id"])
        return {
            "tenant": tenant,
            "journey_id": journey["journey_id"],
            "journey_key": journey_key(journey["journey_id"]),
            **facts.facts(journey, evaluation),
            "updated_unix_nano": journey["updated_unix_nano"],
            "analysed_unix_nano": now,
            "recheck_at_unix_nano": evaluation.recheck_at_unix_nano,
            "summary": _summary_json(written),
            "summary_source": written.source,
            "fingerprint": fingerprint,
        }

    def _previous_journeys(
        self, cursor: duckdb.DuckDBPyConnection, tenant: str, found: list[dict[str, Any]]
    ) -> dict[str, tuple[str, int]]:
        """Each journey's latest earlier journey of the same customer within the repeat window."""
        asked = [j for j in found if j.get("customer_phone_hash")]
        if not asked:
            return {}
        window = int(self.config.insights.repeat_caller.window_h * 3600e9)
        rows = cursor.execute(
            """
            SELECT w.journey_id, arg_max(j.journey_id, j.start_unix_nano), max(j.start_unix_nano)
            FROM (SELECT unnest(?::VARCHAR[]) AS journey_id, unnest(?::VARCHAR[]) AS phone_hash,
                         unnest(?::BIGINT[]) AS start_unix_nano) w
            JOIN journeys j ON j.tenant = ? AND j.customer_phone_hash = w.phone_hash
                AND j.start_unix_nano < w.start_unix_nano AND j.start_unix_nano >= w.start_unix_nano - ?
                AND j.journey_id <> w.journey_id
            GROUP BY w.journey_id
            """,
            [[j["journey_id"] for j in asked], [j["customer_phone_hash"] for j in asked],
             [j["start_unix_nano"] for j in asked], tenant, window],
        ).fetchall()  # fmt: skip
        return {r[0]: (r[1], r[2]) for r in rows}

    def _replace(
        self, cursor: duckdb.DuckDBPyConnection, replaced: list[tuple[str, str]],
        analysis_rows: list[dict[str, Any]], insight_rows: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        if replaced:
            gone = pa.table({"tenant": [t for t, _ in replaced], "journey_id": [j for _, j in replaced]})
            keys = sorted({k for _, j in replaced if (k := journey_key(j)) is not None})
            cursor.register("gone", gone)
            for table in ("journey_analysis", "journey_insights"):
                # The integer key first, so the string comparison runs on a few rows (schema v8).
                cursor.execute(
                    f"""DELETE FROM {table}
                        WHERE (journey_key IS NULL OR journey_key IN (SELECT unnest(?::BIGINT[])))
                          AND (tenant, journey_id) IN (SELECT (tenant, journey_id) FROM gone)""",
                    [keys],
                )
            cursor.unregister("gone")
        if insight_rows:
            columns = ", ".join(insight_rows[0])
            cursor.register("fresh", pa.Table.from_pylist(insight_rows))
            cursor.execute(f"INSERT INTO journey_insights ({columns}) SELECT {columns} FROM fresh")
            cursor.unregister("fresh")
        if analysis_rows:
            # Each row carries its journey's insights, as the reads return them, from the rows
            # just written: a read then finds them without a lookup of its own (schema v13).
            columns = list(analysis_rows[0])
            cursor.register("fresh", pa.Table.from_pylist(analysis_rows))
            cursor.execute(
                f"""INSERT INTO journey_analysis ({', '.join(columns)}, insight_details)
                    SELECT {', '.join(f'f.{c}' for c in columns)}, d.details FROM fresh f LEFT JOIN (
                        SELECT tenant, journey_id, {reads.INSIGHT_DETAILS_SQL} AS details FROM journey_insights
                        WHERE journey_key IN (SELECT journey_key FROM fresh) GROUP BY tenant, journey_id
                    ) d ON d.tenant = f.tenant AND d.journey_id = f.journey_id"""
            )
            cursor.unregister("fresh")

    # the LLM summarizer ----------------------------------------------------------------------

    def _llm_loop(self) -> None:
        assert self._llm is not None
        while True:
            item = self._llm_queue.get()
            if item is _STOP:
                return
            tenant, journey, evaluation, fallback, fingerprint = item
            written = self._llm.summarize(journey, evaluation.insights, fallback)
            if written.source == "llm":
                self._llm_results.put((tenant, journey["journey_id"], fingerprint, written))
                self._wake.set()

    def _apply_llm_results(self) -> None:
        """Store model summaries for journeys that have not changed materially since."""
        while True:
            try:
                tenant, journey_id, fingerprint, written = self._llm_results.get_nowait()
            except queue.Empty:
                return
            self._cursor.execute(
                """UPDATE journey_analysis SET summary = ?, summary_source = 'llm'
                   WHERE tenant = ? AND journey_id = ? AND fingerprint = ?""",
                [_summary_json(written), tenant, journey_id, fingerprint],
            )



def insight_rules() -> list[dict[str, Any]]:
    """The insight catalogue, for the read APIs (which do not import the correlator)."""
    return [asdict(rule) for rule in insights.RULES]


def _insight_columns(found: Any) -> dict[str, Any]:
    return {
        "rule": found.rule, "category": found.category, "severity": found.severity, "span_id": found.span_id,
        "value": found.value, "threshold": found.threshold, "unit": found.unit, "explanation": found.explanation,
        "platform": found.platform, "queue": found.queue, "agent": found.agent, "flow": found.flow,
    }  # fmt: skip
