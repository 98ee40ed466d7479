"""Job results kept from earlier builds, so a rebuild recomputes only the inputs that changed.

Every per-input job (a Sentinel-2 scene, an ITS_LIVE pair, a block of MODIS days, a scene's
staging onto the harmonized grid, one source's part of one harmonized tile) is a pure function
of the files it reads and a few values (:class:`Fingerprint`), given the software
(:func:`~stactools_glofnet.core.software.software_digest`) and the catalog content. Its *key* is
the SHA-256 of all of these. The store (a directory beside DEST, see
:func:`~stactools_glofnet.core.output.memo_store`) keeps, per key, the job's result and hard
links to the files it wrote; a later build whose job has the same key links those files into
its work directory and takes the result instead of running the job. The output is therefore
byte-identical to a build from scratch.

A job whose files all have a digest the driver remembers
(:class:`~stactools_glofnet.core.digests.InputDigests`) for their current signature, or that
reads no files, is looked up in the driver, and a kept result is taken there: it never goes to
the engine, so a rebuild that computes little starts no cluster and sends nothing to one. Other
jobs have their key computed where they run (on a Dask worker, hashing in parallel), with the
digests the driver remembers, so unchanged files are not read again. An entry that cannot be
read is a miss, never an error. Entries are written atomically (a temporary directory renamed
into place), so an interrupted build leaves complete entries its retry reuses; after a
successful build the entries it did not use are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import pystac

from stactools_glofnet.core.digests import Digested, InputDigests, hash_files, unchanged_digests
from stactools_glofnet.core.engine import Engine, Ready
from stactools_glofnet.core.linked import held_items, rebase_links

if TYPE_CHECKING:
    from stactools_glofnet.core.wing import BuildOptions

logger = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")

VERSION: Final = 1
JOBS: Final = "jobs"
TEMPORARY: Final = "tmp"
RESULT: Final = "result.pickle"
WHOLE_BATCH: Final = 1000
"""SOURCE files looked up, hashed and recorded at a time by :meth:`JobMemo.whole_key`."""
FILES: Final = "files"


@dataclass(frozen=True)
class Fingerprint:
    """What a job's result depends on besides the software and the catalog content."""

    files: tuple[Path, ...]
    """The files it reads (by absolute path: their bytes and where they are)."""
    values: tuple[str, ...] = ()
    """Every other value its result depends on."""


def job_key(salt: str, name: str, fingerprint: Fingerprint, digested: Digested) -> str:
    """The SHA-256 naming a job's result: salt, function, values, and each file with its digest."""
    text = json.dumps(
        [
            VERSION,
            salt,
            name,
            list(fingerprint.values),
            [[str(p), digested[str(p)][1]] for p in fingerprint.files],
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _owners(result: Any) -> list[pystac.Item | pystac.Collection]:
    """The STAC objects a result carries, whose asset files it wrote: a collection and its
    items (a wing's result), or a job result's ``item``."""
    if isinstance(result, pystac.Collection):
        return [result, *held_items(result)]  # linked items name their files relative to themselves
    item = getattr(result, "item", None)
    return [item] if isinstance(item, pystac.Item) else []


def _files_under(base: str, prefix: str = "") -> Iterator[str]:
    """Every file under ``base`` as a ``/``-separated path relative to it, walked as strings: a
    wing's work directory holds six files an ITS_LIVE pair, and a :class:`~pathlib.Path` each
    made the keeping of a collection hold about 0.5 KiB of small objects per file at once."""
    with os.scandir(os.path.join(base, prefix)) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _files_under(base, f"{prefix}{entry.name}/")
            elif entry.is_file():
                yield f"{prefix}{entry.name}"


def _written(result: Any, workdir: Path) -> list[str]:
    """The files (relative to ``workdir``) a result stands for: everything in the work
    directory of a wing's collection, the ``written`` files a result names, or the asset
    files of a job's item."""
    base = Path(os.path.abspath(workdir))
    if isinstance(result, pystac.Collection):
        return sorted(_files_under(str(base)))
    named = getattr(result, "written", None)
    if isinstance(named, tuple):
        return sorted(str(relative) for relative in named)
    found = set()
    for owner in _owners(result):
        for asset in owner.assets.values():
            path = Path(os.path.abspath(asset.href))
            if base in path.parents and path.is_file():
                found.add(path.relative_to(base).as_posix())
    return sorted(found)


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (copy where links are not possible)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@dataclass(frozen=True)
class _Kept:
    """What an entry holds besides its files."""

    workdir: str
    files: list[str]
    result: Any
    inner: frozenset[str] = frozenset()
    """The keys of the jobs a wing's result was made from (kept while the wing's entry is)."""


def _keep(entry: Path, result: Any, workdir: Path, inner: frozenset[str] = frozenset()) -> None:
    """Store ``result`` and links to its files as ``entry``, atomically; a failure only logs."""
    if entry.is_dir():
        return
    try:
        temporary_root = entry.parent.parent / TEMPORARY
        temporary_root.mkdir(parents=True, exist_ok=True)
        entry.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=temporary_root))
        try:
            files = _written(result, workdir)
            for relative in files:
                _link(workdir / relative, temporary / FILES / relative)
            kept = _Kept(str(os.path.abspath(workdir)), files, result, inner)
            (temporary / RESULT).write_bytes(pickle.dumps((VERSION, kept), protocol=pickle.HIGHEST_PROTOCOL))
            os.rename(temporary, entry)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    except (OSError, pickle.PicklingError, RecursionError) as error:
        logger.warning("%s: could not keep a result for later builds: %s", entry, error)


def _rebase(result: Any, old: str, new: Path) -> None:
    """Point a restored result's asset hrefs from the work directory it was made in to ``new``."""
    prefix = old.rstrip("/") + "/"
    if isinstance(result, pystac.Collection):
        rebase_links(result, old, new)
    for owner in _owners(result):
        for asset in owner.assets.values():
            if asset.href.startswith(prefix):
                asset.href = str(new / asset.href[len(prefix) :])


def _restore(entry: Path, workdir: Path) -> _Kept | None:
    """The entry ``entry`` with its files linked into ``workdir``; None when there is none."""
    try:
        version, kept = pickle.loads((entry / RESULT).read_bytes())
    except FileNotFoundError:
        return None
    except Exception as error:  # any unreadable entry is a miss
        logger.warning("%s: ignoring an unreadable kept result: %s", entry, error)
        return None
    if version != VERSION or not isinstance(kept, _Kept):
        return None
    try:
        for relative in kept.files:
            _link(entry / FILES / relative, workdir / relative)
    except OSError as error:
        logger.warning("%s: ignoring a kept result whose files cannot be linked: %s", entry, error)
        for relative in kept.files:  # the result is computed instead, into a clean work directory
            (workdir / relative).unlink(missing_ok=True)
        return None
    _rebase(kept.result, kept.workdir, Path(os.path.abspath(workdir)))
    return kept


@dataclass(frozen=True)
class _Call(Generic[J, R]):
    """One job as sent to the engine, with what is needed to find or keep its result."""

    function: Callable[[J], R]
    job: J
    fingerprint: Fingerprint | None
    known: Digested
    store: Path
    salt: str
    workdir: Path
    looked_up: bool = False
    """The driver looked the key of ``known`` up and found nothing kept: compute, do not look again."""


@dataclass(frozen=True)
class _Outcome(Generic[R]):
    result: R
    key: str | None = None
    digested: Digested = field(default_factory=dict)
    reused: bool = False


def _call_key(call: _Call[J, R], digested: Digested) -> str:
    assert call.fingerprint is not None
    name = f"{call.function.__module__}.{call.function.__qualname__}"
    return job_key(call.salt, name, call.fingerprint, digested)


def _looked_up_here(call: _Call[J, R]) -> _Call[J, R] | Ready[_Outcome[R]]:
    """The call as the engine gets it: Ready with its kept result when its key needs no file read
    and the store has it; marked as looked up when the store has none; as it is when only hashing
    its files on the worker can tell."""
    if call.fingerprint is None:
        return call
    digested = unchanged_digests(call.fingerprint.files, call.known)
    if digested is None:
        return call
    key = _call_key(call, digested)
    restored = _restore(call.store / JOBS / key, call.workdir)
    if restored is None:
        return replace(call, known=digested, looked_up=True)
    return Ready(_Outcome(restored.result, key, digested, reused=True))


def _run(call: _Call[J, R]) -> _Outcome[R]:
    """Take the job's kept result if there is one; otherwise run it and keep what it made."""
    if call.fingerprint is None:
        return _Outcome(call.function(call.job))
    try:
        digested = hash_files(call.fingerprint.files, call.known)
    except OSError:
        return _Outcome(call.function(call.job))  # the job itself reports what it cannot read
    key = _call_key(call, digested)
    entry = call.store / JOBS / key
    restored = None if call.looked_up else _restore(entry, call.workdir)
    if restored is not None:
        return _Outcome(restored.result, key, digested, reused=True)
    shutil.rmtree(entry, ignore_errors=True)  # an unreadable entry is replaced
    result = call.function(call.job)
    _keep(entry, result, call.workdir)
    return _Outcome(result, key, digested)


@dataclass
class JobMemo:
    """The kept job results of one DEST, used and renewed by one build."""

    store: Path
    salt: str
    digests: InputDigests
    used: set[str] = field(default_factory=set)
    reused: int = 0
    computed: int = 0
    reused_whole: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    """The key of each whole result (:meth:`whole_key`), by name: it names the result's
    inputs completely, so what is made from that result can be keyed by it."""

    def imap(
        self,
        engine: Engine,
        function: Callable[[J], R],
        jobs: Iterable[J],
        fingerprint: Callable[[J], Fingerprint | None],
        workdir: Path,
    ) -> Iterator[R]:
        """``engine.imap(function, jobs)``, taking kept results where a job's key is in the store."""

        def calls() -> Iterator[_Call[J, R] | Ready[_Outcome[R]]]:
            for job in jobs:
                found = fingerprint(job)
                known = self.digests.known(found.files) if found else {}
                yield _looked_up_here(_Call(function, job, found, known, self.store, self.salt, workdir))

        for outcome in engine.imap(_run, calls()):
            if outcome.key is not None:
                self.used.add(outcome.key)
                self.digests.record(outcome.digested)
            if outcome.reused:
                self.reused += 1
            else:
                self.computed += 1
            yield outcome.result

    def whole_key(self, name: str, files: Iterable[str], values: tuple[str, ...]) -> str | None:
        """The key of a whole result (a wing's collection) made from ``files`` and ``values``; None
        when a file cannot be read.

        ``files`` (absolute paths, every SOURCE file of a modality) are taken as a stream, a batch
        at a time: each batch's remembered digests are looked up, its changed files hashed and its
        digests recorded (the wing's jobs find them and do not hash again), so what is held stays
        one batch whatever the number of files.
        """
        sha = hashlib.sha256(
            json.dumps([VERSION, self.salt, name, list(values)], separators=(",", ":")).encode()
        )
        stream = iter(files)
        try:
            while batch := list(islice(stream, WHOLE_BATCH)):
                digested = hash_files(batch, self.digests.known(batch))
                self.digests.record(digested)
                for path in batch:
                    sha.update(f"\n{path} {digested[path][1]}".encode("utf-8", "surrogateescape"))
        except OSError:
            return None
        key = sha.hexdigest()
        self.keys[name] = key
        return key

    def call(self, name: str, key: str, function: Callable[[], R], workdir: Path) -> R:
        """``function()`` (a wing's whole collection, in this process), or the result kept for
        ``key`` (:meth:`whole_key`) with its work directory's files linked into ``workdir``."""
        entry = self.store / JOBS / key
        restored = _restore(entry, workdir)
        if restored is not None:
            self.used.update({key, *restored.inner})
            self.reused_whole.append(name)
            result: R = restored.result
            return result
        shutil.rmtree(entry, ignore_errors=True)
        before = set(self.used)
        result = function()
        _keep(entry, result, workdir, frozenset(self.used - before))
        self.used.add(key)
        return result

    def finish(self) -> None:
        """After a successful build: drop the entries it did not use and remember the digests."""
        shutil.rmtree(self.store / TEMPORARY, ignore_errors=True)
        jobs = self.store / JOBS
        if jobs.is_dir():
            for entry in jobs.iterdir():
                if entry.name not in self.used:
                    shutil.rmtree(entry, ignore_errors=True)
        self.digests.save()

    def summary(self) -> str | None:
        """One line on what was taken from the last build (None: nothing)."""
        parts = []
        if self.reused_whole:
            parts.append(f"{', '.join(self.reused_whole)} taken whole")
        if self.reused:
            parts.append(f"{self.reused} of {self.reused + self.computed} jobs")
        return f"reused from the last build: {'; '.join(parts)}" if parts else None


def run_jobs(
    options: BuildOptions,
    function: Callable[[J], R],
    jobs: Iterable[J],
    fingerprint: Callable[[J], Fingerprint | None],
    workdir: Path,
) -> Iterator[R]:
    """Run a wing's jobs on the build's engine, through the build's memo when it has one."""
    if options.memo is None:
        return options.engine.imap(function, jobs)
    return options.memo.imap(options.engine, function, jobs, fingerprint, workdir)
