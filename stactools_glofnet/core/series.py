"""Daily time series: per-measurement values onto a UTC-day axis, interpolated up to a maximum gap."""

from __future__ import annotations

import numpy as np
import pandas as pd


def to_daily(
    measurements: pd.DataFrame, time_column: str, value_columns: list[str], max_gap_days: int, method: str
) -> pd.DataFrame:
    """One row per UTC day from the first to the last measurement.

    Days with measurements take their mean; days between two measured days at most
    ``max_gap_days`` apart are interpolated; longer gaps stay missing. ``flag`` tells which.
    """
    frame = measurements.copy()
    frame["date"] = (
        pd.to_datetime(frame[time_column]).dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    )
    grouped = frame.groupby("date")
    daily = grouped[value_columns].mean()
    daily["count"] = grouped.size()
    days = pd.date_range(daily.index.min(), daily.index.max(), freq="D")
    daily = daily.reindex(days)
    measured = daily["count"].notna().to_numpy()
    index = np.arange(len(days))
    last = np.maximum.accumulate(np.where(measured, index, -1))
    upcoming = np.where(measured, index, len(days))
    following = np.minimum.accumulate(upcoming[::-1])[::-1]
    gap = following - last
    fillable = ~measured & (last >= 0) & (following < len(days)) & (gap <= max_gap_days)
    result = pd.DataFrame({"date": days.date})
    for column in value_columns:
        values = daily[column].interpolate(
            method="linear" if method == "linear" else "nearest", limit_area="inside"
        )
        result[column] = np.where(measured | fillable, values.to_numpy(), np.nan)
    result["flag"] = np.where(measured, "measured", np.where(fillable, "interpolated", "missing"))
    result["granules"] = daily["count"].fillna(0).astype("int64").to_numpy()
    return result
