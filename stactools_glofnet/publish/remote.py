"""What is already published: one paginated listing of PREFIX and the manifest the last run wrote.

No object is HEAD-requested: the listing gives each key's size and ETag, the manifest gives the
SHA-256 and headers each object was uploaded with, and the ETag it got.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from stactools_glofnet.publish.client import s3_errors
from stactools_glofnet.publish.target import MANIFEST_NAME, Target

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteObject:
    """A listed object."""

    size: int
    etag: str
    """Without quotes."""


class ManifestEntry(BaseModel):
    """How one object was published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str
    size: int
    etag: str
    content_type: str
    cache_control: str


class Manifest(BaseModel):
    """``PREFIX/_glofnet-manifest.json``: every published object by key relative to PREFIX."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    generator: str
    objects: dict[str, ManifestEntry]


def unquote_etag(etag: str) -> str:
    """An ETag without its surrounding quotes."""
    return etag.strip('"')


def list_objects(client: S3Client, target: Target) -> dict[str, RemoteObject]:
    """Every object under the prefix, by key relative to it (one paginated ListObjectsV2)."""
    found: dict[str, RemoteObject] = {}
    with s3_errors(str(target)):
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=target.bucket, Prefix=target.list_prefix
        )
        for page in pages:
            for listed in page.get("Contents", []):
                key = listed.get("Key", "")
                if key == target.list_prefix:
                    continue
                found[target.relative(key)] = RemoteObject(
                    listed.get("Size", 0), unquote_etag(listed.get("ETag", ""))
                )
    return found


def read_manifest(client: S3Client, target: Target, listing: dict[str, RemoteObject]) -> Manifest | None:
    """The published manifest, or None when there is none or it cannot be read.

    A missing or unreadable manifest only makes the comparison fall back to ETags.
    """
    if MANIFEST_NAME not in listing:
        return None
    with s3_errors(f"s3://{target.bucket}/{target.manifest_key}"):
        body = client.get_object(Bucket=target.bucket, Key=target.manifest_key)["Body"].read()
    try:
        return Manifest.model_validate_json(body)
    except ValidationError as error:
        logger.warning(
            "ignoring the unreadable manifest %s: %s", target.manifest_key, error.errors()[0]["msg"]
        )
        return None
