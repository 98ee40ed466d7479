"""Where independent pieces of work run: in this process, or on a dask.distributed cluster.

Work is mapped over jobs with :meth:`Engine.map` (all results at once) or :meth:`Engine.imap`
(results streamed, a bounded number in flight, so memory does not grow with the number of
jobs); results come back in job order whatever the engine, so a build is byte-identical with or
without a cluster. A job must be a picklable value and the function a module-level function,
because a cluster runs them in other processes. A worker lost mid-job has its jobs rerun by
Dask; a job that keeps losing its worker ends the build with one line.

A job given as :class:`Ready` (its result already known, e.g. kept from the last build) is
yielded in its place without being sent anywhere, and a local cluster starts only once jobs have
taken :data:`IN_PROCESS_SECONDS` in this process: a rebuild that computes little starts none.
On a cluster, consecutive short jobs travel together as one task of about
:data:`BATCH_SECONDS` of work, so the scheduler's cost per task does not outweigh the work.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

from stactools_glofnet.core.allocator import give_back_freed_memory
from stactools_glofnet.core.cores import usable_cores
from stactools_glofnet.core.errors import GlofnetError

J = TypeVar("J")
R = TypeVar("R")
logger = logging.getLogger(__name__)

MESSAGE_LOG_LENGTH = 16
"""Messages each dask connection of this process keeps for debugging (Dask's default: 1000).

Every connection keeps its last messages, and a message that starts a job holds the job, so
with the default the local cluster's scheduler (which runs in the build's process) and the
client kept the last thousand jobs sent to each worker: about 200 MiB of ITS_LIVE pair jobs on
two workers. The setting also bounds the scheduler's event and transition logs.
"""


WORKER_ENVIRONMENT: Final = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
"""Dask settings for the workers of a local cluster: glibc's default memory allocation.

Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed memory goes back to
the system; setting it also turns off glibc's growing mmap threshold, so every array above
128 KiB is mapped afresh and its pages faulted in again. A build's jobs allocate and free such
arrays all the time: ITS_LIVE's pairs took 29 % longer on one worker with it, for the same
largest RSS (docs/benchmarks.md). The workers give back what they freed once each run of jobs
ends instead (:meth:`DistributedEngine.imap`).
"""


IN_PROCESS_SECONDS: Final = 15.0
"""A run of jobs on a local cluster not yet started computes its first jobs in this process until
they have taken this long; the cluster starts for the rest. Starting a cluster of two workers and
loading a job's modules in them takes about 5 s, so a rebuild that computes a little (one new
Sentinel-2 scene and the harmonized tiles it changes) is faster without one (docs/benchmarks.md);
a large build loses at most part of these seconds of parallel work, once.
``$GLOFNET_IN_PROCESS_SECONDS`` sets another (0: the cluster starts at the first job to compute)."""
IN_PROCESS_ENV: Final = "GLOFNET_IN_PROCESS_SECONDS"


def in_process_seconds() -> float:
    """How long a run's jobs compute in this process before a local cluster starts for the rest."""
    given = os.environ.get(IN_PROCESS_ENV)
    if given is None:
        return IN_PROCESS_SECONDS
    try:
        seconds = float(given)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise GlofnetError(IN_PROCESS_ENV, f"not a number of seconds >= 0: {given!r}")
    return seconds


_JOB_THREADS: ContextVar[int] = ContextVar("job_threads", default=1)


def job_threads() -> int:
    """The threads a job may use for its own work (GDAL compressing a COG's blocks): every usable
    core while this process computes a job with nothing else running, one elsewhere (a cluster's
    workers run a job per core)."""
    return _JOB_THREADS.get()


def _computed_alone(function: Callable[[J], R], job: J) -> R:
    """``function(job)`` in this process, with every core for the job's own threads."""
    token = _JOB_THREADS.set(usable_cores())
    try:
        return function(job)
    finally:
        _JOB_THREADS.reset(token)


BATCH_SECONDS: Final = 1.0
"""Work one cluster task is given: consecutive jobs until their mean time so far adds up to this.

Every task costs the build's process (which runs the local cluster's scheduler and its client)
a few milliseconds of its event loop whatever its size; sent one at a time, ITS_LIVE's pairs
(about 0.1 s each) kept that process busy on a third of a core, taken from the two workers
(docs/benchmarks.md). A job taking longer than this travels alone."""
MAX_BATCH: Final = 64
"""The most jobs one cluster task is given, however quick they are."""


def _run_batch(function: Callable[[J], R], pickled_jobs: bytes) -> tuple[list[R], float]:
    """``function`` over the jobs in order (one cluster task), and the seconds that took.

    The jobs come pickled: the scheduler, which unpickles every task it is sent (in the build's
    process, for a local cluster), then handles one string, not each job's objects.
    """
    start = time.perf_counter()
    results = [function(job) for job in pickle.loads(pickled_jobs)]
    return results, time.perf_counter() - start


class _BatchSize:
    """How many jobs the next cluster task takes: about :data:`BATCH_SECONDS` at the mean job
    time measured so far (one job until a time is known)."""

    def __init__(self, seconds_per_job: float | None = None) -> None:
        """Start from ``seconds_per_job`` when it is known (e.g. jobs computed in this process)."""
        self.jobs = 1 if seconds_per_job else 0
        self.seconds = seconds_per_job or 0.0

    def record(self, jobs: int, seconds: float) -> None:
        """``jobs`` were computed in ``seconds`` on a worker."""
        self.jobs += jobs
        self.seconds += seconds

    def next(self) -> int:
        """Jobs for the next task."""
        if not self.jobs or self.seconds <= 0:
            return 1
        return max(1, min(MAX_BATCH, int(BATCH_SECONDS * self.jobs / self.seconds)))


@dataclass(frozen=True)
class Ready(Generic[R]):
    """A job whose result is known already: an engine yields ``result`` in the job's place."""

    result: R


class Engine(Protocol):
    """Runs a function over jobs and returns the results in job order."""

    def map(self, function: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        """``[function(job) for job in jobs]``, possibly in parallel."""
        ...

    def imap(self, function: Callable[[J], R], jobs: Iterable[J | Ready[R]]) -> Iterator[R]:
        """``function(job)`` for each job (a :class:`Ready` job's result as it is), yielded in job
        order, a bounded number computed ahead."""
        ...

    def release(self) -> None:
        """No jobs come for the rest of the build: a local cluster's workers are closed now."""
        ...


class SerialEngine:
    """Runs every job in this process, one after another."""

    def map(self, function: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        """Run the jobs in order."""
        return [_computed_alone(function, job) for job in jobs]

    def imap(self, function: Callable[[J], R], jobs: Iterable[J | Ready[R]]) -> Iterator[R]:
        """Run the jobs in order, one at a time."""
        for job in jobs:
            yield job.result if isinstance(job, Ready) else _computed_alone(function, job)

    def release(self) -> None:
        """Nothing to close."""


class DistributedEngine:
    """Runs jobs on a dask.distributed cluster through a connected client."""

    def __init__(self, client: Any) -> None:
        """Use ``client`` (a ``distributed.Client``)."""
        self.client = client

    def map(self, function: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        """Submit every job, then gather the results in job order."""
        futures = self.client.map(function, list(jobs), pure=False)
        with _lost_workers_reported():
            results: list[R] = self.client.gather(futures)
        self._give_back_memory()
        return results

    def imap(
        self,
        function: Callable[[J], R],
        jobs: Iterable[J | Ready[R]],
        seconds_per_job: float | None = None,
    ) -> Iterator[R]:
        """Keep two tasks per worker thread in flight, each of one or more consecutive jobs (see
        :data:`BATCH_SECONDS`; ``seconds_per_job``: a first estimate of a job's time); yield each
        result in job order."""
        ahead = max(2, 2 * sum(self.client.nthreads().values()))
        size = _BatchSize(seconds_per_job)
        name = getattr(function, "__name__", "job")
        pending: deque[Any] = deque()
        batch: list[J] = []
        in_flight = 0

        def submit() -> None:
            nonlocal in_flight
            key = f"{name}-{uuid.uuid4().hex}"
            pickled = pickle.dumps(tuple(batch), protocol=pickle.HIGHEST_PROTOCOL)
            pending.append(self.client.submit(_run_batch, function, pickled, key=key))
            batch.clear()
            in_flight += 1

        try:
            for job in jobs:
                if isinstance(job, Ready):
                    if batch:
                        submit()
                    pending.append(job)
                else:
                    batch.append(job)
                    if len(batch) >= size.next():
                        submit()
                while pending and (in_flight >= ahead or isinstance(pending[0], Ready)):
                    if not isinstance(pending[0], Ready):
                        in_flight -= 1
                    yield from self._take(pending, size)
            if batch:
                submit()
            while pending:
                yield from self._take(pending, size)
        finally:
            for future in pending:
                if not isinstance(future, Ready):
                    future.cancel()
        self._give_back_memory()

    def _give_back_memory(self) -> None:
        """Have every worker return the memory its jobs freed to the system, and this process
        what it freed of their results (see :data:`WORKER_ENVIRONMENT`: glibc keeps it otherwise,
        and a worker idle between runs, or through the layout and validation, held the peak of
        every run before). A worker that cannot be reached (lost, being restarted) is passed
        over."""
        self.client.run(give_back_freed_memory, on_error="ignore")
        give_back_freed_memory()

    def release(self) -> None:
        """Nothing to close: the cluster's workers are not this build's."""

    @staticmethod
    def _take(pending: deque[Any], size: _BatchSize) -> list[Any]:
        """The results of the oldest pending task (or Ready job), waited for."""
        future = pending.popleft()
        if isinstance(future, Ready):
            return [future.result]
        with _lost_workers_reported():
            outcome: tuple[list[Any], float] = future.result()
        future.release()
        results, seconds = outcome
        size.record(len(results), seconds)
        return results


@contextmanager
def _lost_workers_reported() -> Iterator[None]:
    """Turn Dask giving up on a job (workers lost too often, the scheduler gone) into one line."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    try:
        yield
    except KilledWorker as error:
        task = error.args[0] if error.args else "a task"
        raise GlofnetError(
            "dask", f"workers were lost while running {task} (retried until Dask gave up)"
        ) from None
    except FutureCancelledError as error:
        raise GlofnetError("dask", f"a job was cancelled ({error}); was the scheduler stopped?") from None


def default_workers() -> int:
    """One worker per core this process may use; 0 (no cluster) on a single core."""
    cores = usable_cores()
    return cores if cores > 1 else 0


class LazyEngine:
    """A :class:`DistributedEngine` on a cluster started when there is work for it: a build that
    computes nothing (every result kept from the last one) starts none, and one that computes
    less than :data:`IN_PROCESS_SECONDS` of jobs computes them in this process."""

    def __init__(self, start: Callable[[], AbstractContextManager[Any]]) -> None:
        """``start()`` gives a ``distributed.Client`` of a new cluster as a context manager,
        entered when a job comes and left on :meth:`release`."""
        self._start = start
        self._cluster = ExitStack()
        self._engine: DistributedEngine | None = None

    def _started(self) -> DistributedEngine:
        if self._engine is None:
            self._engine = DistributedEngine(self._cluster.enter_context(self._start()))
        return self._engine

    def release(self) -> None:
        """Close the cluster if one started (a later job would start another): the workers'
        memory goes back before the layout and validation, which run in this process."""
        if self._engine is not None:
            logger.info("closing the local dask cluster: no more jobs")
        self._engine = None
        self._cluster.close()

    def map(self, function: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        """As :meth:`DistributedEngine.map`; no jobs, no cluster."""
        return self._started().map(function, jobs) if jobs else []

    def imap(self, function: Callable[[J], R], jobs: Iterable[J | Ready[R]]) -> Iterator[R]:
        """As :meth:`DistributedEngine.imap` once the cluster has started. Before, jobs are
        computed here until they have taken :data:`IN_PROCESS_SECONDS`; then the cluster starts
        for the rest."""
        iterator = iter(jobs)
        spent, computed, budget = 0.0, 0, in_process_seconds()
        for job in iterator:
            if isinstance(job, Ready):
                yield job.result
            elif self._engine is None and spent < budget:
                start = time.perf_counter()
                result = _computed_alone(function, job)
                spent += time.perf_counter() - start
                computed += 1
                yield result
            else:
                estimate = spent / computed if computed else None
                yield from self._started().imap(function, itertools.chain([job], iterator), estimate)
                return


@contextmanager
def open_engine(workers: int = 0, scheduler: str | None = None) -> Iterator[Engine]:
    """An engine for the block: an existing scheduler, a local cluster of ``workers``, or serial.

    A local cluster runs ``workers`` single-threaded worker processes bound to 127.0.0.1; it is
    started once jobs have taken :data:`IN_PROCESS_SECONDS` in this process (see
    :class:`LazyEngine`) and closed by :meth:`~Engine.release` or at the end of the block. The
    workers of an existing scheduler must see the build's files at the same paths (a shared
    filesystem): jobs pass paths, not data.
    """
    if scheduler is not None and workers > 0:
        raise GlofnetError(scheduler, "give either --workers (a local cluster) or --scheduler, not both")
    if scheduler is None and workers <= 0:
        yield SerialEngine()
        return
    import dask
    import distributed  # noqa: F401  its defaults join Dask's config before the settings below

    # (``dask.config.set`` removes on exit every section it had to create: without distributed's
    # defaults loaded first, that is all of them, and the next cluster in this process fails.)
    settings = {"distributed.admin.low-level-log-length": MESSAGE_LOG_LENGTH, **WORKER_ENVIRONMENT}
    with dask.config.set(settings):
        yield from _distributed_engine(workers, scheduler)


def _distributed_engine(workers: int, scheduler: str | None) -> Iterator[Engine]:
    """The engine of :func:`open_engine` on an existing scheduler or a new local cluster."""
    from distributed import Client

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s", set_as_default=False)  # type: ignore[no-untyped-call]
        except (OSError, ValueError) as error:
            raise GlofnetError(scheduler, f"cannot reach the dask scheduler ({error})") from None
        with client:
            logger.info("running on the dask scheduler at %s", scheduler)
            yield DistributedEngine(client)
        return
    engine = LazyEngine(lambda: _local_cluster(workers))
    try:
        yield engine
    finally:
        engine.release()


@contextmanager
def _local_cluster(workers: int) -> Iterator[Any]:
    """A client of a new local cluster of ``workers`` single-threaded processes on 127.0.0.1."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # No dashboard, and the scheduler's HTTP endpoints on a free port rather than 8787,
            # which another cluster (or build) may hold.
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            # Dask's own logs (e.g. a worker's heartbeat racing the shutdown) are not the user's
            # business: a build reports problems in one line of its own.
            silence_logs=logging.CRITICAL,
        ) as cluster,
        # Results come straight from the worker that made them, not relayed by the scheduler,
        # which runs in this process too (fewer copies of each result's bytes here).
        Client(cluster, set_as_default=False, direct_to_workers=True) as client,  # type: ignore[no-untyped-call]
    ):
        logger.info("running on a local dask cluster of %d workers", workers)
        yield client
