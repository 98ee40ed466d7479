"""The obstore store (Rust ``object_store``) publishing lists, reads and uploads single files with.

botocore spends about 1.4 ms of interpreter time on each request (events, serialising, signing,
parsing, all under the GIL), obstore about 0.2 ms, and importing obstore takes a few milliseconds
where botocore and its S3 model take a few hundred: every request that obstore can make exactly
(ListObjectsV2, GetObject, single-request PutObject) goes through it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from stactools_glofnet import __version__
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.publish.settings import TransferSettings

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Credential, S3Store

DEFAULT_REGION = "us-east-1"
CONNECT_TIMEOUT = 10
"""Seconds to wait for a connection."""
READ_TIMEOUT = 120
"""Seconds to wait for the next bytes of an answer."""
PUT_TIMEOUT = timedelta(minutes=10)
"""The longest one whole request may take (obstore's default, 30 s, would refuse an 8 MiB file on
an uplink below about 2 Mbit/s)."""

CredentialProvider = Callable[[], "S3Credential"]
Verify = bool | str
"""How TLS certificates are checked, in botocore's terms: True (the default trusted roots), False
(not at all) or the path of a PEM CA bundle (``$AWS_CA_BUNDLE``, a profile's ``ca_bundle``,
``$REQUESTS_CA_BUNDLE``)."""


def make_store(
    bucket: str,
    endpoint: str,
    region: str,
    credentials: CredentialProvider,
    settings: TransferSettings,
    verify: Verify = True,
) -> S3Store:
    """An obstore store for ``bucket`` at ``endpoint``, signing with ``credentials`` and checking
    an https endpoint's certificate as ``verify`` says (see :func:`tls_options`).

    Addressing is path-style. Each upload carries ``x-amz-checksum-sha256``, which S3 (and
    SeaweedFS) check against the body received, and the payload is signed too over plain http,
    as botocore does (``x-amz-content-sha256``, which SigV4 servers check). obstore retries 5xx
    answers, throttling and connection errors with exponential backoff and jitter, up to
    ``settings.max_attempts`` attempts in all. Where requests go and how they are signed and
    checked is all given here, so obstore's own ``AWS_*`` variables (``AWS_ENDPOINT``,
    ``AWS_SKIP_SIGNATURE``, ``AWS_CHECKSUM_ALGORITHM``...) cannot change it.
    """
    from obstore.store import S3Store

    https = endpoint.startswith("https:")
    return S3Store(
        bucket,
        endpoint=endpoint,
        region=region,
        virtual_hosted_style_request=False,
        skip_signature=False,
        checksum_algorithm="sha256",
        unsigned_payload=https,
        credential_provider=credentials,
        client_options={
            "allow_http": endpoint.startswith("http:"),
            "connect_timeout": timedelta(seconds=CONNECT_TIMEOUT),
            "read_timeout": timedelta(seconds=READ_TIMEOUT),
            "timeout": PUT_TIMEOUT,
            "user_agent": f"stactools-glofnet/{__version__}",
            **(tls_options(verify) if https else {}),
        },
        retry_config={"max_retries": settings.max_attempts - 1},
    )


def tls_options(verify: Verify) -> ClientConfig:
    """obstore's client options for botocore's ``verify``.

    A CA bundle's certificates are trusted besides obstore's default roots (botocore trusts the
    bundle's alone): a server botocore accepts is accepted too. An unreadable bundle is an error
    naming it, as botocore's is.
    """
    if verify is False:
        return {"allow_invalid_certificates": True}
    if verify is True:
        return {}
    try:
        bundle = Path(verify).read_bytes()
    except OSError as error:
        raise GlofnetError(verify, f"the CA bundle cannot be read ({error.strerror})") from None
    if b"-----BEGIN CERTIFICATE-----" not in bundle:
        raise GlofnetError(verify, "the CA bundle holds no PEM certificate")
    return {"root_certificate": bundle}
