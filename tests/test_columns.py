"""ColumnRows: the table a stage gathers a row per input into, as pandas would make it, in bytes a row."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stactools_glofnet.core.columns import ColumnRows


def _gathered(rows: list[dict[str, Any]]) -> ColumnRows:
    table = ColumnRows()
    for row in rows:
        table.append(row)
    return table


def _pair_rows(count: int, step_days: float = 5.5) -> list[dict[str, Any]]:
    """Rows as ITS_LIVE's pairs send them: a microsecond UTC time and two floats, some NaN."""
    start = dt.datetime(2017, 3, 1, 5, 41, 12, 345678, tzinfo=dt.UTC)
    return [
        {
            "mid_date": pd.Timestamp(start + dt.timedelta(days=step_days * index)).tz_convert("UTC"),
            "glacier_mean": np.nan if index % 7 == 3 else 100.0 + index / 3,
            "glacier_p90": 250.0 + index * 0.1,
        }
        for index in range(count)
    ]


def test_the_frame_is_what_pandas_makes_of_the_rows() -> None:
    pairs = _pair_rows(50)
    pd.testing.assert_frame_equal(_gathered(pairs).frame(), pd.DataFrame(pairs), check_exact=True)
    days = [  # as MODIS's days: second-unit UTC dates, a float and the tiles as text
        {
            "date": pd.Timestamp(dt.date(2018, 1, 1) + dt.timedelta(days=index), tz="UTC"),
            "aoi_coverage_day": index / 9,
            "tiles": "h23v05,h24v05" if index % 3 else "h24v05",
        }
        for index in range(40)
    ]
    table = _gathered(days)
    assert len(table) == 40
    pd.testing.assert_frame_equal(table.frame(), pd.DataFrame(days), check_exact=True)
    assert str(table.frame()["date"].dtype) == "datetime64[s, UTC]"


def test_a_time_column_of_mixed_units_takes_the_finest_as_pandas_does() -> None:
    rows = _pair_rows(4)
    rows[2]["mid_date"] = rows[2]["mid_date"] + pd.Timedelta(1, "ns")
    frame = _gathered(rows).frame()
    pd.testing.assert_frame_equal(frame, pd.DataFrame(rows), check_exact=True)
    assert frame["mid_date"].iloc[2].nanosecond == 1


def test_a_row_that_does_not_fit_is_refused_whole() -> None:
    rows = _pair_rows(3)
    table = _gathered(rows)
    with pytest.raises(ValueError, match="row keys"):
        table.append({"mid_date": rows[0]["mid_date"]})
    with pytest.raises(TypeError, match="expected a number"):
        table.append({**rows[0], "glacier_p90": "fast"})
    with pytest.raises(TypeError, match=r"expected a pandas\.Timestamp"):
        table.append({**rows[0], "mid_date": pd.Timestamp("2019-01-01")})  # no time zone
    assert len(table) == 3
    pd.testing.assert_frame_equal(table.frame(), pd.DataFrame(rows), check_exact=True)


def test_a_row_costs_bytes_not_objects() -> None:
    rows = _pair_rows(20_000, step_days=0.25)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        table = _gathered(rows)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert held / len(table) < 40  # three 8-byte values a row and the arrays' spare room; a dict is 184
