"""Uploads, header refreshes and deletes: one phase at a time, files in parallel, large files in parts.

The store checks every body it receives against a digest sent with it: a single-request upload
(through obstore, see :mod:`stactools_glofnet.publish.client`) carries ``x-amz-checksum-sha256``,
each part of a large file ``Content-MD5``; the store refuses bytes damaged in transit. When the
plan was made from a file's digest, the MD5 (and, for a single request, the SHA-256) of the bytes
actually sent must match it, so a file that changed after it was hashed is refused instead of
being published under a stale manifest entry; a file the plan did not need to hash (a new object)
is hashed from the bytes sent, and refused if its size or signature changed since it was planned.
Each object stores its SHA-256 as ``x-amz-meta-sha256``. A refresh copies an object onto itself
on the server with new headers, only if it still has the ETag the plan saw.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from functools import partial
from typing import TYPE_CHECKING, Literal

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.progress import progress
from stactools_glofnet.publish.cache import signature
from stactools_glofnet.publish.connection import Connection
from stactools_glofnet.publish.digest import Digest, multipart_etag
from stactools_glofnet.publish.failures import s3_errors, store_error_message
from stactools_glofnet.publish.plan import PublishedFile, Uploaded
from stactools_glofnet.publish.remote import unquote_etag
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.target import Target

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

logger = logging.getLogger(__name__)

DELETE_BATCH = 1000
"""Keys per DeleteObjects request (the S3 maximum)."""

Event = Literal["upload", "refresh", "delete"]


def _md5_header(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class ChangedError(GlofnetError):
    """A file's bytes are not those the plan was made from."""

    def __init__(self, file: PublishedFile, reason: str) -> None:
        """Report ``file`` (its path) and keep its catalog-relative name."""
        super().__init__(file.path, reason)
        self.relative = file.relative


def _known(file: PublishedFile) -> Digest:
    if file.digest is None:
        raise ValueError(f"{file.relative} has no digest")
    return file.digest


class Uploader:
    """Publishes files to one target through a connection's obstore store (single-request uploads)
    and botocore client (the rest), both made on first use and shared by the workers."""

    def __init__(self, connection: Connection, target: Target, settings: TransferSettings) -> None:
        """Upload to ``target`` through ``connection``, as parallel as ``settings`` allow."""
        self.connection = connection
        self.target = target
        self.settings = settings
        self._parts = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="glofnet-part")

    @property
    def client(self) -> S3Client:
        """The connection's botocore client."""
        return self.connection.client

    def close(self) -> None:
        """Stop the part workers."""
        self._parts.shutdown(wait=True, cancel_futures=True)

    def _put(self, file: PublishedFile, body: bytes, digest: Digest) -> str:
        """PutObject through obstore; the ETag the object got, without quotes."""
        import obstore
        from obstore.exceptions import BaseError as StoreError

        attributes = {
            "Content-Type": file.content_type,
            "Cache-Control": file.cache_control,
            "sha256": digest.sha256,
        }
        try:
            result = obstore.put(
                self.connection.store, file.key, body, attributes=attributes, use_multipart=False
            )
        # obstore raises FileNotFoundError for a 404 (no such bucket) and ValueError for a key it
        # cannot parse (none passes check_relative_key); anything else derives from BaseError.
        except (StoreError, FileNotFoundError, ValueError) as error:
            raise GlofnetError(
                f"s3://{self.target.bucket}/{file.key}", f"PutObject failed: {store_error_message(error)}"
            ) from None
        return unquote_etag(result["e_tag"] or "")

    def _check(self, file: PublishedFile, etag: str) -> None:
        if etag != _known(file).etag:
            raise ChangedError(file, "changed after it was hashed; publish again")

    def _hash_sent(self, file: PublishedFile, body: bytes, md5: str) -> Digest:
        """The digest of the bytes read for a file the plan did not hash, if it is still as planned."""
        if len(body) != file.size or file.signature is None or signature(file.path) != file.signature:
            raise ChangedError(file, "changed after it was planned; publish again")
        return Digest(len(body), hashlib.sha256(body).hexdigest(), md5)

    def _read(self, file: PublishedFile, data: bytes | None, start: int, size: int) -> bytes:
        if data is not None:
            return data[start : start + size]
        with file.path.open("rb") as stream:
            stream.seek(start)
            return stream.read(size)

    def upload(self, file: PublishedFile) -> Uploaded:
        """Upload one file (in parts when it is large); return its object's ETag and digest."""
        with s3_errors(f"s3://{self.target.bucket}/{file.key}"):
            data = file.render() if file.render is not None else None
            if self.settings.multipart(file.size):
                return Uploaded(self._multipart(file, data), _known(file))
            body = self._read(file, data, 0, file.size + 1)
            md5 = hashlib.md5(body)
            if file.digest is None:
                digest = self._hash_sent(file, body, md5.hexdigest())
            else:
                digest = file.digest
                self._check(file, md5.hexdigest())
                if hashlib.sha256(body).hexdigest() != digest.sha256:
                    raise ChangedError(file, "changed after it was hashed; publish again")
            return Uploaded(self._put(file, body, digest), digest)

    def refresh(self, file: PublishedFile, etag: str) -> Uploaded:
        """Give the object of ``file``, whose content is already right, this file's headers: copy it
        onto itself on the server (no data is sent), only if it still has ``etag``; return the ETag
        the copy got, with the file's digest."""
        digest = _known(file)
        with s3_errors(f"s3://{self.target.bucket}/{file.key}"):
            response = self.client.copy_object(
                Bucket=self.target.bucket,
                Key=file.key,
                CopySource={"Bucket": self.target.bucket, "Key": file.key},
                CopySourceIfMatch=f'"{etag}"',
                MetadataDirective="REPLACE",
                ContentType=file.content_type,
                CacheControl=file.cache_control,
                Metadata={"sha256": digest.sha256},
            )
            return Uploaded(unquote_etag(response.get("CopyObjectResult", {}).get("ETag", etag)), digest)

    def _part(
        self, file: PublishedFile, data: bytes | None, upload_id: str, number: int, part_size: int
    ) -> tuple[str, bytes]:
        body = self._read(file, data, (number - 1) * part_size, part_size)
        md5 = hashlib.md5(body).digest()
        response = self.client.upload_part(
            Bucket=self.target.bucket,
            Key=file.key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ContentMD5=_md5_header(md5),
        )
        return response["ETag"], md5

    def _multipart(self, file: PublishedFile, data: bytes | None) -> str:
        part_size = self.settings.part_size_for(file.size)
        count = max(1, -(-file.size // part_size))
        upload_id = self.client.create_multipart_upload(
            Bucket=self.target.bucket,
            Key=file.key,
            ContentType=file.content_type,
            CacheControl=file.cache_control,
            Metadata={"sha256": _known(file).sha256},
        )["UploadId"]
        futures: list[Future[tuple[str, bytes]]] = []
        try:
            futures = [
                self._parts.submit(self._part, file, data, upload_id, number, part_size)
                for number in range(1, count + 1)
            ]
            results = [future.result() for future in futures]
            self._check(file, multipart_etag([md5 for _, md5 in results]))
            parts: list[CompletedPartTypeDef] = [
                {"ETag": etag, "PartNumber": number} for number, (etag, _) in enumerate(results, start=1)
            ]
            response = self.client.complete_multipart_upload(
                Bucket=self.target.bucket, Key=file.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            return unquote_etag(response["ETag"])
        except BaseException:
            from botocore.exceptions import BotoCoreError, ClientError

            for future in futures:
                future.cancel()
            with suppress(BotoCoreError, ClientError):
                self.client.abort_multipart_upload(
                    Bucket=self.target.bucket, Key=file.key, UploadId=upload_id
                )
            raise

    def upload_phase(
        self,
        name: str,
        files: Sequence[PublishedFile],
        done: Callable[[Event, str], None] | None = None,
        refreshes: Sequence[tuple[PublishedFile, str]] = (),
    ) -> dict[str, Uploaded]:
        """Upload ``files`` and refresh the headers of ``refreshes`` (each with the ETag its object
        must still have) in parallel; return the ETags and digests of the objects by relative path.

        Returns only when every request has finished. On the first failure the requests not yet
        started are cancelled, those running are waited for, and the error is raised: the next
        phase never starts over an incomplete one.
        """
        etags: dict[str, Uploaded] = {}
        tasks: list[tuple[Event, PublishedFile, Callable[[], Uploaded]]] = [
            ("upload", file, partial(self.upload, file)) for file in files
        ]
        tasks += [("refresh", file, partial(self.refresh, file, etag)) for file, etag in refreshes]
        if not tasks:
            return etags
        logger.info("%s: %d uploads, %d header refreshes", name, len(files), len(refreshes))
        pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="glofnet-upload")
        try:
            futures = {pool.submit(task): (event, file) for event, file, task in tasks}
            for future in progress(as_completed(futures), desc=name, unit="file", total=len(futures)):
                event, file = futures[future]
                etags[file.relative] = future.result()
                logger.debug("%s %s", "uploaded" if event == "upload" else "refreshed", file.key)
                if done is not None:
                    done(event, file.relative)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return etags

    def delete(self, relatives: Sequence[str], done: Callable[[Event, str], None] | None = None) -> list[str]:
        """Delete the listed objects ``relatives`` (keys relative to the prefix) in batches."""
        deleted: list[str] = []
        for start in range(0, len(relatives), DELETE_BATCH):
            batch = relatives[start : start + DELETE_BATCH]
            with s3_errors(str(self.target)):
                response = self.client.delete_objects(
                    Bucket=self.target.bucket,
                    Delete={"Objects": [{"Key": self.target.listed_key(r)} for r in batch], "Quiet": True},
                )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise GlofnetError(
                    f"s3://{self.target.bucket}/{first.get('Key', '')}",
                    f"delete failed: {first.get('Code', '')} {first.get('Message', '')}",
                )
            for relative in batch:
                deleted.append(relative)
                if done is not None:
                    done("delete", relative)
        return deleted


@contextmanager
def uploader(connection: Connection, target: Target, settings: TransferSettings) -> Iterator[Uploader]:
    """An :class:`Uploader` whose part workers stop when the block ends."""
    instance = Uploader(connection, target, settings)
    try:
        yield instance
    finally:
        instance.close()
