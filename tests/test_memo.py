"""The job memo takes kept results in the driver, so an engine only ever sees jobs to compute."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from stactools_glofnet.core.digests import InputDigests
from stactools_glofnet.core.engine import Ready
from stactools_glofnet.core.memo import Fingerprint, JobMemo


class RecordingEngine:
    """Runs jobs in this process and records which were sent to it to compute."""

    def __init__(self) -> None:
        self.computed: list[Any] = []

    def map(self, function: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
        return list(self.imap(function, jobs))

    def imap(self, function: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        for job in jobs:
            if isinstance(job, Ready):
                yield job.result
            else:
                self.computed.append(job.job)
                yield function(job)

    def release(self) -> None:
        pass


def _square(number: int) -> int:
    return number * number


def test_kept_results_never_reach_the_engine_and_jobs_reading_new_files_do(tmp_path: Path) -> None:
    store, workdir = tmp_path / "store", tmp_path / "work"
    workdir.mkdir()
    read = tmp_path / "input.bin"
    read.write_bytes(b"bytes a job reads")

    def fingerprint(number: int) -> Fingerprint:
        # odd jobs read a file just written, which the driver cannot know without hashing it
        return Fingerprint((read,) if number % 2 else (), (str(number),))

    def run(memo: JobMemo) -> tuple[list[int], list[int]]:
        engine = RecordingEngine()
        results = list(memo.imap(engine, _square, range(6), fingerprint, workdir))
        return results, engine.computed

    first = JobMemo(store, "salt", InputDigests(None))
    assert run(first) == ([0, 1, 4, 9, 16, 25], [0, 1, 2, 3, 4, 5])
    again = JobMemo(store, "salt", InputDigests(None))
    # the odd jobs are looked up where they run: kept there too, but only the engine can tell
    assert run(again) == ([0, 1, 4, 9, 16, 25], [1, 3, 5])
    assert again.reused == 6 and again.computed == 0
    other = JobMemo(store, "another salt", InputDigests(None))
    assert run(other) == ([0, 1, 4, 9, 16, 25], [0, 1, 2, 3, 4, 5])


def test_a_whole_key_streams_its_files_a_batch_at_a_time_and_names_their_bytes(tmp_path: Path) -> None:
    """The key of a wing's whole result: the same for the same files and values, new when one
    file's bytes change, the same after a touch; the files are taken from a stream one batch at
    a time (never listed whole) and their digests recorded; a file that cannot be read is None."""
    import os
    import time

    from stactools_glofnet.core.digests import RACY_NS
    from stactools_glofnet.core.memo import WHOLE_BATCH

    files = [tmp_path / f"{number:05d}.bin" for number in range(WHOLE_BATCH + 7)]
    for number, path in enumerate(files):
        path.write_bytes(f"file {number}".encode())
    names = [str(path) for path in files]
    time.sleep(RACY_NS / 1e9 + 0.1)  # settled: digests are remembered only of files not just changed
    taken: list[int] = []

    def stream() -> Iterator[str]:
        for number, name in enumerate(names):
            taken.append(number)
            yield name

    memo = JobMemo(tmp_path / "store", "salt", InputDigests(None))
    seen_at_each_lookup: list[int] = []
    known = memo.digests.known

    def looked_up(paths: Iterable[str | Path]) -> Any:
        seen_at_each_lookup.append(len(taken))
        return known(paths)

    memo.digests.known = looked_up  # type: ignore[method-assign]
    key = memo.whole_key("wing", stream(), ("value",))
    assert seen_at_each_lookup == [WHOLE_BATCH, WHOLE_BATCH + 7]
    assert key is not None and memo.keys["wing"] == key
    assert set(known(names)) == set(names)  # recorded, so the wing's jobs do not hash again
    assert JobMemo(tmp_path / "store", "salt", InputDigests(None)).whole_key("wing", names, ("value",)) == key
    assert memo.whole_key("wing", names, ("other",)) != key
    assert memo.whole_key("wing", names[:-1], ("value",)) != key
    os.utime(files[3], ns=(0, 0))  # touched, the same bytes
    assert memo.whole_key("wing", names, ("value",)) == key
    files[3].write_bytes(b"changed")
    assert memo.whole_key("wing", names, ("value",)) not in (None, key)
    files[5].unlink()
    assert memo.whole_key("wing", names, ("value",)) is None


def test_a_kept_collection_names_every_file_of_its_work_directory_in_order(tmp_path: Path) -> None:
    """What a wing's kept result stands for: each file under its work directory, relative and sorted
    (walked as strings; the same list pathlib's walk gives)."""
    import pystac

    from stactools_glofnet.core.memo import _written

    base = tmp_path / "work"
    for relative in (
        "b/b.json",
        "b/v.tif",
        "a b/é.png",
        "a/x/y/z.json",
        "velocity_cube.zarr/.zattrs",
        "top.parquet",
    ):
        (base / relative).parent.mkdir(parents=True, exist_ok=True)
        (base / relative).write_bytes(relative.encode())
    (base / "empty" / "folder").mkdir(parents=True)
    collection = pystac.Collection(
        "c",
        "c",
        pystac.Extent.from_dict(
            {"spatial": {"bbox": [[0, 0, 1, 1]]}, "temporal": {"interval": [[None, None]]}}
        ),
    )
    found = _written(collection, base)
    assert found == sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
    assert found == [
        "a b/é.png",
        "a/x/y/z.json",
        "b/b.json",
        "b/v.tif",
        "top.parquet",
        "velocity_cube.zarr/.zattrs",
    ]
