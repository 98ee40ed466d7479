"""``publish``: scan and check the catalog, compare it with the bucket, upload in phases, root last."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from stactools_glofnet.publish.cache import DigestCache
from stactools_glofnet.publish.connection import Connection
from stactools_glofnet.publish.digest import digest_bytes
from stactools_glofnet.publish.endpoint import check_endpoint_url
from stactools_glofnet.publish.local import scan_catalog
from stactools_glofnet.publish.media import JSON, MANIFEST_CACHE_CONTROL
from stactools_glofnet.publish.plan import (
    Plan,
    PublishedFile,
    Uploaded,
    format_size,
    make_plan,
    prepare_files,
)
from stactools_glofnet.publish.public import CatalogType, public_copy
from stactools_glofnet.publish.published import PublishedFetch
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.target import MANIFEST_NAME, Target, parse_target
from stactools_glofnet.publish.upload import ChangedError, Event, uploader

if TYPE_CHECKING:
    import boto3

logger = logging.getLogger(__name__)

__all__ = ["Event", "EventHook", "PublishReport", "publish_catalog"]

EventHook = Callable[[Event, str], None]
"""Called on the calling thread after each object is uploaded, refreshed or deleted (key relative
to PREFIX)."""


@dataclass(frozen=True)
class PublishReport:
    """What a publish run did (or, for a dry run, would do)."""

    target: Target
    plan: Plan
    dry_run: bool
    uploaded: tuple[str, ...]
    """Keys relative to the prefix, in upload order (the manifest last)."""
    uploaded_bytes: int
    deleted: tuple[str, ...]
    refreshed: tuple[str, ...] = ()
    """Keys relative to the prefix whose headers were refreshed by a server-side copy."""
    hashed: int = 0
    """Files read to hash them before planning (not those hashed as they were uploaded)."""
    cached: int = 0
    """Files whose digest came from the local digest cache."""

    def summary(self) -> str:
        """One line: how many objects were uploaded, refreshed, unchanged, deleted or left stale."""
        unchanged = sum(1 for action in self.plan.actions if action.verb == "skip")
        if self.dry_run:
            uploads = [action.file for action in self.plan.actions if action.verb == "upload"]
            refreshes = sum(1 for action in self.plan.actions if action.verb == "refresh")
            deletes = f", {len(self.plan.stale)} to delete" if self.plan.delete else ""
            return (
                f"{self.target}: dry run, {len(uploads)} to upload "
                f"({format_size(sum(f.size for f in uploads))})"
                + (f", {refreshes} headers to refresh" if refreshes else "")
                + f", {unchanged} unchanged{deletes}; nothing was changed"
            )
        size = format_size(self.uploaded_bytes)
        refreshed = f", {len(self.refreshed)} headers refreshed" if self.refreshed else ""
        text = f"{self.target}: {len(self.uploaded)} uploaded ({size}){refreshed}, {unchanged} unchanged"
        if self.plan.delete:
            return text + f", {len(self.deleted)} deleted"
        if self.plan.stale:
            return text + f", {len(self.plan.stale)} stale kept (--delete removes them)"
        return text


def publish_catalog(
    catalog: Path,
    target: str | Target,
    *,
    endpoint_url: str | None = None,
    public_url: str | None = None,
    catalog_type: CatalogType = "relative-published",
    dry_run: bool = False,
    delete: bool = False,
    force: bool = False,
    settings: TransferSettings | None = None,
    session: boto3.session.Session | None = None,
    on_event: EventHook | None = None,
    digest_cache: bool = True,
) -> PublishReport:
    """Publish the built catalog at ``catalog`` (directory or root JSON) to ``s3://BUCKET/PREFIX``.

    Only the files reachable from the root are published (see :mod:`stactools_glofnet.publish.local`),
    and only objects whose content changed are uploaded; objects whose headers alone may differ
    are refreshed by a server-side copy. Assets go first, then items, catalogs and collections
    (deepest first), the root, and the manifest; with ``delete``, objects under the prefix that the
    catalog no longer has are deleted after that. Each phase completes before the next starts, so
    readers never see a root that references a missing object.

    Args:
        catalog: the catalog directory or its ``catalog.json``; never modified.
        target: ``s3://BUCKET/PREFIX``.
        endpoint_url: an S3-compatible endpoint instead of AWS.
        public_url: the http(s) URL readers reach the prefix at; the published JSON gets absolute
            self links (see :mod:`stactools_glofnet.publish.public` for ``catalog_type``).
        catalog_type: ``relative-published`` or ``absolute-published`` (with ``public_url``).
        dry_run: compute and return the plan without changing anything.
        delete: delete stale objects under the prefix once the new root is in place (refused
            without a prefix, where every other object in the bucket would be stale).
        force: upload every object even when it is unchanged.
        settings: concurrency, retries and multipart layout.
        session: the boto3 session to take credentials and region from (default: the standard chain).
        on_event: called after each upload, refresh and delete, for progress reporting and tests.
        digest_cache: take the digests of files unchanged since the last publish from the local
            cache (see :mod:`stactools_glofnet.publish.cache`) and record new ones there.

    Raises:
        GlofnetError: an unsafe target or catalog, a broken link, or an S3 error (one line).
    """
    settings = settings or TransferSettings()
    if endpoint_url:
        check_endpoint_url(endpoint_url)
    target = parse_target(target) if isinstance(target, str) else target
    if delete:
        target.check_delete()
    public = public_copy(public_url, catalog_type) if public_url else None
    connection = Connection(target.bucket, settings, endpoint_url, session)
    fetch = PublishedFetch(connection, target, exact=delete)
    local = scan_catalog(catalog)
    published = fetch.result()
    listing, manifest = published.objects, published.manifest
    cache = DigestCache.load(local.directory, enabled=digest_cache)
    try:
        files, hashed = prepare_files(
            local, public, target, settings, listing=listing, cache=cache, force=force, hash_all=dry_run
        )
        logger.info(
            "%d digests from the cache, %d files hashed, %d hashed as they are uploaded",
            cache.hits,
            hashed,
            sum(1 for file in files if file.digest is None),
        )
        plan = make_plan(
            target,
            files,
            listing,
            manifest,
            settings=settings,
            delete=delete,
            force=force,
            left_out=local.left_out_note(),
        )
        if dry_run:
            return PublishReport(target, plan, True, (), 0, (), hashed=hashed, cached=cache.hits)
        report = _execute(connection, plan, cache, on_event)
    except ChangedError as error:
        cache.forget(error.relative)
        raise
    finally:
        cache.save()
    report = replace(report, hashed=hashed, cached=cache.hits)
    logger.info("%s", report.summary())
    return report


def _execute(
    connection: Connection, plan: Plan, cache: DigestCache, on_event: EventHook | None
) -> PublishReport:
    """Run ``plan``: its phases, the manifest, the deletes; record new digests in ``cache``."""
    target, settings = plan.target, plan.settings
    uploaded: list[str] = []
    refreshed: list[str] = []
    deleted: list[str] = []
    sizes: dict[str, int] = {}

    def record(event: Event, relative: str) -> None:
        {"upload": uploaded, "refresh": refreshed, "delete": deleted}[event].append(relative)
        if on_event is not None:
            on_event(event, relative)

    with uploader(connection, target, settings) as up:
        done: dict[str, Uploaded] = {}
        for phase in plan.phases:
            results = up.upload_phase(phase.name, phase.uploads, record, phase.refreshes)
            for file in phase.uploads:
                sizes[file.relative] = results[file.relative].digest.size
                if file.digest is None and file.signature is not None:
                    cache.put(file.relative, file.signature, file.part_size, results[file.relative].digest)
            done |= results
        data = plan.manifest(done)
        if plan.manifest_changed(data):
            digest = digest_bytes(data, settings)
            manifest_file = PublishedFile(
                relative=MANIFEST_NAME,
                key=target.manifest_key,
                kind="asset",
                level=0,
                path=Path(MANIFEST_NAME),
                size=digest.size,
                digest=digest,
                content_type=JSON,
                cache_control=MANIFEST_CACHE_CONTROL,
                render=lambda: data,
            )
            sizes[MANIFEST_NAME] = digest.size
            up.upload_phase("manifest", [manifest_file], record)
        if plan.delete:
            up.delete(plan.stale, record)
    return PublishReport(
        target,
        plan,
        False,
        tuple(uploaded),
        sum(sizes[r] for r in uploaded),
        tuple(deleted),
        tuple(refreshed),
    )
