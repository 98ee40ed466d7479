"""Progress bars for batch work: shown on a terminal, silent in pipes, logs and tests.

tqdm is imported on first use: it reads its own version through importlib.metadata on import
(~40 ms), which commands that show no bar (an unchanged republish) need not pay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tqdm import tqdm

T = TypeVar("T")
logger = logging.getLogger(__name__)


def progress(
    items: Iterable[T], *, desc: str, unit: str, total: int | None = None, timed: bool = False
) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar on stderr when it is a terminal.

    ``total`` gives the bar its length when ``items`` has none (a generator). ``timed`` logs
    (INFO) how many came and how long they took, from the first request to the last item: the
    per-input part of a stage, apart from what the stage does before and after it.
    """
    from tqdm import tqdm

    started, count = time.perf_counter(), 0
    for item in tqdm(items, desc=desc, unit=unit, total=total, disable=None, leave=False):
        count += 1
        yield item
    if timed:
        logger.info("%s: %d %ss in %.1f s", desc, count, unit, time.perf_counter() - started)


def counter(*, desc: str, unit: str, total: int | None = None, unit_scale: bool = False) -> tqdm[Any]:
    """A progress bar advanced by hand with ``update(n)`` (files, bytes), shown like :func:`progress`."""
    from tqdm import tqdm

    return tqdm(desc=desc, unit=unit, total=total, unit_scale=unit_scale, disable=None, leave=False)
