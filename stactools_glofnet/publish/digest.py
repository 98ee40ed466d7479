"""Content digests of a file to publish: size, SHA-256, and the ETag S3 will give its object.

A single-part object's ETag is the MD5 of its bytes; a multipart object's is the MD5 of its parts'
binary MD5s followed by ``-<number of parts>``. Computing it locally lets an unchanged object be
recognised from one bucket listing even without a manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from stactools_glofnet.core.files import CHUNK
from stactools_glofnet.publish.settings import TransferSettings


@dataclass(frozen=True)
class Digest:
    """What is compared to decide whether an object must be uploaded again."""

    size: int
    sha256: str
    etag: str
    """The expected S3 ETag, without quotes."""


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The ETag of a multipart object from its parts' binary MD5 digests."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def digest_bytes(data: bytes, settings: TransferSettings) -> Digest:
    """The digest of bytes that are published as they are (staged JSON, the manifest)."""
    sha256 = hashlib.sha256(data).hexdigest()
    if not settings.multipart(len(data)):
        return Digest(len(data), sha256, hashlib.md5(data).hexdigest())
    part = settings.part_size_for(len(data))
    md5s = [hashlib.md5(data[start : start + part]).digest() for start in range(0, len(data), part)]
    return Digest(len(data), sha256, multipart_etag(md5s))


def digest_file(path: Path, settings: TransferSettings) -> Digest:
    """The digest of a file, read once in chunks so memory stays bounded."""
    size = path.stat().st_size
    sha = hashlib.sha256()
    whole = hashlib.md5()
    multipart = settings.multipart(size)
    part_size = settings.part_size_for(size)
    part = hashlib.md5()
    in_part = 0
    md5s: list[bytes] = []
    read = 0
    with path.open("rb") as file:
        while block := file.read(min(CHUNK, part_size - in_part) if multipart else CHUNK):
            read += len(block)
            sha.update(block)
            if not multipart:
                whole.update(block)
                continue
            part.update(block)
            in_part += len(block)
            if in_part == part_size:
                md5s.append(part.digest())
                part, in_part = hashlib.md5(), 0
    if multipart and in_part:
        md5s.append(part.digest())
    etag = multipart_etag(md5s) if multipart else whole.hexdigest()
    return Digest(read, sha.hexdigest(), etag)
