"""What the server does once it has started: its start-up objects leave the garbage collector's
reach, so that a full collection under load does not stop every thread for tens of
milliseconds (``journeytrace.server._freeze_startup_objects``), its receiver process runs at
a lower CPU priority, so that reads and commits get the cores first
(``journeytrace.receiving._lower_priority``), and its storage writer runs below the readers
(``journeytrace.priority``), and it has read its newest journey through each API before it says
it is ready (``journeytrace.query.warmup``)."""

from __future__ import annotations

import gc
import os
import re
import time
from pathlib import Path

import httpx

from journeytrace import simulator
from journeytrace.server import _freeze_startup_objects
from jt_helpers import post_simulated, settled_journey, wait_until

_READY = re.compile(r"journeytrace is ready \((\d+) start-up objects kept out of garbage collection\)")


def test_frozen_objects_are_out_of_the_collectors_reach():
    marker = [object()]  # a container, so the collector tracks it
    assert any(o is marker for o in gc.get_objects())
    try:
        frozen = _freeze_startup_objects()
        assert frozen == gc.get_freeze_count() > 0
        # No generation holds it any more: no collection walks it.
        assert not any(o is marker for o in gc.get_objects())
        later = [object()]
        assert any(o is later for o in gc.get_objects())
    finally:
        gc.unfreeze()


def test_a_started_server_has_frozen_what_start_up_made(server_factory):
    server = server_factory()
    ready = _READY.search(server.log_text())
    assert ready, server.log_tail()
    # Its modules, apps and store: ~86 k objects on the machine of BENCHMARKS.md.
    assert int(ready.group(1)) > 20_000, ready.group(0)


def _nice_values(pid: int) -> list[int]:
    """The nice value of each thread of process ``pid`` (field 19 of /proc/PID/task/TID/stat)."""
    values = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        values.append(int(stat[stat.rindex(")") + 2:].split()[16]))
    return values


def test_the_receiver_process_runs_at_a_lower_priority(server_factory):
    base = os.getpriority(os.PRIO_PROCESS, 0)  # the server inherits the test's own
    server = server_factory()
    receiver = server.receiver_pid()
    assert receiver is not None
    # Every thread: the receivers, the decoders and the WAL's, started after the change.
    threads = set(_nice_values(receiver))
    assert threads == {min(base + 5, 19)} and len(os.listdir(f"/proc/{receiver}/task")) > 1, threads


def test_receiver_nice_0_keeps_the_servers_priority(server_factory):
    base = os.getpriority(os.PRIO_PROCESS, 0)
    server = server_factory("--receiver-nice", "0")
    assert set(_nice_values(server.receiver_pid())) == {base}


def test_the_writer_thread_runs_below_the_readers(server_factory):
    """The storage writer, and it alone of the server process's threads, runs at nice +5: the
    readers, the event loop and the rest keep the server's priority."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    server = server_factory()
    values = _nice_values(server.pid)
    if base + 5 > 19:  # the tests run so low that the writer cannot go lower: it tries, harmlessly
        assert set(values) == {base, 19}, values
    else:
        assert values.count(base + 5) == 1 and set(values) == {base, base + 5}, values


def test_writer_nice_0_keeps_the_servers_priority(server_factory):
    base = os.getpriority(os.PRIO_PROCESS, 0)
    server = server_factory("--writer-nice", "0")
    assert set(_nice_values(server.pid)) == {base}


_WARMED = re.compile(r"read path warmed in \d+ ms on the newest journey, (none yet|[0-9a-f]{32}): (.*)")


def test_a_restarted_server_reads_its_newest_journey_before_it_is_ready(server_factory):
    """The warm-up asks each API for the newest journey in-process: each answers 200, before
    the server is ready. A server with no journey yet says it had nothing to read."""
    server = server_factory()
    empty = _WARMED.search(server.log_text())
    assert empty and empty.groups() == ("none yet", "nothing to read"), server.log_tail()
    older, newer = simulator.journeys(43, 2, time.time_ns() - 600 * simulator.S, ["twilio_vapi"])
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        post_simulated(server, [older])
        wait_until(lambda: settled_journey(client, older), timeout=30)
        post_simulated(server, [newer])
        newest = wait_until(lambda: settled_journey(client, newer), timeout=30)["journey_id"]
    assert server.stop() == 0
    server.start()
    log = server.log_text()
    *_, warmed = _WARMED.finditer(log)  # this start's (the log holds both)
    assert warmed.group(1) == newest
    assert warmed.group(2) == f"/api/traces/{newest} 200, /api/journeys/{newest} 200, /api/v2/traces/{newest} 200"
    *_, ready = _READY.finditer(log)
    assert warmed.start() < ready.start()
