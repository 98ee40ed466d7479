"""Progress bars for batch work: shown on a terminal, silent in pipes, logs and tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, unit: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar on stderr when it is a terminal.

    ``total`` gives the bar its length when ``items`` has none (a generator).
    """
    yield from tqdm(items, desc=desc, unit=unit, total=total, disable=None, leave=False)
