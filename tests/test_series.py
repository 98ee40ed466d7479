"""Daily series: measured days, interpolation up to the maximum gap, missing beyond it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stactools_glofnet.core.series import to_daily


def _measurements(days: list[int], values: list[float]) -> pd.DataFrame:
    start = pd.Timestamp("2020-01-01T12:00:00Z")
    return pd.DataFrame({"t": [start + pd.Timedelta(days=d) for d in days], "value": values})


def test_gaps_up_to_the_maximum_are_interpolated_longer_ones_stay_missing() -> None:
    daily = to_daily(
        _measurements([0, 10, 100, 145], [0.0, 10.0, 100.0, 145.0]), "t", ["value"], 45, "linear"
    )
    assert len(daily) == 146
    flags = daily["flag"].to_numpy()
    assert (flags[[0, 10, 100, 145]] == "measured").all()
    assert (flags[1:10] == "interpolated").all()
    assert (flags[11:100] == "missing").all() and daily["value"][11:100].isna().all()
    assert (flags[101:145] == "interpolated").all()  # a gap of exactly 45 days is bridged
    np.testing.assert_allclose(daily["value"][1:10], np.arange(1, 10))


def test_two_measurements_on_one_day_are_averaged_and_counted() -> None:
    daily = to_daily(_measurements([0, 0, 2], [1.0, 3.0, 4.0]), "t", ["value"], 10, "linear")
    assert daily["value"].tolist() == [2.0, 3.0, 4.0]
    assert daily["granules"].tolist() == [2, 0, 1]


def test_a_nan_measurement_is_not_a_measured_day() -> None:
    daily = to_daily(_measurements([0, 5, 200], [0.0, np.nan, 200.0]), "t", ["value"], 10, "linear")
    assert daily["flag"].iloc[5] == "missing"


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown interpolation"):
        to_daily(_measurements([0, 1], [0.0, 1.0]), "t", ["value"], 10, "cubic")
