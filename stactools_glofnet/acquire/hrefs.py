"""Hrefs as they may be written or shown: without credentials (SAS tokens, signatures, passwords).

A Planetary Computer asset href is signed with a shared access signature in its query string
(``?st=…&se=…&sp=rl&sv=…&sr=c&sig=…``); S3 presigned URLs carry ``X-Amz-Signature``; a URL may
hold ``user:password@``. None of that may reach a file, a log or a message.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

CREDENTIAL_PARAMETERS: Final = frozenset(
    {
        "sig",  # Azure SAS signature (the Planetary Computer)
        "se",
        "st",
        "sp",
        "sv",
        "sr",
        "skoid",
        "sktid",
        "skt",
        "ske",
        "sks",
        "skv",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "signature",
        "key-pair-id",
        "policy",
        "token",
        "access_token",
        "subscription-key",
    }
)
_SIGNED_QUERY = re.compile(r"\?[^\s'\"]*(?:sig|signature|token|credential)=[^\s'\"]*", re.IGNORECASE)


def public_href(href: str) -> str:
    """``href`` without user information and without a query string that carries a credential."""
    parts = urlsplit(href)
    if not parts.scheme or not parts.netloc:
        return href
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if any(key.lower() in CREDENTIAL_PARAMETERS for key, _ in parse_qsl(query, keep_blank_values=True)):
        query = ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def scrub(text: str) -> str:
    """``text`` (an error message) with any signed query string removed."""
    return _SIGNED_QUERY.sub("", text)


def absolute(href: str, base: str) -> str:
    """``href`` resolved against the document it appears in (STAC allows relative asset hrefs)."""
    return href if urlsplit(href).scheme else urljoin(base, href)
