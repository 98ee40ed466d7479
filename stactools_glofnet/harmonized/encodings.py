"""Per-day features every harmonized product shares: cyclical encodings, labels, splits, normalization."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from stactools_glofnet.core.config import CatalogContent

DAYS_PER_YEAR = 365.25
ENCODINGS: dict[str, tuple[str, float, int]] = {
    # source: (column prefix, period, offset): angle = 2 pi (value - offset) / period
    "day_of_year": ("doy", DAYS_PER_YEAR, 1),
    "month": ("month", 12.0, 1),
}


def cyclical_encodings(
    content: CatalogContent, days: pd.DatetimeIndex
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The sin/cos columns of each configured encoding and their ``glofnet:cyclical_encodings``."""
    frame = pd.DataFrame(index=days)
    declared: list[dict[str, Any]] = []
    for source in content.processing.harmonized.cyclical_encodings:
        prefix, period, offset = ENCODINGS[source]
        value = days.day_of_year if source == "day_of_year" else days.month
        angle = 2 * np.pi * (np.asarray(value, dtype=np.float64) - offset) / period
        frame[f"{prefix}_sin"] = np.sin(angle)
        frame[f"{prefix}_cos"] = np.cos(angle)
        declared.append(
            {
                "source": source,
                "period": period,
                "offset": offset,
                "columns": {"sin": f"{prefix}_sin", "cos": f"{prefix}_cos"},
            }
        )
    return frame, declared


def labels(content: CatalogContent, days: pd.DatetimeIndex) -> pd.DataFrame:
    """GLOF label, days to the next labelled outburst (null after the last) and split per day."""
    dates = [d.date() for d in days]
    next_glof = [content.events.next_glof(d) for d in dates]
    return pd.DataFrame(
        {
            "label": np.array([content.events.is_glof(d) for d in dates], dtype=np.int8),
            "days_to_next_glof": pd.array(
                [None if n is None else (n - d).days for n, d in zip(next_glof, dates, strict=True)],
                dtype="Int32",
            ),
            "split": pd.array([content.splits.split_of(d) for d in dates], dtype="string"),
        },
        index=days,
    )


def train_statistics(values: pd.Series, split: pd.Series) -> dict[str, float | int]:
    """Mean, population std and count of the non-null ``values`` on train days."""
    train = values[(split == "train").fillna(False).to_numpy()].dropna().astype(np.float64)
    if len(train) < 2 or float(train.std(ddof=0)) == 0:
        raise ValueError("fewer than two distinct train values")
    return {"mean": float(train.mean()), "std": float(train.std(ddof=0)), "count": len(train)}


def period(content: CatalogContent, first: dt.date, last: dt.date) -> pd.DatetimeIndex:
    """The daily axis: the split blocks' span clipped to the days the inputs cover."""
    start = max(content.splits.block[0].start, first)
    end = min(content.splits.block[-1].end, last)
    return pd.date_range(start, end, freq="D")
