"""The publish plan: which objects to upload, skip and delete, in an order safe for readers.

Phases run one after the other, each finishing before the next starts: assets, then items, then
sub-catalogs and collections (deepest first: ``catalogs-1`` are the year catalogs that list
items, ``catalogs-2`` the collections that list them), then the root, then the manifest; stale
objects are deleted last. A reader who follows links from whichever root is published therefore
never meets a missing object, even if a publish stops half-way.

An object is skipped when the listing shows it with the size and ETag the manifest recorded for
the same SHA-256 and headers. When its content is known to be right but its headers are not, it
is *refreshed*: copied onto itself on the server (CopyObject with ``MetadataDirective=REPLACE``
and our headers; no data is sent). That happens when the manifest recorded other headers, and
when there is no usable manifest entry (a first run over objects uploaded by another tool, a run
that stopped before writing the manifest) but the listed ETag equals the ETag computed locally
from the file: its content matches, the headers it was stored with are unknown.

A file's digest is needed only to compare it with a listed object of the same size. Others (new
objects, resized ones, everything with ``force``) are hashed once, from the bytes the upload
sends; digests are taken from the local :class:`~stactools_glofnet.publish.cache.DigestCache`
while a file's signature is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

from stactools_glofnet import __version__
from stactools_glofnet.core.progress import progress
from stactools_glofnet.publish.cache import DigestCache, Signature, signature
from stactools_glofnet.publish.digest import Digest, digest_bytes, digest_file
from stactools_glofnet.publish.local import LocalCatalog
from stactools_glofnet.publish.media import Kind, cache_control, content_type
from stactools_glofnet.publish.public import PublicCopy
from stactools_glofnet.publish.remote import Manifest, ManifestEntry, RemoteObject
from stactools_glofnet.publish.settings import MAX_COPY_SIZE, TransferSettings
from stactools_glofnet.publish.target import MANIFEST_NAME, Target

Verb = Literal["upload", "refresh", "skip"]
ROOT_ORDER = 1 << 30


@dataclass(frozen=True)
class PublishedFile:
    """One object to publish: where its bytes come from, their digest and the headers it gets."""

    relative: str
    key: str
    kind: Kind
    level: int
    path: Path
    size: int
    digest: Digest | None
    """None when the file is hashed as it is uploaded (nothing had to be compared with it)."""
    content_type: str
    cache_control: str
    render: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)
    """Makes the bytes to publish when they differ from the file (``--public-url``, the manifest);
    called when the file is hashed and again when it is uploaded, so they are not kept."""
    signature: Signature | None = None
    """The file's signature when it was planned (None for rendered bytes)."""
    part_size: int = 0
    """The part size of its multipart upload (0: one request)."""

    def entry(self, etag: str, digest: Digest) -> ManifestEntry:
        """This file's manifest entry once its object has ``etag`` and ``digest``."""
        return ManifestEntry(
            sha256=digest.sha256,
            size=digest.size,
            etag=etag,
            content_type=self.content_type,
            cache_control=self.cache_control,
        )


@dataclass(frozen=True)
class Uploaded:
    """An object as an upload or a header refresh left it."""

    etag: str
    digest: Digest


@dataclass(frozen=True)
class Action:
    """Upload, refresh or skip one file, and why."""

    verb: Verb
    reason: str
    file: PublishedFile
    remote_etag: str | None
    """The listed object's ETag when it is refreshed or skipped."""


@dataclass(frozen=True)
class Phase:
    """Files published together; the next phase starts only when this one is complete."""

    name: str
    actions: tuple[Action, ...]

    @property
    def uploads(self) -> list[PublishedFile]:
        """The files this phase uploads."""
        return [action.file for action in self.actions if action.verb == "upload"]

    @property
    def refreshes(self) -> list[tuple[PublishedFile, str]]:
        """The files whose objects this phase refreshes, with the ETag each object must still have."""
        return [
            (action.file, action.remote_etag)
            for action in self.actions
            if action.verb == "refresh" and action.remote_etag is not None
        ]


def format_size(count: int) -> str:
    """A byte count in KiB or MiB."""
    return f"{count / (1 << 20):.1f} MiB" if count >= 1 << 20 else f"{count / 1024:.1f} KiB"


@dataclass(frozen=True)
class Plan:
    """Everything a publish run does, decided before it changes anything."""

    target: Target
    phases: tuple[Phase, ...]
    stale: tuple[str, ...]
    """Keys (relative to the prefix) under the prefix that the catalog no longer has."""
    remote_manifest_etag: str | None
    delete: bool
    settings: TransferSettings
    left_out: str | None = None
    """Why some files of the catalog directory are not published, when some are not."""

    @property
    def actions(self) -> list[Action]:
        """Every upload, refresh and skip, in publishing order."""
        return [action for phase in self.phases for action in phase.actions]

    def manifest(self, uploaded: Mapping[str, Uploaded]) -> bytes:
        """The manifest after this run, given what the uploads and refreshes left (predicted if absent)."""
        objects = {}
        for action in self.actions:
            done = uploaded.get(action.file.relative)
            digest = done.digest if done else action.file.digest
            if digest is None:
                raise ValueError(f"{action.file.relative} was neither hashed nor uploaded")
            etag = done.etag if done else action.remote_etag or digest.etag
            objects[action.file.relative] = action.file.entry(etag, digest)
        manifest = Manifest(generator=f"stactools-glofnet {__version__}", objects=objects)
        return manifest.to_json()

    def manifest_changed(self, manifest: bytes) -> bool:
        """Whether ``manifest`` differs from the published one (compared by ETag)."""
        return digest_bytes(manifest, self.settings).etag != self.remote_manifest_etag

    def lines(self) -> list[str]:
        """The plan as text, one object per line in execution order (what ``--dry-run`` prints)."""
        lines = []
        for phase in self.phases:
            for action in phase.actions:
                file = action.file
                details = f"{action.reason}, {format_size(file.size)}, {file.content_type}"
                lines.append(f"{action.verb:<7} {phase.name:<11} {file.relative} ({details})")
        if self.manifest_changed(self.manifest({})):
            lines.append(f"{'upload':<7} {'manifest':<11} {MANIFEST_NAME}")
        if self.left_out:
            lines.append(f"{'leave':<7} {'unlinked':<11} {self.left_out}")
        for relative in self.stale:
            if self.delete:
                lines.append(f"{'delete':<7} {'stale':<11} {relative}")
            else:
                lines.append(
                    f"{'keep':<7} {'stale':<11} {relative} (not in the catalog; --delete removes it)"
                )
        return lines


def needs_digest(size: int, remote: RemoteObject | None, force: bool) -> bool:
    """Whether deciding what to do with a file of ``size`` needs its digest: only to compare it
    with a listed object of the same size."""
    return not force and remote is not None and remote.size == size


def prepare_files(
    catalog: LocalCatalog,
    public: PublicCopy | None,
    target: Target,
    settings: TransferSettings,
    *,
    listing: Mapping[str, RemoteObject],
    cache: DigestCache,
    force: bool = False,
    hash_all: bool = False,
) -> tuple[list[PublishedFile], int]:
    """Every catalog file with its key, headers and, where the plan needs it, its digest; and how
    many files were read to hash them.

    Digests come from ``cache`` while a file's signature is unchanged, else are computed (in
    parallel) and recorded there. Files that need no comparison with ``listing`` are left for the
    upload to hash, unless they are uploaded in parts (their SHA-256 is sent first) or ``hash_all``
    (a dry run). With ``public``, the STAC documents it rewrites are hashed as rewritten.
    """
    prepared: list[PublishedFile] = []
    to_hash: list[tuple[int, Signature]] = []
    for file in catalog.files:
        render = partial(public.render, file) if public is not None and public.rewrites(file) else None
        digest, sig, part_size = None, None, 0
        if render is not None:
            digest = digest_bytes(render(), settings)
            size = digest.size
        else:
            sig = signature(file.path)
            size = sig[0]
            part_size = settings.part_size_for(size) if settings.multipart(size) else 0
            if hash_all or part_size or needs_digest(size, listing.get(file.relative), force):
                digest = cache.get(file.relative, sig, part_size)
                if digest is None:
                    to_hash.append((len(prepared), sig))
        prepared.append(
            PublishedFile(
                relative=file.relative,
                key=target.key(file.relative),
                kind=file.kind,
                level=file.level,
                path=file.path,
                size=size,
                digest=digest,
                content_type=content_type(file.relative, file.kind, file.declared_type),
                cache_control=cache_control(file.kind),
                render=render,
                signature=sig,
                part_size=part_size,
            )
        )

    def hashed(task: tuple[int, Signature]) -> PublishedFile:
        index, sig = task
        file = prepared[index]
        digest = digest_file(file.path, settings)
        if signature(file.path) == sig:
            cache.put(file.relative, sig, file.part_size, digest)
        return replace(file, size=digest.size, digest=digest)

    if not to_hash:
        return prepared, 0
    with ThreadPoolExecutor(settings.concurrency) as pool:
        results = pool.map(hashed, to_hash)
        for (index, _), done in zip(
            to_hash, progress(results, desc="hashing", unit="file", total=len(to_hash)), strict=True
        ):
            prepared[index] = done
    return prepared, len(to_hash)


def _refresh(remote: RemoteObject, reason: str) -> tuple[Verb, str]:
    """Refresh the headers of an object whose content is right (re-upload one too large to copy)."""
    return ("refresh" if remote.size <= MAX_COPY_SIZE else "upload"), reason


def _decide(
    file: PublishedFile, remote: RemoteObject | None, entry: ManifestEntry | None, force: bool
) -> tuple[Verb, str]:
    if force:
        return "upload", "forced"
    if remote is None:
        return "upload", "new"
    if remote.size != file.size:
        return "upload", "changed"
    digest = file.digest
    if digest is None:
        raise ValueError(f"{file.relative} must be hashed to compare it with its object")
    if entry is not None and entry.etag == remote.etag and entry.size == remote.size:
        if entry.sha256 != digest.sha256:
            return "upload", "changed"
        if (entry.content_type, entry.cache_control) != (file.content_type, file.cache_control):
            return _refresh(remote, "headers changed")
        return "skip", "unchanged"
    if remote.etag == digest.etag:
        return _refresh(remote, "headers unknown")
    return "upload", "changed"


def _phase(file: PublishedFile) -> tuple[int, str]:
    if file.kind == "asset":
        return 0, "assets"
    if file.kind == "item":
        return 1, "items"
    if file.kind == "root":
        return ROOT_ORDER, "root"
    return 1 + file.level, f"catalogs-{file.level}"


def make_plan(
    target: Target,
    files: list[PublishedFile],
    listing: Mapping[str, RemoteObject],
    manifest: Manifest | None,
    *,
    settings: TransferSettings,
    delete: bool = False,
    force: bool = False,
    left_out: str | None = None,
) -> Plan:
    """Compare the local files with the listing and the manifest; order the work in phases.

    ``left_out`` says which files of the catalog directory are not published (for the plan's text).
    """
    entries = manifest.objects if manifest else {}
    grouped: dict[tuple[int, str], list[Action]] = {}
    for file in sorted(files, key=lambda f: f.relative):
        remote = listing.get(file.relative)
        verb, reason = _decide(file, remote, entries.get(file.relative), force)
        action = Action(verb, reason, file, remote.etag if remote and verb != "upload" else None)
        grouped.setdefault(_phase(file), []).append(action)
    local = {file.relative for file in files}
    stale = tuple(sorted(key for key in listing if key not in local and key != MANIFEST_NAME))
    remote_manifest = listing.get(MANIFEST_NAME)
    return Plan(
        target=target,
        phases=tuple(Phase(name, tuple(actions)) for (_, name), actions in sorted(grouped.items())),
        stale=stale,
        remote_manifest_etag=remote_manifest.etag if remote_manifest else None,
        delete=delete,
        settings=settings,
        left_out=left_out,
    )
