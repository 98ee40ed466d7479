"""Daily time series: per-measurement values onto a UTC-day axis, interpolated up to a maximum gap."""

from __future__ import annotations

import numpy as np
import pandas as pd


def to_daily(
    measurements: pd.DataFrame, time_column: str, value_columns: list[str], max_gap_days: int, method: str
) -> pd.DataFrame:
    """One row per UTC day from the first to the last measurement.

    Days with measurements take their mean; days between two measured days at most
    ``max_gap_days`` apart are interpolated linearly; longer gaps stay missing. ``flag`` tells
    which, and ``granules`` how many measurements fell on the day.
    """
    if method != "linear":
        raise ValueError(f"unknown interpolation {method!r}")
    frame = measurements.dropna(subset=value_columns, how="any").copy()
    if frame.empty:
        return pd.DataFrame(columns=["date", *value_columns, "flag", "granules"])
    times = pd.to_datetime(frame[time_column], utc=True)
    frame["date"] = times.dt.tz_localize(None).dt.normalize()
    grouped = frame.groupby("date")
    daily = grouped[value_columns].mean()
    daily["count"] = grouped.size()
    days = pd.date_range(daily.index.min(), daily.index.max(), freq="D")
    daily = daily.reindex(days)
    measured = daily["count"].notna().to_numpy()
    index = np.arange(len(days))
    last = np.maximum.accumulate(np.where(measured, index, -1))
    following = np.minimum.accumulate(np.where(measured, index, len(days))[::-1])[::-1]
    fillable = ~measured & (last >= 0) & (following < len(days)) & (following - last <= max_gap_days)
    result = pd.DataFrame({"date": days.date})
    for column in value_columns:
        values = daily[column].interpolate(method="linear", limit_area="inside").to_numpy()
        result[column] = np.where(measured | fillable, values, np.nan)
    result["flag"] = np.where(measured, "measured", np.where(fillable, "interpolated", "missing"))
    result["granules"] = daily["count"].fillna(0).astype("int64").to_numpy()
    return result
