"""The shared time line of planted signals, driven by the catalog's event list.

Every sample generator draws its truth from one :class:`Timeline`, so that the lake drains on the
same day in the optical scenes, the labels and the harmonized table, and the surge shows in the
velocity the way the events say. Functions take numpy ``datetime64[D]`` arrays and are pure:
the only randomness (year-to-year melt onset, the residual lake after each drainage) is drawn
once, from the generator's own stream, when the time line is made.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stactools_glofnet.core.config import Events

Days = NDArray[np.datetime64]
Floats = NDArray[np.float64]

EPOCH = np.datetime64("2000-01-01", "D")


@dataclass(frozen=True)
class SignalParameters:
    """Shape parameters of the planted signals (physically plausible, not measured)."""

    default_peak_lake_area_km2: float = 0.40
    winter_fill_weight: float = 0.12
    melt_season_days: float = 150.0
    mean_melt_onset_doy: float = 105.0
    melt_onset_sd_days: float = 8.0
    residual_lake_km2: tuple[float, float] = (0.01, 0.04)
    base_speed_m_per_yr: float = 120.0
    seasonal_speed_amplitude: float = 0.25
    seasonal_speed_peak_doy: float = 171.0
    surge_plateau_m_per_yr: float = 2000.0
    uncertain_surge_plateau_m_per_yr: float = 600.0
    surge_taper_days: float = 60.0
    # Velocity peaks of the 2017-2019 surge: Apr-May 2018 and May-Jun 2019 (DOMAIN.md §1).
    surge_pulses: tuple[tuple[str, float], ...] = (("2018-05-01", 18.0), ("2019-05-31", 19.2))
    surge_pulse_sd_days: float = 35.0
    lst_mean_k: float = 265.0
    lst_amplitude_k: float = 11.0
    lst_peak_doy: float = 200.0
    # Warming of about 0.8 K per decade reported by GLOFNet.
    lst_trend_k_per_year: float = 0.08


@dataclass(frozen=True)
class Drainage:
    """One planted drainage: the lake peaks the day before and drops to the residual."""

    event_id: str
    date: np.datetime64
    peak_area_km2: float
    residual_area_km2: float


def _day_of_year(days: Days) -> Floats:
    years = days.astype("datetime64[Y]")
    offsets: Floats = (days - years.astype("datetime64[D]")).astype(np.float64)
    return offsets + 1.0


class Timeline:
    """Planted lake area, glacier speed and surface temperature for every day of a span."""

    def __init__(
        self,
        events: Events,
        start: dt.date,
        end: dt.date,
        rng: np.random.Generator,
        parameters: SignalParameters | None = None,
    ) -> None:
        """Draw the time line's random parts from ``rng`` for the years ``start``..``end``."""
        self.events = events
        self.start = np.datetime64(start, "D")
        self.end = np.datetime64(end, "D")
        self.p = parameters or SignalParameters()
        years = range(start.year, end.year + 2)
        onsets = rng.normal(self.p.mean_melt_onset_doy, self.p.melt_onset_sd_days, len(years))
        self.melt_onset_doy = {year: round(float(o), 1) for year, o in zip(years, onsets, strict=True)}
        dams = sorted(e.start for e in events.event if e.kind == "dam-formation")
        self.dam_date = np.datetime64(dams[0], "D") if dams else None
        self.drainages = [
            Drainage(
                event.id,
                np.datetime64(event.drainage_date, "D"),
                event.lake_area_km2 or self.p.default_peak_lake_area_km2,
                round(float(rng.uniform(*self.p.residual_lake_km2)), 4),
            )
            for event in events.drainages
        ]

    def days(self) -> Days:
        """Every day of the span."""
        return np.arange(self.start, self.end + 1, dtype="datetime64[D]")

    # ------------------------------------------------------------------------------ lake
    def _fill_weight(self, days: Days) -> Floats:
        """Relative filling rate: low in winter, high through the melt season."""
        doy = _day_of_year(days)
        years = days.astype("datetime64[Y]").astype(int) + 1970
        onset = np.array([self.melt_onset_doy.get(int(y), self.p.mean_melt_onset_doy) for y in years])
        phase = (doy - onset) / self.p.melt_season_days
        melt = np.where((phase > 0) & (phase < 1), np.sin(np.pi * np.clip(phase, 0, 1)), 0.0)
        return self.p.winter_fill_weight + (1 - self.p.winter_fill_weight) * melt

    def lake_area_km2(self, days: Days) -> Floats:
        """Open-water area of the lake: fills from each drainage towards the next peak."""
        days = np.asarray(days, dtype="datetime64[D]")
        area = np.zeros(days.shape, dtype=np.float64)
        if self.dam_date is None:
            return area
        # Filling cycles: (start day, area at start, peak day, peak area).
        cycles: list[tuple[np.datetime64, float, np.datetime64, float]] = []
        begin: np.datetime64 = self.dam_date
        level = 0.0
        for drainage in self.drainages:
            cycles.append((begin, level, drainage.date - 1, drainage.peak_area_km2))
            begin, level = drainage.date, drainage.residual_area_km2
        last_peak = self.drainages[-1].peak_area_km2 if self.drainages else self.p.default_peak_lake_area_km2
        cycles.append((begin, level, begin + 365, last_peak))
        for first, low, peak_day, high in cycles:
            cycle_days = np.arange(first, peak_day + 1, dtype="datetime64[D]")
            rate = self._fill_weight(cycle_days)
            filled = np.cumsum(rate) - rate[0]  # nothing filled yet on the cycle's first day
            progress = filled / filled[-1]
            inside = (days >= first) & (days <= peak_day)
            index = (days[inside] - first).astype(int)
            area[inside] = low + (high - low) * progress[index]
            if first == begin:  # after the last drainage the lake stays full
                area[days > peak_day] = high
        return area

    # -------------------------------------------------------------------------- velocity
    def _taper(self, days: Days, start: np.datetime64, end: np.datetime64) -> Floats:
        t = days.astype(np.float64)
        ramp = self.p.surge_taper_days
        up = np.clip((t - start.astype(np.float64)) / ramp + 0.5, 0, 1)
        down = np.clip((end.astype(np.float64) - t) / ramp + 0.5, 0, 1)
        return np.sin(0.5 * np.pi * np.minimum(up, down)) ** 2

    def glacier_speed_m_per_yr(self, days: Days) -> Floats:
        """Speed of the glacier trunk: base, seasonal cycle, surge plateaus and surge peaks."""
        days = np.asarray(days, dtype="datetime64[D]")
        doy = _day_of_year(days)
        season = 1 + self.p.seasonal_speed_amplitude * np.cos(
            2 * np.pi * (doy - self.p.seasonal_speed_peak_doy) / 365.25
        )
        speed = self.p.base_speed_m_per_yr * season
        for event in self.events.event:
            if event.kind != "surge":
                continue
            plateau = (
                self.p.surge_plateau_m_per_yr
                if event.confidence == "documented"
                else self.p.uncertain_surge_plateau_m_per_yr
            )
            start, end = np.datetime64(event.start, "D"), np.datetime64(event.end, "D")
            speed = speed + plateau * self._taper(days, start, end)
        t = days.astype(np.float64)
        for day, m_per_day in self.p.surge_pulses:
            centre = np.datetime64(day, "D").astype(np.float64)
            bump = np.exp(-0.5 * ((t - centre) / self.p.surge_pulse_sd_days) ** 2)
            speed = speed + (m_per_day * 365.25 - self.p.surge_plateau_m_per_yr) * bump
        return speed

    # ------------------------------------------------------------------------ temperature
    def lst_kelvin(self, days: Days) -> Floats:
        """Daytime land-surface temperature at the lake: seasonal cycle plus a warming trend."""
        days = np.asarray(days, dtype="datetime64[D]")
        doy = _day_of_year(days)
        years = (days - EPOCH).astype(np.float64) / 365.25
        season = self.p.lst_amplitude_k * np.cos(2 * np.pi * (doy - self.p.lst_peak_doy) / 365.25)
        return self.p.lst_mean_k + season + self.p.lst_trend_k_per_year * years

    # ------------------------------------------------------------------------------ truth
    def truth(self) -> dict[str, Any]:
        """What was planted, for truth.json."""
        p = self.p
        return {
            "span": [str(self.start), str(self.end)],
            "dam_date": None if self.dam_date is None else str(self.dam_date),
            "drainages": [
                {
                    "event_id": d.event_id,
                    "date": str(d.date),
                    "peak_area_km2": d.peak_area_km2,
                    "residual_area_km2": d.residual_area_km2,
                }
                for d in self.drainages
            ],
            "melt_onset_doy": {str(year): doy for year, doy in self.melt_onset_doy.items()},
            "glacier_speed": {
                "base_m_per_yr": p.base_speed_m_per_yr,
                "seasonal_amplitude": p.seasonal_speed_amplitude,
                "seasonal_peak_doy": p.seasonal_speed_peak_doy,
                "surge_pulses": [{"date": d, "m_per_day": v} for d, v in p.surge_pulses],
            },
            "lst": {
                "mean_k": p.lst_mean_k,
                "amplitude_k": p.lst_amplitude_k,
                "peak_doy": p.lst_peak_doy,
                "trend_k_per_year": p.lst_trend_k_per_year,
                "trend_epoch": str(EPOCH),
            },
        }
