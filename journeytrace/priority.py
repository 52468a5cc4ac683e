"""CPU priority of the server's own threads: which work runs first when the cores are busy.

Linux keeps a nice value per thread, and a new thread inherits its starter's; a higher value
gets a smaller share of a busy core and none of an idle one taken away.
"""

from __future__ import annotations

import contextlib
import os


def lower(increment: int, thread: int = 0) -> None:
    """Raise the nice value of ``thread`` (a native thread ID; 0: the calling thread) by
    ``increment``, up to 19. A thread that ended meanwhile is left alone."""
    if not increment:
        return
    with contextlib.suppress(OSError):
        now = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(now + increment, 19))
