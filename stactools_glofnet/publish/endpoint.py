"""S3 endpoint URLs: checked before any request, and written in messages without credentials."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from stactools_glofnet.core.errors import GlofnetError


def redact_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))


def check_endpoint_url(url: str) -> None:
    """Refuse an endpoint that is not an http(s) URL with a host, in one line."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise GlofnetError(redact_url(url), f"not a valid endpoint URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GlofnetError(
            redact_url(url), "not an endpoint URL; expected http(s)://HOST[:PORT], e.g. http://127.0.0.1:8333"
        )
