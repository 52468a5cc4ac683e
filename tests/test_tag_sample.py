"""Grafana's autocomplete reads tag values from a sample: the newest ``SAMPLE_SPANS`` spans received
(``query.tempo_tags``). The sample must be exactly those spans wherever they lie in time: received
seconds ago on a live server, or days ago on a quiet one, and within ``start``/``end``."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from journeytrace.query import tempo_tags
from journeytrace.query.tempo_tags import SAMPLE_SPANS, Sample, Tag
from journeytrace.storage import schema

S = 10**9
DAY = 86_400 * S


def _database(path: Path, received: list[int]) -> duckdb.DuckDBPyConnection:
    """A DuckDB file of spans received at these times, span i in queue ``q{i}``, started one
    second before receipt."""
    db = duckdb.connect(str(path))
    schema.migrate(db)
    db.execute(
        """INSERT INTO spans (tenant, journey_id, trace_id, span_id, flags, name, kind, service_name,
                              start_unix_nano, end_unix_nano, status_code, attributes, resource_attributes,
                              received_unix_nano, queue)
           SELECT 'default', 'j', 't', 's' || i, 0, 'n', 1, 'svc', r - 1000000000, r, 0, '{}', '{}', r, 'q' || i
           FROM (SELECT unnest(range(len(?::BIGINT[]))) AS i, unnest(?::BIGINT[]) AS r)""",
        [received, received],
    )
    return db


@pytest.mark.parametrize("age", [0, 30 * S, 3 * DAY, 400 * DAY])
def test_values_come_from_exactly_the_newest_sampled_spans(tmp_path: Path, age: int) -> None:
    now = time.time_ns()
    # Twice the sample, one span every 10 ms, the newest ``age`` ago.
    received = [now - age - i * 10_000_000 for i in range(2 * SAMPLE_SPANS)]
    db = _database(tmp_path / "spans.duckdb", received)
    got = tempo_tags.tag_values(db.cursor(), Sample("default", None, None, None), Tag("span", "cx.queue.name"), 10**6)
    assert sorted(v for _, v in got) == sorted(f"q{i}" for i in range(SAMPLE_SPANS))


def test_a_time_range_samples_the_newest_spans_within_it(tmp_path: Path) -> None:
    now = time.time_ns()
    received = [now - i * 60 * S for i in range(3 * SAMPLE_SPANS)]  # one a minute, back ~10 days
    db = _database(tmp_path / "spans.duckdb", received)
    end = received[SAMPLE_SPANS] - S + 1  # spans start a second before receipt: span SAMPLE_SPANS is the newest in range
    sample = Sample("default", received[-1] - 10 * S, end, None)
    got = tempo_tags.tag_values(db.cursor(), sample, Tag("span", "cx.queue.name"), 10**6)
    assert sorted(v for _, v in got) == sorted(f"q{i}" for i in range(SAMPLE_SPANS, 2 * SAMPLE_SPANS))


def test_fewer_spans_than_the_sample_are_all_read(tmp_path: Path) -> None:
    now = time.time_ns()
    db = _database(tmp_path / "spans.duckdb", [now - 5 * DAY, now - 2 * S])
    got = tempo_tags.tag_values(db.cursor(), Sample("default", None, None, None), Tag("span", "cx.queue.name"), 100)
    assert [v for _, v in got] == ["q0", "q1"]
