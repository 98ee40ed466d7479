"""The S3 client (standard credential chain, retries with backoff) and its errors as one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit, urlunsplit

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stactools_glofnet import __version__
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.publish.settings import TransferSettings

if TYPE_CHECKING:
    import boto3
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


class _S3Loader(botocore.loaders.Loader):
    """botocore's model loader, without listing the folders of all its ~450 services to check that
    the service asked for exists (done for each model type, ~20 ms each): only S3 is asked for."""

    def list_available_services(self, type_name: str) -> list[str]:
        """Only S3."""
        return ["s3"]


def default_session() -> botocore.session.Session:
    """A botocore session on the standard credential chain whose responses keep timestamps as text.

    Parsing each listed object's ``LastModified`` with dateutil is most of the time a listing
    takes; publishing never reads a timestamp, so it is left unparsed (as the AWS CLI does).
    The client comes from botocore itself: boto3 adds nothing publishing uses, and importing it
    and its transfer manager is a noticeable part of a republish.
    """
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    data_path = core.get_config_variable("data_path")  # $AWS_DATA_PATH, as botocore reads it
    extra = (
        [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else []
    )
    core.register_component("data_loader", _S3Loader(extra_search_paths=extra))
    return core


def s3_client(
    settings: TransferSettings, endpoint_url: str | None = None, session: boto3.session.Session | None = None
) -> S3Client:
    """A client for AWS S3 or any S3-compatible ``endpoint_url`` (path-style addressing there;
    ``$AWS_ENDPOINT_URL_S3`` and ``$AWS_ENDPOINT_URL`` are honoured as by boto3).

    A boto3 ``session`` given is used as it is (see :func:`default_session` otherwise).
    Credentials and region come from the standard AWS chain: environment, shared config and
    credentials files, SSO, web identity (GitHub OIDC), instance metadata. They are never printed.
    botocore retries throttling, 5xx answers and connection errors with exponential backoff and
    jitter (``standard`` mode). Checksums are MD5 (``Content-MD5``), which every S3-compatible
    store checks, rather than botocore's newer default CRC trailers, which some do not accept.
    """
    custom = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if custom:
        check_endpoint_url(custom)
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
    with s3_errors(redact_url(endpoint_url) if endpoint_url else "S3"):
        if session is not None:
            _require(session.get_credentials())
            region = session.region_name or DEFAULT_REGION
            return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        core = default_session()
        _require(core.get_credentials())
        region = core.get_config_variable("region") or DEFAULT_REGION
        client = core.create_client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        return cast("S3Client", client)


def _require(credentials: object) -> None:
    if credentials is None:
        raise GlofnetError(
            "AWS credentials",
            "none found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or assume a role)",
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
