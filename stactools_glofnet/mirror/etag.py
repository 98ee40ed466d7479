"""A local file's ETag in the form of a given object's, to tell equal content without downloading."""

from __future__ import annotations

import hashlib
from pathlib import Path

from stactools_glofnet.core.files import CHUNK
from stactools_glofnet.publish.digest import digest_file
from stactools_glofnet.publish.settings import TransferSettings


def local_etag(path: Path, like: str, settings: TransferSettings) -> str:
    """The ETag ``path`` has as an object of the kind ``like`` is: the MD5 of its bytes for a
    single-part ETag, the MD5 of its parts' MD5s in ``settings``' part layout (boto3's and the AWS
    CLI's, 8 MiB) for a multipart one (``<md5>-<parts>``)."""
    if "-" in like:
        forced = TransferSettings(
            concurrency=settings.concurrency,
            max_attempts=settings.max_attempts,
            multipart_threshold=1,
            part_size=settings.part_size,
        )
        return digest_file(path, forced).etag
    md5 = hashlib.md5()
    with path.open("rb") as file:
        while block := file.read(CHUNK):
            md5.update(block)
    return md5.hexdigest()
