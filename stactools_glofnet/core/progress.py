"""Progress bars for batch work: shown on a terminal, silent in pipes, logs and tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, unit: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar on stderr when it is a terminal.

    ``total`` gives the bar its length when ``items`` has none (a generator).
    """
    yield from tqdm(items, desc=desc, unit=unit, total=total, disable=None, leave=False)


def counter(*, desc: str, unit: str, total: int | None = None, unit_scale: bool = False) -> tqdm[Any]:
    """A progress bar advanced by hand with ``update(n)`` (files, bytes), shown like :func:`progress`."""
    return tqdm(desc=desc, unit=unit, total=total, unit_scale=unit_scale, disable=None, leave=False)
