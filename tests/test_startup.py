"""What the server does once it has started: its start-up objects leave the garbage collector's
reach, so that a full collection under load does not stop every thread for tens of
milliseconds (``journeytrace.server._freeze_startup_objects``)."""

from __future__ import annotations

import gc
import re

from journeytrace.server import _freeze_startup_objects

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
