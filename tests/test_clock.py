"""The clocks the suite runs on: the fixed instant of in-process tests, and, in the shifted
runs of ``.ci/shifted-clock``, the wall clock of this process and of every process it starts."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import CLOCK, TEST_NOW, TEST_NOW_US
from footfall.clock import FixedClock, local_date, to_us


def _kernel_time() -> float:
    """The machine's own time, which no shift reaches: the mtime of a file made now."""
    with tempfile.NamedTemporaryFile() as fh:
        return os.stat(fh.name).st_mtime


def test_in_process_tests_run_at_test_now() -> None:
    assert CLOCK() == TEST_NOW_US == to_us(TEST_NOW)
    assert os.environ.get("TEST_NOW", "2026-05-20T10:00:00Z").startswith(
        TEST_NOW.strftime("%Y-%m-%dT%H:%M")
    )


def test_fixed_clock_and_local_dates() -> None:
    clock = FixedClock(to_us(dt.datetime(2026, 3, 29, 0, 59, 30, tzinfo=dt.UTC)))
    assert local_date(clock(), "Europe/Paris") == dt.date(2026, 3, 29)
    assert local_date(clock(), "America/New_York") == dt.date(2026, 3, 28)
    clock.advance(60)
    assert clock() == to_us(dt.datetime(2026, 3, 29, 1, 0, 30, tzinfo=dt.UTC))


@pytest.mark.skipif(
    not os.environ.get("SHIFTED_CLOCK_OFFSET"), reason="only in .ci/shifted-clock's runs"
)
def test_the_shifted_wall_clock_reaches_this_process_and_the_servers() -> None:
    offset = float(os.environ["SHIFTED_CLOCK_OFFSET"])
    import time

    assert abs(time.time() - _kernel_time() - offset) < 60
    # a process the tests start (footfall serve is one) sees the same shifted time
    child = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert abs(float(child.stdout) - _kernel_time() - offset) < 60
    # and it is near the instant the in-process clock stands at
    assert abs(float(child.stdout) - TEST_NOW_US / 1e6) < 3600
