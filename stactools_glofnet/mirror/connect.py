"""The S3 client of a mirrored SOURCE, checked with one quick request before any work.

The client is the publish command's (standard AWS credential chain, retries with backoff,
path-style addressing on custom endpoints). A first ``HeadBucket`` with few attempts turns the
usual mistakes into one line naming the SOURCE URL within seconds: no such bucket, access
denied, an endpoint that does not answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.mirror.location import effective_endpoint
from stactools_glofnet.publish.client import s3_client
from stactools_glofnet.publish.endpoint import redact_url
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.target import Target

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PROBE_ATTEMPTS = 2


def _probe(client: S3Client, target: Target, endpoint: str | None) -> None:
    where = redact_url(endpoint) if endpoint else "AWS S3"
    try:
        client.head_bucket(Bucket=target.bucket)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise GlofnetError(str(target), f"no such bucket {target.bucket!r} at {where}") from None
        if code in ("403", "AccessDenied", "Forbidden"):
            raise GlofnetError(
                str(target), f"access denied to bucket {target.bucket!r} at {where} (check the credentials)"
            ) from None
        raise GlofnetError(str(target), f"HeadBucket failed at {where}: {code}") from None
    except EndpointConnectionError:
        raise GlofnetError(str(target), f"cannot reach the endpoint {where}") from None
    except BotoCoreError as error:
        raise GlofnetError(str(target), f"{where}: {error}") from None


def connect(target: Target, endpoint_url: str | None, settings: TransferSettings) -> S3Client:
    """A client for ``target``'s bucket, after checking it answers (one line naming the URL if not)."""
    endpoint = effective_endpoint(endpoint_url)
    quick = replace(settings, max_attempts=min(settings.max_attempts, PROBE_ATTEMPTS))
    _probe(s3_client(quick, endpoint_url), target, endpoint)
    return s3_client(settings, endpoint_url)
