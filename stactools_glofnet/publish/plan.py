"""The publish plan: which objects to upload, skip and delete, in an order safe for readers.

Phases run one after the other, each finishing before the next starts: assets, then items, then
sub-catalogs and collections (deepest first: ``catalogs-1`` are the year catalogs that list
items, ``catalogs-2`` the collections that list them), then the root, then the manifest; stale
objects are deleted last. A reader who follows links from whichever root is published therefore
never meets a missing object, even if a publish stops half-way.

An object is skipped when the listing shows it with the size and ETag the manifest recorded for
the same SHA-256 and headers, or, without a usable manifest entry (a first run over objects
uploaded by another tool, a run that stopped before writing the manifest), when its listed ETag
equals the ETag computed locally from the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stactools_glofnet import __version__
from stactools_glofnet.core.files import dumps_json
from stactools_glofnet.core.progress import progress
from stactools_glofnet.publish.digest import Digest, digest_bytes, digest_file
from stactools_glofnet.publish.local import CatalogFile, LocalCatalog
from stactools_glofnet.publish.media import Kind, cache_control, content_type
from stactools_glofnet.publish.remote import Manifest, ManifestEntry, RemoteObject
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.target import MANIFEST_NAME, Target

Verb = Literal["upload", "skip"]
ROOT_ORDER = 1 << 30


@dataclass(frozen=True)
class PublishedFile:
    """One object to publish: where its bytes come from, their digest and the headers it gets."""

    relative: str
    key: str
    kind: Kind
    level: int
    path: Path
    digest: Digest
    content_type: str
    cache_control: str
    data: bytes | None = None
    """The staged bytes when the published copy differs from the file (``--public-url``)."""

    def entry(self, etag: str) -> ManifestEntry:
        """This file's manifest entry once its object has ``etag``."""
        return ManifestEntry(
            sha256=self.digest.sha256,
            size=self.digest.size,
            etag=etag,
            content_type=self.content_type,
            cache_control=self.cache_control,
        )


@dataclass(frozen=True)
class Action:
    """Upload or skip one file, and why."""

    verb: Verb
    reason: str
    file: PublishedFile
    remote_etag: str | None


@dataclass(frozen=True)
class Phase:
    """Files published together; the next phase starts only when this one is complete."""

    name: str
    actions: tuple[Action, ...]

    @property
    def uploads(self) -> list[PublishedFile]:
        """The files this phase uploads."""
        return [action.file for action in self.actions if action.verb == "upload"]


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

    @property
    def actions(self) -> list[Action]:
        """Every upload and skip, in publishing order."""
        return [action for phase in self.phases for action in phase.actions]

    def manifest(self, uploaded: Mapping[str, str]) -> bytes:
        """The manifest after this run, given the ETags the uploads got (predicted if absent)."""
        objects = {}
        for action in self.actions:
            etag = uploaded.get(action.file.relative) or action.remote_etag or action.file.digest.etag
            objects[action.file.relative] = action.file.entry(etag)
        manifest = Manifest(generator=f"stactools-glofnet {__version__}", objects=objects)
        return dumps_json(manifest.model_dump()).encode("utf-8")

    def manifest_changed(self, manifest: bytes) -> bool:
        """Whether ``manifest`` differs from the published one (compared by ETag)."""
        return digest_bytes(manifest, self.settings).etag != self.remote_manifest_etag

    def lines(self) -> list[str]:
        """The plan as text, one object per line in execution order (what ``--dry-run`` prints)."""
        lines = []
        for phase in self.phases:
            for action in phase.actions:
                file = action.file
                details = f"{action.reason}, {format_size(file.digest.size)}, {file.content_type}"
                lines.append(f"{action.verb:<7} {phase.name:<11} {file.relative} ({details})")
        if self.manifest_changed(self.manifest({})):
            lines.append(f"{'upload':<7} {'manifest':<11} {MANIFEST_NAME}")
        for relative in self.stale:
            if self.delete:
                lines.append(f"{'delete':<7} {'stale':<11} {relative}")
            else:
                lines.append(
                    f"{'keep':<7} {'stale':<11} {relative} (not in the catalog; --delete removes it)"
                )
        return lines


def prepare_files(
    catalog: LocalCatalog, staged: Mapping[str, bytes], target: Target, settings: TransferSettings
) -> list[PublishedFile]:
    """Every catalog file with its key, digest (hashed in parallel) and headers."""

    def prepare(file: CatalogFile) -> PublishedFile:
        data = staged.get(file.relative)
        digest = digest_bytes(data, settings) if data is not None else digest_file(file.path, settings)
        return PublishedFile(
            relative=file.relative,
            key=target.key(file.relative),
            kind=file.kind,
            level=file.level,
            path=file.path,
            digest=digest,
            content_type=content_type(file.relative, file.kind, file.declared_type),
            cache_control=cache_control(file.kind),
            data=data,
        )

    with ThreadPoolExecutor(settings.concurrency) as pool:
        return list(
            progress(pool.map(prepare, catalog.files), desc="hashing", unit="file", total=len(catalog.files))
        )


def _decide(
    file: PublishedFile, remote: RemoteObject | None, entry: ManifestEntry | None, force: bool
) -> tuple[Verb, str]:
    if force:
        return "upload", "forced"
    if remote is None:
        return "upload", "new"
    if remote.size != file.digest.size:
        return "upload", "changed"
    if entry is not None and entry.etag == remote.etag and entry.size == remote.size:
        if entry.sha256 != file.digest.sha256:
            return "upload", "changed"
        if (entry.content_type, entry.cache_control) != (file.content_type, file.cache_control):
            return "upload", "headers"
        return "skip", "unchanged"
    if remote.etag == file.digest.etag:
        return "skip", "unchanged"
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
) -> Plan:
    """Compare the local files with the listing and the manifest; order the work in phases."""
    entries = manifest.objects if manifest else {}
    grouped: dict[tuple[int, str], list[Action]] = {}
    for file in sorted(files, key=lambda f: f.relative):
        remote = listing.get(file.relative)
        verb, reason = _decide(file, remote, entries.get(file.relative), force)
        action = Action(verb, reason, file, remote.etag if remote and verb == "skip" else None)
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
    )
