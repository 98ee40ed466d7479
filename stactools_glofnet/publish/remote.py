"""What is already published: one paginated listing of PREFIX and the manifest the last run wrote.

No object is HEAD-requested: the listing gives each key's size and ETag, the manifest gives the
SHA-256 and headers each object was uploaded with, and the ETag it got.

Listing through botocore is here; :mod:`stactools_glofnet.publish.published` lists through
obstore while the catalog is scanned.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from stactools_glofnet.publish.failures import s3_errors
from stactools_glofnet.publish.target import Target

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteObject:
    """A listed object."""

    size: int
    etag: str
    """Without quotes."""


@dataclass(frozen=True)
class ManifestEntry:
    """How one object was published."""

    sha256: str
    size: int
    etag: str
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class Manifest:
    """``PREFIX/_glofnet-manifest.json``: every published object by key relative to PREFIX."""

    generator: str
    objects: dict[str, ManifestEntry]
    version: Literal[1] = 1

    def to_json(self) -> bytes:
        """The manifest as published: deterministic JSON, sorted keys, one line (made on every
        run to compare with the published one; indented JSON takes the pure-Python encoder)."""
        objects = {key: vars(entry) for key, entry in self.objects.items()}
        data = {"version": self.version, "generator": self.generator, "objects": objects}
        return (json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _entry(key: str, value: Any) -> ManifestEntry:
    try:
        entry = ManifestEntry(**value)
    except TypeError:
        raise ValueError(
            f"the entry of {key!r} does not have exactly the fields of a manifest entry"
        ) from None
    if not (
        type(entry.size) is int
        and type(entry.sha256) is str
        and type(entry.etag) is str
        and type(entry.content_type) is str
        and type(entry.cache_control) is str
    ):
        raise ValueError(f"the entry of {key!r} has a field of the wrong type")
    return entry


def parse_manifest(body: bytes) -> Manifest:
    """A published manifest from its bytes (what this module writes, nothing more or less).

    Raises:
        ValueError: not such a manifest (the message says why).
    """
    data = json.loads(body)
    if not isinstance(data, dict) or set(data) != {"version", "generator", "objects"}:
        raise ValueError("not an object with exactly version, generator and objects")
    if data["version"] != 1 or type(data["version"]) is not int:
        raise ValueError(f"unknown version {data['version']!r}")
    if not isinstance(data["generator"], str) or not isinstance(data["objects"], dict):
        raise ValueError("generator must be a string and objects an object")
    return Manifest(data["generator"], {key: _entry(key, value) for key, value in data["objects"].items()})


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
