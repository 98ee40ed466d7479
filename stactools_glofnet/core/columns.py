"""Table rows gathered one input at a time, kept as one compact array per column.

A stage that makes a row per input (ITS_LIVE's pair measurements, MODIS's days) would otherwise
hold a dict per row until its table is made: about 270 bytes with its timestamp, so its memory
grows with the inputs. :class:`ColumnRows` keeps each column as machine values instead (8 bytes
a number or a time; equal strings kept once) and gives the same :class:`pandas.DataFrame` as the
rows would.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

Value: TypeAlias = "float | str | pd.Timestamp"


UNITS = ("s", "ms", "us", "ns")
"""pandas' time units, coarsest first: a column of mixed units takes the finest."""


@dataclass
class _Times:
    """A column of timestamps in one time zone: nanoseconds, and the finest unit seen."""

    tz: Any
    unit: str = "s"
    ticks: array[int] = field(default_factory=lambda: array("q"))

    def convert(self, value: Value) -> tuple[int, str]:
        if not isinstance(value, pd.Timestamp) or value.tz != self.tz:
            raise TypeError(f"expected a pandas.Timestamp in {self.tz}, got {value!r}")
        return int(value.as_unit("ns").asm8.view("i8")), value.unit

    def extend(self, stored: Any) -> None:
        ticks, unit = stored
        self.ticks.append(ticks)
        self.unit = max(self.unit, unit, key=UNITS.index)

    def series(self) -> pd.Series:
        index = pd.DatetimeIndex(np.frombuffer(self.ticks, dtype="datetime64[ns]")).as_unit(self.unit)
        return pd.Series(index if self.tz is None else index.tz_localize("UTC").tz_convert(self.tz))


@dataclass
class _Numbers:
    """A column of numbers as float64."""

    values: array[float] = field(default_factory=lambda: array("d"))

    def convert(self, value: Value) -> float:
        if not isinstance(value, float | int | np.floating | np.integer) or isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)

    def extend(self, stored: Any) -> None:
        self.values.append(stored)

    def series(self) -> pd.Series:
        return pd.Series(np.frombuffer(self.values, dtype=np.float64).copy())


@dataclass
class _Texts:
    """A column of strings; equal strings are kept once."""

    values: list[str] = field(default_factory=list)
    distinct: dict[str, str] = field(default_factory=dict)

    def convert(self, value: Value) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return self.distinct.setdefault(value, value)

    def extend(self, stored: Any) -> None:
        self.values.append(stored)

    def series(self) -> pd.Series:
        return pd.Series(self.values)


def _column_for(value: Value) -> _Times | _Numbers | _Texts:
    if isinstance(value, pd.Timestamp):
        return _Times(value.tz)
    if isinstance(value, str):
        return _Texts()
    return _Numbers()


@dataclass
class ColumnRows:
    """Rows with the same keys, each value a number, a string or a :class:`pandas.Timestamp`.

    The first row sets each column's kind (a time column's unit and zone too); :meth:`frame` is
    ``pandas.DataFrame(rows)`` of the rows appended. A row that does not fit is refused whole.
    """

    _columns: dict[str, _Times | _Numbers | _Texts] = field(default_factory=dict)
    _count: int = 0

    def append(self, row: Mapping[str, Value]) -> None:
        """Add ``row``; its keys must be those of the first row, its values of their kinds."""
        columns = self._columns or {name: _column_for(value) for name, value in row.items()}
        if row.keys() != columns.keys():
            raise ValueError(f"row keys {sorted(row)} differ from the table's {sorted(columns)}")
        stored = [(column, column.convert(row[name])) for name, column in columns.items()]
        for column, value in stored:
            column.extend(value)
        self._columns = columns
        self._count += 1

    def __len__(self) -> int:
        """The number of rows appended."""
        return self._count

    def frame(self) -> pd.DataFrame:
        """The rows as a table, with the dtypes ``pandas.DataFrame(rows)`` gives them."""
        return pd.DataFrame({name: column.series() for name, column in self._columns.items()})
