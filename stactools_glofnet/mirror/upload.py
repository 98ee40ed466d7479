"""Mirror to bucket: upload the files ``acquire`` added or changed, with the publish uploader.

A file is unchanged when its signature is the one recorded at the last synchronization, or when
its content ETag is the recorded object's. Others are uploaded (in parallel, large files in
parts, every body with a digest the store checks; see :mod:`stactools_glofnet.publish.upload`)
and recorded with the ETag their object got. Hidden files (locks, partial downloads) are never
uploaded, and nothing is deleted from the bucket: the bucket is the SOURCE of record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stactools_glofnet.core.digests import signature
from stactools_glofnet.mirror.download import local_files
from stactools_glofnet.mirror.state import Entry, MirrorState
from stactools_glofnet.publish.connection import Connection
from stactools_glofnet.publish.digest import digest_file
from stactools_glofnet.publish.media import MANIFEST_CACHE_CONTROL, content_type
from stactools_glofnet.publish.plan import PublishedFile, format_size
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.target import Target
from stactools_glofnet.publish.upload import uploader

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class UploadReport:
    """What an upload of the mirror's changes did."""

    uploaded: tuple[str, ...]
    uploaded_bytes: int
    unchanged: int

    def summary(self, target: Target) -> str:
        """One line."""
        return (
            f"{target}: {len(self.uploaded)} uploaded ({format_size(self.uploaded_bytes)}), "
            f"{self.unchanged} unchanged"
        )


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def upload_changes(
    client: S3Client, target: Target, tree: Path, state: MirrorState, settings: TransferSettings
) -> UploadReport:
    """Upload what changed in ``tree`` since it was synchronized (see the module docstring)."""
    changed: list[PublishedFile] = []
    unchanged = 0
    for relative in local_files(tree):
        if _hidden(relative):
            continue
        path = tree / relative
        sig = signature(path)
        entry = state.entries.get(relative)
        if entry is not None and entry.signature == sig:
            unchanged += 1
            continue
        digest = digest_file(path, settings)
        if entry is not None and (entry.size, entry.etag) == (digest.size, digest.etag):
            state.entries[relative] = Entry(entry.size, entry.etag, sig)
            unchanged += 1
            continue
        changed.append(
            PublishedFile(
                relative=relative,
                key=target.key(relative),
                kind="asset",
                level=0,
                path=path,
                size=digest.size,
                digest=digest,
                content_type=content_type(relative, "asset"),
                cache_control=MANIFEST_CACHE_CONTROL,
                signature=sig,
            )
        )
    by_relative = {file.relative: file for file in changed}

    def record(_event: str, relative: str) -> None:
        file = by_relative[relative]
        assert file.digest is not None and file.signature is not None
        state.entries[relative] = Entry(file.size, file.digest.etag, file.signature)

    try:
        if changed:
            with uploader(Connection(target.bucket, settings, client=client), target, settings) as up:
                up.upload_phase("source", changed, record)
    finally:
        state.save()  # what was uploaded before a failure is not uploaded again
    return UploadReport(tuple(f.relative for f in changed), sum(f.size for f in changed), unchanged)
