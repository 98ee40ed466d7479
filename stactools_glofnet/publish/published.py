"""What is already published under PREFIX, fetched on a thread of its own while the catalog is scanned.

The listing of PREFIX and the manifest the last run wrote (see :mod:`stactools_glofnet.publish.remote`)
are fetched through obstore on their own thread while the caller scans the catalog: the listing
is mostly waiting for the server, the scan mostly reading files. Nothing is sent that changes the
bucket before the scan has passed; a scan that fails is reported once the fetch has ended (its
requests cannot be cancelled; obstore's asynchronous API, which could, aborts the interpreter at
exit after a failed request in obstore 0.12).

obstore cannot give every key exactly: it refuses keys with control characters and drops a key's
trailing ``/`` (a console's "folder" object). A listing with a key it refuses is taken again with
botocore, and so is the listing of a run that deletes stale objects (the keys to delete must be
the stored ones).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.publish.failures import store_error_message
from stactools_glofnet.publish.remote import (
    Manifest,
    RemoteObject,
    list_objects,
    parse_manifest,
    unquote_etag,
)
from stactools_glofnet.publish.target import MANIFEST_NAME, Target

if TYPE_CHECKING:
    from obstore.store import S3Store

    from stactools_glofnet.publish.connection import Connection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """The objects under the prefix (by key relative to it) and the manifest, if one is readable."""

    objects: dict[str, RemoteObject]
    manifest: Manifest | None


def _list(store: S3Store, target: Target) -> dict[str, RemoteObject] | None:
    """Every object under the prefix, or None when a key is one obstore refuses."""
    import obstore
    from obstore.exceptions import BaseError as StoreError
    from obstore.exceptions import InvalidPathError

    found: dict[str, RemoteObject] = {}
    try:
        for batch in obstore.list(store, prefix=target.prefix or None, chunk_size=1000):
            for listed in batch:
                key = listed["path"]
                if key == target.prefix:  # the prefix's own "folder" object, without its slash
                    continue
                etag = unquote_etag(listed["e_tag"] or "")
                found[target.relative(key)] = RemoteObject(listed["size"], etag)
    except InvalidPathError:
        return None
    except (StoreError, FileNotFoundError) as error:
        raise GlofnetError(str(target), f"ListObjectsV2 failed: {store_error_message(error)}") from None
    return found


def _manifest(store: S3Store, target: Target, objects: dict[str, RemoteObject]) -> Manifest | None:
    """The published manifest, or None when there is none or it cannot be read (a missing or
    unreadable manifest only makes the comparison fall back to ETags)."""
    import obstore
    from obstore.exceptions import BaseError as StoreError

    if MANIFEST_NAME not in objects:
        return None
    try:
        body = obstore.get(store, target.manifest_key).bytes().to_bytes()
    except (StoreError, FileNotFoundError) as error:
        where = f"s3://{target.bucket}/{target.manifest_key}"
        raise GlofnetError(where, f"GetObject failed: {store_error_message(error)}") from None
    try:
        return parse_manifest(body)
    except ValueError as error:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        logger.warning("ignoring the unreadable manifest %s: %s", target.manifest_key, error)
        return None


def _fetch(connection: Connection, target: Target) -> Published | None:
    """Listing and manifest through obstore, or None when the listing needs botocore."""
    store = connection.store
    objects = _list(store, target)
    if objects is None:
        return None
    return Published(objects, _manifest(store, target, objects))


class PublishedFetch:
    """Fetches what is published in the background from the moment it is made (see the module
    docstring); :meth:`result` waits for it."""

    def __init__(self, connection: Connection, target: Target, *, exact: bool = False) -> None:
        """Start fetching, unless ``exact`` keys are needed (then :meth:`result` lists with botocore)."""
        self.connection = connection
        self.target = target
        self._future: Future[Published | None] | None = None
        if not exact:
            pool = ThreadPoolExecutor(1, thread_name_prefix="glofnet-published")
            self._future = pool.submit(_fetch, connection, target)
            pool.shutdown(wait=False)  # the thread ends with its one task

    def result(self) -> Published:
        """What is published (raises the fetch's one-line error, if it failed)."""
        published = None
        if self._future is not None:
            published = self._future.result()
            if published is None:
                logger.info("%s: a key obstore cannot represent; listing again with botocore", self.target)
        if published is None:
            objects = list_objects(self.connection.client, self.target)
            published = Published(objects, _manifest(self.connection.store, self.target, objects))
        return published
