"""Retries with exponential backoff for reads from a provider (HTTP through requests or GDAL)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, TypeVar

from rasterio.errors import RasterioError
from requests import RequestException

from stactools_glofnet.acquire.hrefs import scrub
from stactools_glofnet.core.errors import GlofnetError

logger = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_DELAY_S: Final = 0.5
MAX_DELAY_S: Final = 8.0
TRANSIENT: Final = (RasterioError, RequestException, OSError)


def delays(attempts: int) -> list[float]:
    """The waits between ``attempts`` tries: 0.5 s, doubling, at most 8 s."""
    return [min(MAX_DELAY_S, FIRST_DELAY_S * 2**i) for i in range(max(0, attempts - 1))]


def with_retries(
    action: Callable[[], T], *, attempts: int, what: str, sleep: Callable[[float], None] = time.sleep
) -> T:
    """``action()``, tried up to ``attempts`` times on transient errors; then one line naming ``what``.

    A :class:`GlofnetError` (bad content, not a bad connection) is never retried.
    """
    waits = delays(attempts)
    for attempt in range(attempts):
        try:
            return action()
        except GlofnetError:
            raise
        except TRANSIENT as error:
            message = scrub(" ".join(str(error).split()))
            if attempt == attempts - 1:
                tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
                raise GlofnetError(what, f"unreadable after {tries} ({message})") from None
            logger.info("%s: %s; retrying in %.1f s", what, message, waits[attempt])
            sleep(waits[attempt])
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
