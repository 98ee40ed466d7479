"""Daily time series: per-measurement values onto a UTC-day axis, interpolated up to a maximum gap."""

from __future__ import annotations

from typing import Any

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


MISSING, MEASURED, INTERPOLATED = 0, 1, 2
FLAG_MEANINGS = {"missing": MISSING, "measured": MEASURED, "interpolated": INTERPOLATED}
"""Codes of the per-value flags in cubes (the tables spell them out)."""


def fill_gaps(
    values: np.ndarray[Any, np.dtype[np.floating[Any]]], max_gap_days: int
) -> tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.uint8]]]:
    """Interpolate daily ``values`` (time first, any trailing shape) linearly along time.

    A NaN between two measured days at most ``max_gap_days`` apart is interpolated; longer gaps
    and the ends stay NaN. Returns the filled values and a flag per value (:data:`FLAG_MEANINGS`).
    """
    count = values.shape[0]
    flat = values.reshape(count, -1)
    measured = np.isfinite(flat)
    day = np.arange(count, dtype=np.int32)[:, None]
    # each value's last and next measured day and their values, carried one day at a time (a row
    # of cells per step): numpy's accumulate along the first axis walks the array column by column
    last, start = np.where(measured, day, np.int32(-1)), np.where(measured, flat, np.nan)
    following, end = np.where(measured, day, np.int32(count)), start.copy()
    for today in range(1, count):
        gap = ~measured[today]
        np.copyto(last[today], last[today - 1], where=gap)
        np.copyto(start[today], start[today - 1], where=gap)
    for today in range(count - 2, -1, -1):
        gap = ~measured[today]
        np.copyto(following[today], following[today + 1], where=gap)
        np.copyto(end[today], end[today + 1], where=gap)
    fillable = ~measured & (last >= 0) & (following < count) & (following - last <= max_gap_days)
    filled = np.where(measured, flat, np.nan).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):  # the values not filled are discarded
        first = start.astype(np.float64)
        weight = (day - last) / (following - last)
        between = first + weight * (end.astype(np.float64) - first)
    np.copyto(filled, between, where=fillable, casting="unsafe")  # interpolated in float64
    flags = np.where(measured, MEASURED, np.where(fillable, INTERPOLATED, MISSING)).astype(np.uint8)
    return filled.reshape(values.shape), flags.reshape(values.shape)
