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
