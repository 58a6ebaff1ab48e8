"""Shift the wall clock of every Python process of a test run (the suite and the servers it
starts) by ``SHIFTED_CLOCK_OFFSET`` seconds, ticking at real speed. ``.ci/shifted-clock`` puts
this folder on ``PYTHONPATH``; monotonic time, sleeps and timeouts are untouched."""

import os
import time

_offset = os.environ.get("SHIFTED_CLOCK_OFFSET")
if _offset:
    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
