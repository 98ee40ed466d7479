""":func:`mirrored`: a SOURCE given as a local path or ``s3://BUCKET/PREFIX``, as a local directory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.output import writer_lock
from stactools_glofnet.mirror.connect import connect
from stactools_glofnet.mirror.download import download_changes
from stactools_glofnet.mirror.location import mirror_location
from stactools_glofnet.mirror.state import MirrorState
from stactools_glofnet.mirror.upload import upload_changes
from stactools_glofnet.publish.endpoint import check_endpoint_url
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.target import parse_target

logger = logging.getLogger(__name__)

SourceSpec = Path | str
"""A SOURCE as given: a local directory, or an ``s3://BUCKET/PREFIX`` URL (a ``str``)."""


def is_s3_url(source: SourceSpec) -> bool:
    """Whether ``source`` names a prefix in object storage."""
    return isinstance(source, str) and source.startswith("s3://")


@dataclass
class Mirrored:
    """A SOURCE as the readers see it, and one line per synchronization done for it."""

    source: SourceSpec
    """As given (the ``s3://`` URL, or the local path)."""
    path: Path
    """The local directory to read (and, for ``acquire``, to write)."""
    lines: list[str] = field(default_factory=list)


@contextmanager
def mirrored(
    source: SourceSpec,
    *,
    endpoint_url: str | None = None,
    upload: bool = False,
    settings: TransferSettings | None = None,
) -> Iterator[Mirrored]:
    """The local directory of ``source`` for the duration of a block.

    A local path is yielded as it is. For ``s3://BUCKET/PREFIX``, the prefix is first synchronized
    into its mirror in the user cache (:mod:`stactools_glofnet.mirror.download`), and the mirror is
    locked against other runs until the block ends. With ``upload``, what the block added or
    changed in the mirror is then uploaded (:mod:`stactools_glofnet.mirror.upload`), also when the
    block fails with a :class:`GlofnetError`, so that what was complete is kept for a rerun.

    Raises:
        GlofnetError: a bad URL, no such bucket, no credentials, an endpoint that does not answer
            (one line naming the URL).
    """
    if not is_s3_url(source):
        if endpoint_url:
            raise GlofnetError(str(source), "--endpoint-url applies to an s3://BUCKET/PREFIX SOURCE only")
        yield Mirrored(source, Path(source))
        return
    settings = settings or TransferSettings()
    if endpoint_url:
        check_endpoint_url(endpoint_url)
    target = parse_target(str(source))
    location = mirror_location(target, endpoint_url)
    client = connect(target, endpoint_url, settings)
    location.directory.mkdir(parents=True, exist_ok=True)
    with writer_lock(location.tree):
        state = MirrorState.load(location.state)
        report = download_changes(client, target, location.tree, state, settings)
        mirror = Mirrored(str(target), location.tree, [report.summary(target, location.tree)])
        try:
            yield mirror
        except GlofnetError:
            if upload:
                try:
                    pushed = upload_changes(client, target, location.tree, state, settings)
                    logger.warning("after the error: %s", pushed.summary(target))
                except GlofnetError as failed:  # the first error is the one to report
                    logger.warning("after the error, uploading what was fetched failed too: %s", failed)
            raise
        if upload:
            pushed = upload_changes(client, target, location.tree, state, settings)
            mirror.lines.append(pushed.summary(target))
