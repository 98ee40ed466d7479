"""The boto3 S3 client (standard credential chain, retries with backoff) and its errors as one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stactools_glofnet import __version__
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.publish.settings import TransferSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_REGION = "us-east-1"


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


def s3_client(
    settings: TransferSettings, endpoint_url: str | None = None, session: boto3.session.Session | None = None
) -> S3Client:
    """A client for AWS S3 or any S3-compatible ``endpoint_url`` (path-style addressing there;
    ``$AWS_ENDPOINT_URL_S3`` and ``$AWS_ENDPOINT_URL`` are honoured as by boto3).

    Credentials and region come from boto3's standard chain: environment, shared config and
    credentials files, SSO, web identity (GitHub OIDC), instance metadata. They are never printed.
    botocore retries throttling, 5xx answers and connection errors with exponential backoff and
    jitter (``standard`` mode). Checksums are MD5 (``Content-MD5``), which every S3-compatible
    store checks, rather than botocore's newer default CRC trailers, which some do not accept.
    """
    session = session or boto3.session.Session()
    custom = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if custom:
        check_endpoint_url(custom)
    with s3_errors(redact_url(endpoint_url) if endpoint_url else "S3"):
        if session.get_credentials() is None:
            raise GlofnetError(
                "AWS credentials",
                "none found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or assume a role)",
            )
        config = Config(
            retries={"mode": "standard", "max_attempts": settings.max_attempts},
            max_pool_connections=2 * settings.concurrency,
            connect_timeout=10,
            read_timeout=120,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if custom else {},
            user_agent_extra=f"stactools-glofnet/{__version__}",
        )
        return session.client(
            "s3", endpoint_url=endpoint_url, region_name=session.region_name or DEFAULT_REGION, config=config
        )


@contextmanager
def s3_errors(where: str) -> Iterator[None]:
    """Turn botocore errors into a one-line :class:`GlofnetError` about ``where``."""
    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code", "error")
        message = details.get("Message", "")
        raise GlofnetError(where, f"{error.operation_name} failed: {code} {message}".strip()) from None
    except BotoCoreError as error:
        raise GlofnetError(where, str(error)) from None
