"""Bucket to mirror: download objects that changed, remove files whose objects are gone.

One listing of the prefix gives every object's size and ETag. A local file is left untouched
(same inode, mtime and ctime) when the record says it holds the listed object and its signature
is unchanged, or, failing that, when its size and content ETag match the object's. Anything else
is downloaded under a hidden temporary name beside its final one, checked (size, and the MD5 for
a single-part ETag) and renamed into place. Files the listing no longer has are removed; hidden
files that are not mirrored objects (locks, partial files of other tools) are left alone, except
this module's own temporary files from interrupted runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from stactools_glofnet.core.digests import signature
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import CHUNK
from stactools_glofnet.core.progress import progress
from stactools_glofnet.mirror.etag import local_etag
from stactools_glofnet.mirror.state import Entry, MirrorState
from stactools_glofnet.publish.failures import s3_errors
from stactools_glofnet.publish.plan import format_size
from stactools_glofnet.publish.remote import RemoteObject, list_objects
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.target import Target, check_relative_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

PART_MARK: Final = ".mirror-part-"


@dataclass(frozen=True)
class DownloadReport:
    """What a synchronization from the bucket did."""

    downloaded: int
    downloaded_bytes: int
    unchanged: int
    removed: int

    def summary(self, target: Target, tree: Path) -> str:
        """One line."""
        return (
            f"{target}: mirrored into {tree}: {self.downloaded} downloaded "
            f"({format_size(self.downloaded_bytes)}), {self.unchanged} unchanged, {self.removed} removed"
        )


def _listing(client: S3Client, target: Target) -> dict[str, RemoteObject]:
    """The objects under the prefix by relative key, leaving out folder markers, refusing unsafe keys."""
    found = {}
    for relative, remote in list_objects(client, target).items():
        if relative.endswith("/"):
            continue
        try:
            check_relative_key(relative)
        except GlofnetError as error:
            raise GlofnetError(f"s3://{target.bucket}/{target.listed_key(relative)}", error.reason) from None
        found[relative] = remote
    return found


def _is_current(path: Path, remote: RemoteObject, entry: Entry | None, settings: TransferSettings) -> bool:
    """Whether ``path`` already holds the object: by the record, else by size and content."""
    if not path.is_file() or path.is_symlink():
        return False
    sig = signature(path)
    if entry is not None and (entry.size, entry.etag, entry.signature) == (remote.size, remote.etag, sig):
        return True
    return sig[0] == remote.size and local_etag(path, remote.etag, settings) == remote.etag


def _fetch(client: S3Client, target: Target, relative: str, remote: RemoteObject, path: Path) -> Entry:
    """Download one object to ``path`` through a temporary file; its entry once in place."""
    url = f"s3://{target.bucket}/{target.listed_key(relative)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}{PART_MARK}{os.getpid()}")
    try:
        md5 = hashlib.md5()
        with s3_errors(url):
            response = client.get_object(Bucket=target.bucket, Key=target.listed_key(relative))
            etag = response.get("ETag", "").strip('"') or remote.etag
            with temporary.open("wb") as file:
                for block in response["Body"].iter_chunks(CHUNK):
                    md5.update(block)
                    file.write(block)
                file.flush()
                os.fsync(file.fileno())
        size = temporary.stat().st_size
        if size != response.get("ContentLength", size) or ("-" not in etag and md5.hexdigest() != etag):
            raise GlofnetError(url, "download damaged (size or MD5 does not match the object); run again")
        os.replace(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()
    return Entry(size, etag, signature(path))


def local_files(tree: Path) -> Iterator[str]:
    """Every file under ``tree`` (relative, ``/``-separated)."""
    for current, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        base = Path(current).relative_to(tree)
        for name in sorted(filenames):
            yield (base / name).as_posix()


def _remove_gone(tree: Path, listing: dict[str, RemoteObject], state: MirrorState) -> int:
    """Remove mirrored files whose objects are gone and this module's interrupted downloads."""
    removed = 0
    for relative in list(local_files(tree)):
        name = relative.rsplit("/", 1)[-1]
        ours = relative in state.entries or not name.startswith(".") or PART_MARK in name
        if relative not in listing and ours:
            (tree / relative).unlink()
            state.entries.pop(relative, None)
            removed += PART_MARK not in name
    for relative in [r for r in state.entries if r not in listing]:
        del state.entries[relative]
    for current, _, _ in sorted(os.walk(tree), reverse=True):
        if Path(current) != tree:
            with suppress(OSError):
                os.rmdir(current)  # only empty folders
    return removed


def download_changes(
    client: S3Client, target: Target, tree: Path, state: MirrorState, settings: TransferSettings
) -> DownloadReport:
    """Make ``tree`` hold exactly the objects under ``target`` (see the module docstring)."""
    listing = _listing(client, target)
    tree.mkdir(parents=True, exist_ok=True)
    removed = _remove_gone(tree, listing, state)
    wanted = []
    for relative, remote in sorted(listing.items()):
        path = tree / relative
        if _is_current(path, remote, state.entries.get(relative), settings):
            state.entries[relative] = Entry(remote.size, remote.etag, signature(path))
        else:
            wanted.append(relative)
    downloaded_bytes = 0
    if wanted:
        logger.info("%s: downloading %d changed objects", target, len(wanted))
        with ThreadPoolExecutor(settings.concurrency, thread_name_prefix="glofnet-mirror") as pool:
            futures = {pool.submit(_fetch, client, target, r, listing[r], tree / r): r for r in wanted}
            try:
                for future in progress(as_completed(futures), desc="mirror", unit="file", total=len(futures)):
                    entry = future.result()
                    state.entries[futures[future]] = entry
                    downloaded_bytes += entry.size
            finally:
                for future in futures:
                    future.cancel()
                state.save()
    state.save()
    return DownloadReport(len(wanted), downloaded_bytes, len(listing) - len(wanted), removed)
