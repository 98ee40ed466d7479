"""The glacier's daily speed series from the kept granules."""

from __future__ import annotations

import pandas as pd

from stactools_glofnet.core.series import to_daily


def daily_series(measurements: pd.DataFrame, max_gap_days: int, method: str) -> pd.DataFrame:
    """Glacier mean and p90 per UTC day (pairs assigned to their centre day)."""
    daily = to_daily(measurements, "mid_date", ["glacier_mean", "glacier_p90"], max_gap_days, method)
    return daily.rename(
        columns={"glacier_mean": "glacier_mean_m_per_yr", "glacier_p90": "glacier_p90_m_per_yr"}
    )
