"""The harmonized daily table: one row per day with every modality's daily aggregates.

Each value column has a ``<column>_flag`` (measured, interpolated, missing). Lake area is taken
from clear scenes only (a partly cloudy scene gives a lower bound, not a value to interpolate
from) and interpolated over gaps of at most ``max_gap_days.sentinel2``; the velocity and LST
series arrive daily and flagged from their collections and are reindexed onto the period.
Normalized copies (``<column>_norm``) use statistics of the train split alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.contract import LAKE_AREA, LST_DAILY, VELOCITY_DAILY
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension
from stactools_glofnet.core.linked import each_item
from stactools_glofnet.core.normalization import Reference, choose, from_train, is_applied
from stactools_glofnet.core.series import to_daily
from stactools_glofnet.harmonized.encodings import cyclical_encodings, labels, period, train_statistics
from stactools_glofnet.harmonized.inputs import HarmonizationInputs

NORMALIZED = ["lake_area_km2", "glacier_mean_m_per_yr", "glacier_p90_m_per_yr", "lst_day_k", "lst_night_k"]
NORM_SUFFIX = "_norm"

COLUMNS: dict[str, str] = {
    "date": "UTC day",
    "lake_area_km2": "Open-water area of the lake (km2) from clear Sentinel-2 scenes, interpolated",
    "lake_area_km2_flag": "measured, interpolated (gap up to max_gap_days.sentinel2) or missing",
    "lake_quality": "Lake-area quality of the day's best scene (clear, partly_cloudy, cloudy, outside)",
    "lake_clear_fraction": "Clear fraction of the lake basin in the day's best scene; 0 without a scene",
    "glacier_mean_m_per_yr": "Mean speed over the glacier trunk (m/yr), ITS_LIVE",
    "glacier_mean_m_per_yr_flag": "measured, interpolated (gap up to max_gap_days.itslive) or missing",
    "glacier_p90_m_per_yr": "90th percentile of speed over the glacier trunk (m/yr)",
    "glacier_p90_m_per_yr_flag": "measured, interpolated or missing",
    "glacier_valid_fraction": "Mean valid glacier fraction of the image pairs centred on the day; 0 without",
    "lst_day_k": "Mean daytime LST over the glacier trunk (K), MODIS",
    "lst_day_k_flag": "measured, interpolated (gap up to max_gap_days.modis) or missing",
    "lst_night_k": "Mean night-time LST over the glacier trunk (K)",
    "lst_night_k_flag": "measured, interpolated or missing",
    "trunk_coverage_day": "Fraction of trunk pixels with a valid daytime LST (0 where no data)",
    "doy_sin": "sin(2 pi (day_of_year - 1) / 365.25)",
    "doy_cos": "cos(2 pi (day_of_year - 1) / 365.25)",
    "month_sin": "sin(2 pi (month - 1) / 12)",
    "month_cos": "cos(2 pi (month - 1) / 12)",
    "label": "1 = GLOF (an outburst or up to glof_window_days after it), 0 = no GLOF",
    "days_to_next_glof": "Days until the next labelled outburst starts; null after the last",
    "split": "train, validate or test; null inside a buffer",
    **{f"{c}{NORM_SUFFIX}": f"({c} - mean) / std with train-split statistics" for c in NORMALIZED},
}


@dataclass(frozen=True)
class DailyTable:
    """The table and the metadata describing it."""

    frame: pd.DataFrame
    normalization: dict[str, Any]
    encodings: list[dict[str, Any]]

    @property
    def columns(self) -> dict[str, str]:
        """The table's columns with their descriptions (no ``_norm`` copies without normalization)."""
        return {name: text for name, text in COLUMNS.items() if name in self.frame.columns}


def _read(inputs: HarmonizationInputs, modality: Any, key: str) -> pd.DataFrame:
    path = inputs.asset_path(modality, key)
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for an unreadable file
        raise GlofnetError(path, f"cannot read the {key} table ({error})") from None


def _day_index(values: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True).dt.tz_localize(None).dt.normalize())


def _lake(inputs: HarmonizationInputs, max_gap: int, method: str) -> pd.DataFrame:
    scenes = _read(inputs, "sentinel2", LAKE_AREA.key)
    kept = scenes[scenes["status"] == "kept"].copy()
    kept["day"] = _day_index(kept["datetime"])
    kept["lake_clear_fraction"] = 1.0 - kept["lake_masked_fraction"].astype(np.float64)
    rank = {"clear": 0, "partly_cloudy": 1, "cloudy": 2, "outside": 3}
    kept["rank"] = kept["quality"].map(rank)
    best = (
        kept.sort_values(
            ["day", "rank", "lake_clear_fraction", "scene_id"], ascending=[True, True, False, True]
        )
        .drop_duplicates("day")
        .set_index("day")
    )
    clear = kept[kept["quality"] == "clear"]
    daily = to_daily(clear, "datetime", ["lake_area_km2"], max_gap, method)
    daily = daily.set_index(pd.DatetimeIndex(pd.to_datetime(daily["date"])))
    return pd.DataFrame(
        {
            "lake_area_km2": daily["lake_area_km2"],
            "lake_area_km2_flag": daily["flag"],
            "lake_quality": best["quality"],
            "lake_clear_fraction": best["lake_clear_fraction"],
        }
    )


def _velocity(inputs: HarmonizationInputs) -> pd.DataFrame:
    series = _read(inputs, "itslive", VELOCITY_DAILY.key)
    frame = series.set_index(pd.DatetimeIndex(pd.to_datetime(series["date"])))
    valid: dict[pd.Timestamp, list[float]] = {}
    for item in each_item(inputs.collections["itslive"]):
        fraction = GlofnetExtension.ext(item).glacier_valid_fraction
        if item.datetime is not None and fraction is not None:
            day = pd.Timestamp(item.datetime).tz_convert("UTC").tz_localize(None).normalize()
            valid.setdefault(day, []).append(fraction)
    return pd.DataFrame(
        {
            "glacier_mean_m_per_yr": frame["glacier_mean_m_per_yr"],
            "glacier_mean_m_per_yr_flag": frame["flag"],
            "glacier_p90_m_per_yr": frame["glacier_p90_m_per_yr"],
            "glacier_p90_m_per_yr_flag": frame["flag"],
            "glacier_valid_fraction": pd.Series(
                {d: float(np.mean(v)) for d, v in valid.items()}, dtype=float
            ),
        }
    )


def _lst(inputs: HarmonizationInputs) -> pd.DataFrame:
    series = _read(inputs, "modis", LST_DAILY.key)
    frame = series.set_index(pd.DatetimeIndex(pd.to_datetime(series["date"])))
    return frame.rename(columns={"lst_day_flag": "lst_day_k_flag", "lst_night_flag": "lst_night_k_flag"})[
        ["lst_day_k", "lst_day_k_flag", "lst_night_k", "lst_night_k_flag", "trunk_coverage_day"]
    ]


def daily_table(
    content: CatalogContent, inputs: HarmonizationInputs, reference: Reference | None = None
) -> DailyTable:
    """Join the modalities on the daily axis and add encodings, labels, splits and normalized copies.

    Statistics come from the train days (or from ``reference``); without either, no copies.
    """
    params = content.processing.harmonized
    parts = [
        _lake(inputs, params.max_gap_days["sentinel2"], params.interpolation),
        _velocity(inputs),
        _lst(inputs),
    ]
    first = min(p.index.min() for p in parts).date()
    last = max(p.index.max() for p in parts).date()
    days = period(content, first, last)
    if len(days) == 0:
        raise GlofnetError(
            content.directory / "splits.toml", f"no split block overlaps the inputs {first}..{last}"
        )
    frame = pd.concat([p.reindex(days) for p in parts], axis=1)
    for column in [c for c in frame.columns if c.endswith("_flag")]:
        frame[column] = frame[column].fillna("missing").astype("string")
    for column in ("lake_clear_fraction", "glacier_valid_fraction", "trunk_coverage_day"):
        frame[column] = frame[column].fillna(0.0).astype(np.float64)
    frame["lake_quality"] = frame["lake_quality"].astype("string")
    encodings, declared = cyclical_encodings(content, days)
    frame = pd.concat([frame, encodings, labels(content, days)], axis=1)
    own: dict[str, Any] | None = None
    unusable: dict[str, str] = {}
    if reference is None and bool((frame["split"] == "train").fillna(False).any()):
        statistics: dict[str, Any] = {}
        for column in NORMALIZED:
            try:
                statistics[column] = train_statistics(frame[column], frame["split"])
            except ValueError as error:
                unusable[column] = str(error)
        own = from_train("harmonized table", statistics, unusable, suffix=NORM_SUFFIX)
    normalization = choose("harmonized", reference, own)
    if is_applied(normalization):
        for column in NORMALIZED:
            stats = normalization["statistics"].get(column)
            if stats is None and column in unusable:
                continue
            if stats is None:
                raise GlofnetError(column, "the normalization statistics lack this column")
            frame[f"{column}{NORM_SUFFIX}"] = (frame[column] - stats["mean"]) / stats["std"]
    frame.insert(0, "date", days.date)
    frame = frame.reset_index(drop=True)[[c for c in COLUMNS if c in frame.columns]]
    return DailyTable(frame=frame, normalization=normalization, encodings=declared)
