"""Where a command's output lands: never over what is not ours, replaced atomically, one writer.

Every command that writes a directory (catalog, collection, item, sample) goes through
:func:`replacing`:

- **Refuse what is not ours.** DEST may not be SOURCE, contain SOURCE or contain the current
  directory. An existing DEST that is a file or a non-empty directory without this tool's marker
  (:data:`MARKER`, written into every output) is refused unless ``overwrite`` is given.
- **One writer.** A lock file beside DEST (``flock``) admits one run per DEST at a time; a second
  run stops with one line naming the holder's process id.
- **Atomic.** The output is built in a staging directory beside DEST, then swapped with DEST in
  one ``renameat2(RENAME_EXCHANGE)`` call, so DEST is always either the old or the new output,
  even if the process is killed at any point. Where the kernel or file system has no exchange,
  two renames are used and a run killed between them is repaired by the next one (the old copy
  is moved back).
- **No leftovers.** SIGTERM (like SIGINT) unwinds the block, which removes the staging directory;
  staging directories of runs killed with SIGKILL are removed by the next run for the same DEST.

Inputs are found with :func:`input_paths` (a pattern) or :func:`input_files` (every file, as a
stream), which never descend into an output or staging directory, so a DEST inside SOURCE is
not read back on the next run.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Final

from stactools_glofnet import __version__
from stactools_glofnet.core.errors import GlofnetError

logger = logging.getLogger(__name__)

MARKER: Final = ".stactools-glofnet"
"""The file every output directory holds: it says this tool wrote the directory and may replace it."""
STAGING_PREFIX: Final = ".glofnet-staging-"
LOCK_PREFIX: Final = ".glofnet-lock-"
MEMO_PREFIX: Final = ".glofnet-memo-"
"""Beside DEST: job results kept for the next build into the same DEST (see core/memo.py)."""
_RENAME_EXCHANGE: Final = 2
_AT_FDCWD: Final = -100


def marker_text(kind: str) -> str:
    """The marker's content: what kind of output this is and which software wrote it."""
    return json.dumps({"kind": kind, "software": "stactools-glofnet", "version": __version__}) + "\n"


def output_kind(path: Path) -> str | None:
    """What this tool wrote at directory ``path`` (catalog, collection, item, sample), or None."""
    if not path.is_dir():
        return None
    try:
        return str(json.loads((path / MARKER).read_text(encoding="utf-8"))["kind"])
    except (OSError, ValueError, KeyError, TypeError):
        return _kind_before_marker(path)


_EXTENSION_SIGN: Final = b"glofnet.github.io/stactools-glofnet/extension"


def _kind_before_marker(path: Path) -> str | None:
    """The kind of an output written before outputs carried the marker, told by its top-level JSON."""
    signs = {"catalog.json": "catalog", "collection.json": "collection", "sample.json": "sample"}
    for name in [*signs, *sorted(p.name for p in path.glob("*.json") if p.name not in signs)[:2]]:
        candidate = path / name
        if not candidate.is_file():
            continue
        with candidate.open("rb") as file:
            head = file.read(1 << 16)
        if name == "sample.json":
            if b'"format": "glofnet-sample"' in head:
                return "sample"
        elif _EXTENSION_SIGN in head:
            return signs.get(name, "item")
    return None


def is_output(path: Path) -> bool:
    """Whether ``path`` is a directory this tool wrote, or one of its staging or memo directories."""
    return path.name.startswith((STAGING_PREFIX, MEMO_PREFIX)) or output_kind(path) is not None


def input_paths(directory: Path, pattern: str, *, recursive: bool = False) -> list[Path]:
    """Files under ``directory`` matching ``pattern``, sorted, never inside an output or staging directory."""
    verdicts: dict[Path, bool] = {}

    def excluded(folder: Path) -> bool:
        if folder not in verdicts:
            verdicts[folder] = is_output(folder)
        return verdicts[folder]

    found: list[Path] = []
    for path in directory.rglob(pattern) if recursive else directory.glob(pattern):
        relative = path.relative_to(directory)
        parents = [directory / Path(*relative.parts[:i]) for i in range(1, len(relative.parts))]
        if not any(excluded(parent) for parent in parents):
            found.append(path)
    return sorted(found)


def input_files(directory: Path) -> Iterator[str]:
    """Every file under ``directory`` as a path string, never inside an output or staging directory.

    The order is the order of the files' sorted :class:`~pathlib.Path` objects (a folder's entries by
    name, each subfolder's files where its name sorts). Symbolic links to files are followed, to
    folders not (as ``Path.rglob``). The files are given as they are found, one folder listed at
    a time, so a SOURCE of any size costs its largest folder's names, not one object per file.
    """

    def walk(folder: str) -> Iterator[str]:
        with os.scandir(folder) as listing:
            entries = sorted((e.name, e.is_dir(follow_symlinks=False), e.is_file()) for e in listing)
        for name, is_folder, is_file in entries:
            path = os.path.join(folder, name)
            if is_folder:
                if not is_output(Path(path)):
                    yield from walk(path)
            elif is_file:
                yield path

    if os.path.isdir(directory):  # as Path.rglob: a folder that is not there has no files
        yield from walk(os.fspath(directory))


def _key(dest: Path) -> str:
    """A short name-safe key of DEST, so staging and lock names never exceed a file-name limit."""
    return hashlib.sha256(dest.name.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def memo_store(dest: Path) -> Path:
    """Where the job results of builds into ``dest`` are kept: a hidden directory beside it."""
    dest = Path(os.path.abspath(dest))
    return dest.parent / f"{MEMO_PREFIX}{_key(dest)}"


def _within(path: Path, ancestor: Path) -> bool:
    return path == ancestor or ancestor in path.parents


def check_destination(dest: Path, kind: str, inputs: Sequence[Path] = (), *, overwrite: bool = False) -> None:
    """Refuse a DEST that would destroy inputs or someone else's files (see the module docstring)."""
    resolved = dest.resolve()
    for source in inputs:
        source_resolved = source.resolve()
        if resolved == source_resolved:
            raise GlofnetError(dest, "DEST is SOURCE; choose a directory outside SOURCE")
        if _within(source_resolved, resolved):
            raise GlofnetError(dest, f"DEST contains SOURCE {source}; choose a directory outside it")
    if _within(Path.cwd().resolve(), resolved):
        raise GlofnetError(dest, "DEST is (or contains) the current directory; choose a sub-directory")
    if not (dest.exists() or dest.is_symlink()):
        return
    found = output_kind(dest) if dest.is_dir() and not dest.is_symlink() else None
    if found == kind or (dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir())):
        return
    if overwrite:
        logger.warning("%s: replacing it (--overwrite)", dest)
        return
    if found is not None:
        what = f"a {found} this tool wrote, not a {kind}"
    elif dest.is_dir():
        what = f"a directory this tool did not write (no {MARKER} marker)"
    else:
        what = "a file"
    raise GlofnetError(
        dest, f"exists and is {what}; choose a new or empty directory, or pass --overwrite to replace it"
    )


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot."""
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is None:
        return False
    result = function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _install(dest: Path, staging: Path, workspace: Path) -> None:
    """Put ``staging`` at ``dest``; the previous ``dest`` (if any) ends up inside ``workspace``."""
    if not (dest.exists() or dest.is_symlink()):
        os.rename(staging, dest)
        return
    if _exchange(staging, dest):
        return
    old = workspace / "old"
    os.rename(dest, old)  # a run killed between these renames is repaired by _recover
    try:
        os.rename(staging, dest)
    except BaseException:
        os.rename(old, dest)
        raise


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block (main thread), so a swap is never cut in half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _recover(dest: Path) -> None:
    """Remove staging directories of earlier runs for ``dest``, first restoring a DEST they took away."""
    for stale in sorted(dest.parent.glob(f"{STAGING_PREFIX}{_key(dest)}-*")):
        old = stale / "old"
        if not (dest.exists() or dest.is_symlink()) and (old.exists() or old.is_symlink()):
            os.rename(old, dest)
            logger.warning("%s: restored the previous output left by an interrupted run", dest)
        shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def _lock(dest: Path) -> Iterator[None]:
    """Hold the lock of ``dest`` for the block; a second holder is refused in one line."""
    path = dest.parent / f"{LOCK_PREFIX}{_key(dest)}"
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(handle)
            raise GlofnetError(
                dest, f"another stactools-glofnet run (process {holder}) is writing it; try again later"
            ) from None
        with suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(handle).st_ino:
                break  # the file locked is still the lock file: the lock is ours
        os.close(handle)  # the previous holder removed it as we opened it: take the new one
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)
        os.close(handle)


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM, so cleanup runs as it does for Ctrl-C."""


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def replacing(
    dest: Path,
    *,
    kind: str,
    inputs: Sequence[Path] = (),
    overwrite: bool = False,
    installed: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield an empty staging directory; when the block succeeds it becomes ``dest`` atomically.

    ``kind`` names the output in its marker (catalog, collection, item, sample). On any error,
    SIGINT or SIGTERM the staging directory is removed and ``dest`` is left exactly as it was.
    OS errors (a read-only parent, a name too long) become one-line :class:`GlofnetError`s.
    ``installed`` is called with ``dest`` once the output it replaced is removed, still under the
    writer's lock (removing it unlinks files the new output may share, which changes their ctime).
    """
    dest = Path(os.path.abspath(dest))
    try:
        check_destination(dest, kind, inputs, overwrite=overwrite)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _lock(dest), _terminate_cleanly():
            _recover(dest)
            check_destination(dest, kind, inputs, overwrite=overwrite)  # again, now that no one else writes
            workspace = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{_key(dest)}-", dir=dest.parent))
            try:
                staging = workspace / "new"
                staging.mkdir()
                yield staging
                (staging / MARKER).write_text(marker_text(kind), encoding="utf-8")
                with _signals_deferred():
                    _install(dest, staging, workspace)
                shutil.rmtree(workspace, ignore_errors=True)
                if installed is not None:
                    installed(dest)
            finally:
                shutil.rmtree(workspace, ignore_errors=True)
    except OSError as error:
        raise _one_line(error, dest) from None


def _one_line(error: OSError, dest: Path) -> GlofnetError:
    """An OS error as one line naming the file; our own lock and staging names are DEST's parent's."""
    name = str(error.filename or dest)
    if Path(name).name.startswith((LOCK_PREFIX, STAGING_PREFIX)):
        name = str(dest.parent)
    return GlofnetError(name, f"cannot write there ({error.strerror or error})")


def writer_lock(dest: Path) -> AbstractContextManager[None]:
    """Hold the one-writer lock of ``dest`` (beside it) for a block; a second holder gets one line.

    For commands that update a directory in place (``acquire`` into SOURCE) rather than replace it.
    """
    return _lock(Path(os.path.abspath(dest)))
