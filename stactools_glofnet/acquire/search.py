"""The STAC API search (pystac-client): items of a collection over the AOI and dates.

Connection problems are retried with backoff a few times and then reported in one line naming
the API's URL; the items come back as the provider's own JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import pystac
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from pystac_client.warnings import DoesNotConformTo
from requests import ConnectionError as RequestsConnectionError
from requests import RequestException, Timeout
from urllib3.util.retry import Retry

from stactools_glofnet.acquire.hrefs import public_href, scrub
from stactools_glofnet.acquire.request import iso
from stactools_glofnet.core.config import BBox
from stactools_glofnet.core.errors import GlofnetError

CONNECT_TIMEOUT_S: Final = 10.0
READ_TIMEOUT_S: Final = 120.0
PAGE_SIZE: Final = 100


def _reason(error: BaseException) -> str:
    """A short reason; pystac-client wraps the requests error it got, so the chain is searched."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, Timeout):
            return "no answer in time (timed out)"
        if isinstance(cause, RequestsConnectionError):
            return "cannot connect (no server answers there)"
        cause = cause.__cause__ or cause.__context__
    return scrub(" ".join(str(error).split()))[:300] or type(error).__name__


def open_api(url: str, attempts: int) -> Client:
    """The STAC API at ``url``; connection errors are retried (at most twice), then one line."""
    retry = Retry(
        total=attempts - 1,
        connect=min(2, attempts - 1),
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        raise_on_status=False,
    )
    stac_io = StacApiIO(timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), max_retries=retry)
    try:
        return Client.open(url, stac_io=stac_io)
    except (APIError, RequestException, pystac.STACError, ValueError) as error:
        raise GlofnetError(public_href(url), f"no STAC API here: {_reason(error)}") from None


def search_items(
    client: Client, url: str, collection: str, aoi: BBox, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Every item (the API's JSON) of ``collection`` over ``aoi`` from ``start`` to ``end`` (inclusive)."""
    try:
        search = client.search(
            collections=[collection], bbox=list(aoi), datetime=f"{iso(start)}/{iso(end)}", limit=PAGE_SIZE
        )
        items = list(search.items_as_dicts())
    except DoesNotConformTo:
        raise GlofnetError(public_href(url), "is a static catalog, not a STAC API with item search") from None
    except (APIError, RequestException, pystac.STACError, ValueError) as error:
        raise GlofnetError(public_href(url), f"search failed: {_reason(error)}") from None
    return items
