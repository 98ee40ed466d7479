"""Planetary Computer signing: a SAS token appended to an Azure Blob Storage asset href.

The ``planetary-computer`` package signs hrefs on ``*.blob.core.windows.net`` (fetching a token
for the storage account, with ``PC_SDK_SUBSCRIPTION_KEY`` if set) and returns any other href
unchanged, so every read goes through it. Signed hrefs are for reading only: what is written or
shown goes through :func:`stactools_glofnet.acquire.hrefs.public_href` first.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any


@cache
def _sdk() -> Any:
    with warnings.catch_warnings():
        # planetary-computer 1.0 declares its pydantic models with a class-based config, which
        # pydantic 2 deprecates: the package's concern, not the user's.
        warnings.filterwarnings("ignore", "Support for class-based `config` is deprecated")
        import planetary_computer

    return planetary_computer


def sign(href: str) -> str:
    """``href`` signed for reading when it is on the Planetary Computer's storage, else itself."""
    signed: str = _sdk().sign_url(href)
    return signed
