"""The multimodal overview: lake area, glacier speed and LST on one time axis, with events and splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.figures import png_figure

SPLIT_COLOURS = {"train": "tab:green", "validate": "tab:orange", "test": "tab:purple"}


def multimodal_figure(frame: pd.DataFrame, content: CatalogContent, path: Path) -> None:
    """Write the three daily series as stacked panels sharing the time axis (PNG)."""
    days = pd.to_datetime(frame["date"])
    with png_figure(path, rows=3, size=(9, 6.5), sharex=True) as (_, axes):
        _draw(axes, frame, days, content)


def _draw(axes: Any, frame: pd.DataFrame, days: pd.Series, content: CatalogContent) -> None:
    panels = [
        (["lake_area_km2"], "lake area (km²)"),
        (["glacier_mean_m_per_yr", "glacier_p90_m_per_yr"], "glacier speed (m/yr)"),
        (["lst_day_k", "lst_night_k"], "trunk LST (K)"),
    ]
    for axis, (columns, ylabel) in zip(axes, panels, strict=True):
        for column in columns:
            measured = frame[f"{column}_flag"] == "measured"
            axis.plot(days, frame[column], lw=0.8, label=column)
            axis.plot(days[measured], frame.loc[measured, column], ".", ms=2, color="black")
        axis.set_ylabel(ylabel)
        if ylabel.startswith("glacier speed"):
            axis.set_yscale("log")  # the surge is an order of magnitude above the quiescent flow
        for block in content.splits.block:
            axis.axvspan(
                pd.Timestamp(block.start),
                pd.Timestamp(block.end),
                color=SPLIT_COLOURS[block.split],
                alpha=0.07,
            )
        for event in content.events.labelled:
            axis.axvline(pd.Timestamp(event.start), color="tab:red", lw=0.8, ls="--")
        if len(columns) > 1:
            axis.legend(loc="upper right", fontsize=7)
    axes[0].set_xlim(days.min(), days.max())
    axes[0].set_title("GLOFNet harmonized daily series (dots: measured; dashed: outbursts; shading: splits)")
