"""The S3 clients (standard credential chain, retries with backoff) and their errors as one line.

Every request but one kind goes through botocore. Single-request uploads (PutObject, nearly every
file of a catalog) go through an obstore store (Rust ``object_store``) that reaches the same
endpoint with the same credentials: botocore spends about 1.4 ms of interpreter time on each
request (events, serialising, signing, parsing, all under the GIL), obstore about 0.2 ms.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from stactools_glofnet import __version__
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.publish.settings import TransferSettings

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client
    from obstore.store import S3Credential, S3Store

DEFAULT_REGION = "us-east-1"
CONNECT_TIMEOUT = 10
"""Seconds to wait for a connection."""
READ_TIMEOUT = 120
"""Seconds to wait for the next bytes of an answer."""
PUT_TIMEOUT = timedelta(minutes=10)
"""The longest one whole single-request upload may take (obstore's default, 30 s, would refuse an
8 MiB file on an uplink below about 2 Mbit/s)."""
CREDENTIALS_RECHECK = timedelta(minutes=5)
"""How long obstore keeps credentials that botocore refreshes before asking for them again."""


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
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
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


class BotocoreCredentials:
    """botocore's credentials (which botocore refreshes itself) in the form obstore asks for."""

    def __init__(self, credentials: Credentials) -> None:
        """Hand out ``credentials``."""
        self._credentials = credentials

    def __call__(self) -> S3Credential:
        """The current credentials; temporary ones are asked for again after a few minutes."""
        frozen = self._credentials.get_frozen_credentials()
        refreshable = isinstance(self._credentials, RefreshableCredentials)
        return {
            "access_key_id": frozen.access_key or "",
            "secret_access_key": frozen.secret_key or "",
            "token": frozen.token,
            "expires_at": datetime.now(UTC) + CREDENTIALS_RECHECK if refreshable else None,
        }


def object_store(client: S3Client, bucket: str, settings: TransferSettings) -> S3Store:
    """An obstore store for ``bucket`` at ``client``'s endpoint, region and credentials, for
    single-request uploads (see the module docstring).

    Addressing is path-style, on the endpoint botocore resolved. Each upload carries
    ``x-amz-checksum-sha256``, which S3 (and SeaweedFS) check against the body received, and the
    payload is signed too over plain http, as botocore does (``x-amz-content-sha256``, which SigV4
    servers check). obstore retries 5xx answers, throttling and connection errors with
    exponential backoff and jitter, up to ``settings.max_attempts`` attempts in all. Where
    requests go and how they are signed and checked is all given here, so obstore's own ``AWS_*``
    variables (``AWS_ENDPOINT``, ``AWS_SKIP_SIGNATURE``, ``AWS_CHECKSUM_ALGORITHM``...) cannot
    change it.
    """
    from obstore.store import S3Store

    endpoint = client.meta.endpoint_url
    # boto3's CRT transfer manager takes a client's credentials the same way (boto3/crt.py).
    credentials = cast("Any", client)._get_credentials()
    _require(credentials)
    return S3Store(
        bucket,
        endpoint=endpoint,
        region=client.meta.region_name,
        virtual_hosted_style_request=False,
        skip_signature=False,
        checksum_algorithm="sha256",
        unsigned_payload=endpoint.startswith("https:"),
        credential_provider=BotocoreCredentials(credentials),
        client_options={
            "allow_http": endpoint.startswith("http:"),
            "connect_timeout": timedelta(seconds=CONNECT_TIMEOUT),
            "read_timeout": timedelta(seconds=READ_TIMEOUT),
            "timeout": PUT_TIMEOUT,
            "user_agent": f"stactools-glofnet/{__version__}",
        },
        retry_config={"max_retries": settings.max_attempts - 1},
    )


_XML_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_CAUSE = re.compile(r'message: "([^"]*)"')


def store_error_message(error: Exception) -> str:
    """What went wrong in an obstore request, in one line without URLs: the S3 error code and
    message when the server answered with one, else obstore's summary and its root cause."""
    text = str(error)
    summary, _, debug = text.partition("\n\nDebug source:")
    code, message = _XML_CODE.search(summary), _XML_MESSAGE.search(summary)
    if code:
        return html.unescape(f"{code[1]} {message[1] if message else ''}".strip())
    detail = summary.split(" - ", 1)[1] if " - " in summary else summary
    causes = _CAUSE.findall(debug)
    if causes and causes[-1] not in detail:
        detail = f"{detail} ({causes[-1]})"
    return re.sub(r"[a-z][a-z0-9+.-]*://\S+", "", " ".join(detail.split())).strip()


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
