"""The remembered digests of SOURCE files (core/digests.py): kept on disk, not in the process."""

from __future__ import annotations

import logging
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from stactools_glofnet.core import digests as digests_module
from stactools_glofnet.core.digests import InputDigests, Signature, hash_files


def _files(directory: Path, count: int) -> list[Path]:
    paths = []
    for n in range(count):
        path = directory / f"file-{n:03d}.bin"
        path.write_bytes(f"bytes of file {n}".encode())
        paths.append(path)
    return paths


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GLOFNET_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled as soon as they are written (their ctime is always recent here)."""
    monkeypatch.setattr(digests_module, "RACY_NS", 0)


@pytest.mark.usefixtures("settled")
def test_digests_used_are_remembered_by_the_next_run_and_others_dropped(
    tmp_path: Path, cache_dir: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    paths = _files(source, 6)
    first = InputDigests.load(source)
    found = hash_files(paths, first.known(paths))
    first.record(found)
    first.save()
    first.close()
    assert first.path is not None and first.path.is_file() and cache_dir in first.path.parents

    second = InputDigests.load(source)
    assert second.known(paths) == found, "every digest comes back with its signature"
    second.record({str(p): found[str(p)] for p in paths[:2]})
    second.save()
    second.close()

    third = InputDigests.load(source)
    assert third.known(paths) == {str(p): found[str(p)] for p in paths[:2]}, "unused entries dropped"
    third.close()


def test_a_file_changed_just_now_is_not_remembered(tmp_path: Path, cache_dir: Path) -> None:
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"just written")
    digests = InputDigests.load(tmp_path)
    digests.record(hash_files([path], {}))
    assert digests.known([path]) == {}
    digests.close()


@pytest.mark.usefixtures("settled")
def test_an_unreadable_cache_is_ignored_and_replaced(
    tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    paths = _files(source, 2)
    cache = digests_module.cache_file(Path(os.path.abspath(source)))
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a database, " * 64)
    with caplog.at_level(logging.WARNING):
        digests = InputDigests.load(source)
    assert "ignoring the unreadable digest cache" in caplog.text and cache.name in caplog.text
    assert digests.known(paths) == {}
    digests.record(hash_files(paths, {}))
    digests.save()
    digests.close()
    again = InputDigests.load(source)
    assert set(again.known(paths)) == {str(p) for p in paths}
    again.close()


def test_threads_recording_and_looking_up_together_lose_nothing(tmp_path: Path) -> None:
    digests = InputDigests(None)
    signature: Signature = (1, 2, 3, 4, 5)

    def work(thread: int) -> None:
        for n in range(200):
            name = f"/source/{thread}/{n}"
            digests.record({name: (signature, f"{thread}-{n}")})
            assert digests.known([Path(name)]) == {name: (signature, f"{thread}-{n}")}

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = [Path(f"/source/{t}/{n}") for t in range(4) for n in range(200)]
    assert len(digests.known(names)) == 800
    digests.close()


def test_the_process_does_not_grow_with_the_number_of_files(tmp_path: Path) -> None:
    """100,000 digests (a dict held about 585 bytes each: 56 MiB) cost the process under 4 MiB."""
    signature: Signature = (1234, 1_700_000_000_000_000_000, 1_700_000_000_000_000_000, 99, 2049)
    digests = InputDigests(None)
    tracemalloc.start()
    try:
        for start in range(0, 100_000, 10_000):
            digests.record(
                {
                    f"/work/source/itslive/granule-{n:06d}.nc": (signature, f"{n:064x}")
                    for n in range(start, start + 10_000)
                }
            )
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 4 * 2**20, f"{held / 2**20:.1f} MiB held for 100,000 digests"
    name = "/work/source/itslive/granule-054321.nc"
    assert digests.known([Path(name)]) == {name: (signature, f"{54321:064x}")}
    digests.close()
