"""The per-input phase a stage logs with -v: how many inputs came and how long they took."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest

from stactools_glofnet.core.progress import progress


def _slow(count: int) -> Iterator[int]:
    for index in range(count):
        time.sleep(0.05)
        yield index


def test_a_timed_loop_logs_its_count_and_seconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stactools_glofnet.core.progress")
    assert list(progress(_slow(4), desc="modis days", unit="day", timed=True)) == [0, 1, 2, 3]
    (message,) = caplog.messages
    found = re.fullmatch(r"modis days: 4 days in ([0-9.]+) s", message)
    assert found and float(found[1]) >= 0.2  # from the first request: every item's wait counts


def test_an_untimed_loop_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stactools_glofnet.core.progress")
    assert list(progress(range(3), desc="hashing", unit="file")) == [0, 1, 2]
    assert not caplog.messages
