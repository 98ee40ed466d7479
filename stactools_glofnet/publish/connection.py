"""One S3 endpoint and bucket: the obstore store and the botocore client, each made on first use.

Listing PREFIX, reading the manifest and single-request uploads go through the store (see
:mod:`stactools_glofnet.publish.store`); header refreshes, multipart uploads and deletes through
the botocore client. The store takes its endpoint, region and credentials from the client, so both
follow botocore's configuration (the standard credential chain, shared config files, endpoint
rules), except where the environment alone decides them: see :func:`environment_settings`. There
botocore is never imported unless a request needs the client, and a republish that changes
nothing does not import it at all (its import and S3 model are most of such a run's time).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stactools_glofnet.publish.endpoint import check_endpoint_url
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.store import DEFAULT_REGION, Verify, make_store

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client
    from obstore.store import S3Credential, S3Store

ENVIRONMENT_VARIABLES = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CA_BUNDLE",
        # Read by botocore, but overridden by the client's own configuration or not used for S3.
        "AWS_REGION",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "AWS_EC2_METADATA_DISABLED",
    }
)
"""The ``AWS_*`` variables whose meaning :func:`environment_settings` reproduces exactly; any
other leaves the decision to botocore."""
SHARED_FILES = {"AWS_CONFIG_FILE": "~/.aws/config", "AWS_SHARED_CREDENTIALS_FILE": "~/.aws/credentials"}
"""Where botocore looks for the shared config and credentials files, unless told elsewhere."""


@dataclass(frozen=True)
class EnvironmentSettings:
    """Endpoint, region, static credentials and certificate checks, as botocore would take them
    from the environment."""

    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str
    token: str | None
    verify: Verify = True

    def __call__(self) -> S3Credential:
        """The credentials, in the form obstore asks for."""
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "token": self.token,
            "expires_at": None,
        }


def environment_settings(
    endpoint_url: str | None, environ: Mapping[str, str] = os.environ
) -> EnvironmentSettings | None:
    """The settings botocore would use, when the environment alone decides them, else None.

    That is when the keys are static ones in ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``
    (which come first in botocore's chain), an S3-compatible endpoint is named (``endpoint_url``,
    ``$AWS_ENDPOINT_URL_S3`` or ``$AWS_ENDPOINT_URL``: AWS's own endpoints follow rules botocore
    keeps), no shared config or credentials file exists where botocore would look for one (a
    profile there may set the region or the endpoint), and no other ``AWS_*`` variable is set
    (see :data:`ENVIRONMENT_VARIABLES`). The region is ``$AWS_DEFAULT_REGION``, else us-east-1,
    and certificates are checked against ``$AWS_CA_BUNDLE``, else ``$REQUESTS_CA_BUNDLE``, else
    the default roots, as by the client.
    """
    aws = {name: value for name, value in environ.items() if name.startswith("AWS_")}
    access_key, secret_key = aws.get("AWS_ACCESS_KEY_ID"), aws.get("AWS_SECRET_ACCESS_KEY")
    endpoint = endpoint_url or aws.get("AWS_ENDPOINT_URL_S3") or aws.get("AWS_ENDPOINT_URL")
    if not (access_key and secret_key and endpoint):
        return None
    if set(aws) - ENVIRONMENT_VARIABLES or aws.get("AWS_CA_BUNDLE") == "":
        return None
    if any(
        Path(os.path.expanduser(aws.get(name, default))).exists() for name, default in SHARED_FILES.items()
    ):
        return None
    check_endpoint_url(endpoint)
    region = aws.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    token = aws.get("AWS_SESSION_TOKEN") or None
    verify = aws.get("AWS_CA_BUNDLE") or environ.get("REQUESTS_CA_BUNDLE") or True
    return EnvironmentSettings(endpoint, region, access_key, secret_key, token, verify)


class Connection:
    """Requests to one bucket; thread-safe (upload workers share it)."""

    def __init__(
        self,
        bucket: str,
        settings: TransferSettings,
        endpoint_url: str | None = None,
        session: boto3.session.Session | None = None,
        client: S3Client | None = None,
    ) -> None:
        """Reach ``bucket`` at ``endpoint_url`` (default: AWS), with the credentials of ``session``
        (default: the standard chain); or with ``client``, made elsewhere."""
        self.bucket = bucket
        self.settings = settings
        self._endpoint_url = endpoint_url
        self._session = session
        self._client = client
        self._store: S3Store | None = None
        self._environment = environment_settings(endpoint_url) if session is None and client is None else None
        self._client_lock = threading.Lock()
        self._store_lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        """The botocore client (see :func:`stactools_glofnet.publish.client.s3_client`)."""
        with self._client_lock:
            if self._client is None:
                from stactools_glofnet.publish.client import s3_client

                self._client = s3_client(self.settings, self._endpoint_url, self._session)
            return self._client

    @property
    def store(self) -> S3Store:
        """The obstore store, at the client's endpoint and with its credentials unless the
        environment alone decides them."""
        with self._store_lock:
            if self._store is None:
                environment = self._environment
                if environment is not None:
                    self._store = make_store(
                        self.bucket,
                        environment.endpoint,
                        environment.region,
                        environment,
                        self.settings,
                        environment.verify,
                    )
                else:
                    from stactools_glofnet.publish.client import object_store

                    self._store = object_store(self.client, self.bucket, self.settings)
            return self._store
