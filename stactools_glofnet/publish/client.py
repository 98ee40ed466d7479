"""The botocore S3 client (standard credential chain, retries with backoff), and the obstore store
made from it (same endpoint, region and credentials; see :mod:`stactools_glofnet.publish.store`).

Imported only when a request needs botocore (see :mod:`stactools_glofnet.publish.connection`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials

from stactools_glofnet import __version__
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.publish.endpoint import check_endpoint_url, redact_url
from stactools_glofnet.publish.failures import s3_errors
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.store import CONNECT_TIMEOUT, DEFAULT_REGION, READ_TIMEOUT, Verify, make_store

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client
    from obstore.store import S3Credential, S3Store

CREDENTIALS_RECHECK = timedelta(minutes=5)
"""How long obstore keeps credentials that botocore refreshes before asking for them again."""


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
    """An obstore store for ``bucket`` at ``client``'s endpoint, region and credentials, checking
    certificates as the client does (see :func:`stactools_glofnet.publish.store.make_store`)."""
    # boto3's CRT transfer manager takes a client's credentials the same way (boto3/crt.py).
    credentials = cast("Any", client)._get_credentials()
    _require(credentials)
    # What botocore settled on from verify=, $AWS_CA_BUNDLE, ca_bundle and $REQUESTS_CA_BUNDLE.
    verify: Verify = cast("Any", client)._endpoint.http_session._verify
    return make_store(
        bucket,
        client.meta.endpoint_url,
        client.meta.region_name,
        BotocoreCredentials(credentials),
        settings,
        verify,
    )


def _require(credentials: object) -> None:
    if credentials is None:
        raise GlofnetError(
            "AWS credentials",
            "none found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or assume a role)",
        )
