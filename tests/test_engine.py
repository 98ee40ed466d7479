"""Where a build runs: a worker lost mid-build (the default local cluster: test_build.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DaskCluster


def _is_scene_job(key: object) -> bool:
    """A scene job's task: ``_scene_job`` itself, or the memo's ``_run`` wrapping it in a build."""
    return str(key).startswith(("_scene_job", "_run-"))


def test_a_worker_killed_mid_build_is_survived_with_the_same_output(
    dask_cluster: DaskCluster, small_sample: Path, built_catalog: Path, tmp_path: Path
) -> None:
    from distributed import Client

    dest = tmp_path / "sentinel2"
    command = [sys.executable, "-m", "stactools_glofnet", "create-collection", "sentinel2"]
    build = subprocess.Popen(
        [*command, str(small_sample), str(dest), "--scheduler", dask_cluster.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    killed = None
    with Client(dask_cluster.address, timeout="20s") as client:  # type: ignore[no-untyped-call]
        pids: dict[str, int] = client.run(os.getpid)
        deadline = time.monotonic() + 120
        while killed is None and build.poll() is None and time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items() if any(_is_scene_job(k) for k in keys)]
            if busy:
                killed = pids[busy[0]]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        _, err = build.communicate(timeout=600)
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker for later tests
    assert killed is not None, "no scene job was seen running"
    if build.returncode != 0:  # reported in one line, DEST untouched
        assert len(err.decode().strip().splitlines()) == 1, err.decode()
        assert not dest.exists()
        return
    serial = built_catalog / "glofnet-sentinel2"
    files = [p for p in dest.rglob("*.tif")] + [dest / "lake_area.parquet"]
    assert len(files) > 20
    for path in files:
        relative = path.relative_to(dest)
        assert path.read_bytes() == (serial / relative).read_bytes(), relative


class _Job:
    """A job whose copies in this process can be counted (the local cluster's scheduler runs here)."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.payload = list(range(1000))


def _number(job: _Job) -> int:
    return job.number


def test_the_local_cluster_does_not_keep_the_jobs_it_sent() -> None:
    import gc

    from stactools_glofnet.core.engine import MESSAGE_LOG_LENGTH, open_engine

    jobs = 200
    with open_engine(workers=1) as engine:
        assert list(engine.imap(_number, (_Job(n) for n in range(jobs)))) == list(range(jobs))
        gc.collect()
        kept = sum(isinstance(thing, _Job) for thing in gc.get_objects())
    # Dask's default log of recent messages would keep the last 1000 here: every one of them
    assert kept <= 2 * MESSAGE_LOG_LENGTH, kept


def _allocation_settings(_: int) -> dict[str, str | None]:
    import os

    return {name: os.environ.get(name) for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


def test_the_local_cluster_s_workers_allocate_memory_with_glibc_s_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dask would start them with MALLOC_TRIM_THRESHOLD_ set, which makes every large array a
    fresh mapping (about 30 % slower ITS_LIVE pairs); its other settings stay."""
    from stactools_glofnet.core.engine import open_engine

    for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS"):  # restored after, set or not
        monkeypatch.setenv(name, "recorded")
        monkeypatch.delenv(name)
    with open_engine(workers=2) as engine:
        seen = engine.map(_allocation_settings, [1, 2])
    assert seen == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}] * 2


def test_workers_started_as_the_readme_says_allocate_with_glibc_s_defaults(
    dask_cluster: DaskCluster,
) -> None:
    """The session's cluster of separate processes is started with the README's Dask config."""
    from stactools_glofnet.core.engine import open_engine

    with open_engine(scheduler=dask_cluster.address) as engine:
        seen = engine.map(_allocation_settings, [1, 2, 3, 4])
    assert {settings["MALLOC_TRIM_THRESHOLD_"] for settings in seen} == {None}


def _resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


KEPT: list[bytearray] = []
"""Small blocks a job leaves behind in its worker, between the large ones it freed."""


def _fragment_the_heap(megabytes: int) -> float:
    """Allocate ``megabytes`` in blocks below glibc's mmap threshold, each followed by a small block
    that stays, free the large ones (glibc keeps them: they are not at the heap's top), and
    return this process's RSS then."""
    blocks = []
    for _ in range(megabytes * 10):
        blocks.append(bytearray(100 * 1024))
        KEPT.append(bytearray(1024))
    del blocks
    return _resident_mib()


def _resident_mib_of_worker(_: int) -> float:
    return _resident_mib()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim, /proc")
def test_workers_give_back_the_memory_a_run_of_jobs_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker does not keep the peak of a run it has finished through the runs and stages after."""
    from stactools_glofnet.core.engine import open_engine

    monkeypatch.setenv("GLOFNET_IN_PROCESS_SECONDS", "0")
    with open_engine(workers=1) as engine:
        for run in (engine.map, lambda f, jobs: list(engine.imap(f, jobs))):
            [freed] = run(_fragment_the_heap, [300])
            [after] = run(_resident_mib_of_worker, [0])
            assert after < freed - 200, (freed, after)


def test_a_released_local_cluster_is_closed_and_a_later_job_starts_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stactools_glofnet.core.engine import open_engine

    monkeypatch.setenv("GLOFNET_IN_PROCESS_SECONDS", "0")
    with open_engine(workers=1) as engine:
        [(_, first)] = list(engine.imap(_with_process, [2]))
        engine.release()
        _wait_until_gone(first)
        [(_, second)] = list(engine.imap(_with_process, [2]))
        assert second not in (first, os.getpid())
    _wait_until_gone(second)


def _wait_until_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), f"worker {pid} still runs"


def _with_process(number: int) -> tuple[int, int]:
    time.sleep(0.2 if number == 1 else 0.01)
    return number, os.getpid()


def _job_threads(_: int) -> int:
    from stactools_glofnet.core.engine import job_threads

    return job_threads()


def test_ready_results_keep_their_place_and_little_work_starts_no_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Jobs are computed in the build's process until they have taken IN_PROCESS_SECONDS (or
    $GLOFNET_IN_PROCESS_SECONDS); then a local cluster starts for the rest. Ready results are
    yielded in their place throughout. A job computed here may use every core; one on a worker,
    one thread."""
    from stactools_glofnet.core.cores import usable_cores
    from stactools_glofnet.core.engine import Ready, open_engine

    here = os.getpid()
    alone = usable_cores()
    jobs: list[int | Ready[tuple[int, int]]] = [Ready((0, 0)), 1, Ready((2, 0)), 3, 4, Ready((5, 0)), 6]
    with open_engine(workers=2) as engine:
        assert list(engine.imap(_job_threads, [0])) == [alone]  # here, alone: every core for GDAL
        assert list(engine.imap(_with_process, jobs)) == [
            (0, 0),
            (1, here),
            (2, 0),
            (3, here),
            (4, here),
            (5, 0),
            (6, here),
        ]  # 0.23 s of work: all of it here
        monkeypatch.setenv("GLOFNET_IN_PROCESS_SECONDS", "0.1")
        results = list(engine.imap(_with_process, jobs))
        later = list(engine.imap(_with_process, [7]))  # the cluster, once started, takes all
        assert list(engine.imap(_job_threads, [0, 1])) == [1, 1]  # a job per worker, one thread
    assert [number for number, _ in results] == [0, 1, 2, 3, 4, 5, 6]
    assert results[1] == (1, here)  # 0.2 s here, beyond the budget: the others on the cluster
    workers = {results[n][1] for n in (3, 4, 6)} | {later[0][1]}
    assert here not in workers and 0 not in workers


def _numbered_task(number: int) -> tuple[int, str]:
    """The job's number and the key of the cluster task it ran in."""
    from distributed import get_worker

    time.sleep(0.005)
    return number, str(get_worker().get_current_task())


@pytest.mark.parametrize("batch_seconds", [1.0, 0.001])
def test_quick_jobs_share_cluster_tasks_of_about_batch_seconds_in_job_order(
    batch_seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs of a few milliseconds travel together, a task's worth of BATCH_SECONDS at the time
    measured so far; a Ready result keeps its place between them; tasks are named after the job's
    function. Jobs longer than BATCH_SECONDS travel alone."""
    from stactools_glofnet.core import engine as engine_module
    from stactools_glofnet.core.engine import Ready, open_engine

    monkeypatch.setenv("GLOFNET_IN_PROCESS_SECONDS", "0")
    monkeypatch.setattr(engine_module, "BATCH_SECONDS", batch_seconds)
    jobs: list[int | Ready[tuple[int, str]]] = [Ready((50, "kept")) if n == 50 else n for n in range(120)]
    with open_engine(workers=1) as engine:
        results = list(engine.imap(_numbered_task, jobs))
    assert [number for number, _ in results] == list(range(120))
    assert results[50] == (50, "kept")
    keys = [key for number, key in results if number != 50]
    assert all(key.startswith("_numbered_task-") for key in keys)
    if batch_seconds == 1.0:  # 5 ms jobs: up to MAX_BATCH (64) a task once a time is known
        assert len(set(keys)) <= 8, len(set(keys))
    else:
        assert len(set(keys)) == len(keys)


def test_one_process_can_start_local_clusters_one_after_another() -> None:
    """A library user building twice in one fresh process (distributed not yet imported) gets
    a working second cluster: Dask's config keeps distributed's defaults after the first."""
    script = (
        "import os\n"
        "os.environ['GLOFNET_IN_PROCESS_SECONDS'] = '0'\n"
        "from stactools_glofnet.core.engine import open_engine\n"
        "for _ in range(2):\n"
        "    with open_engine(workers=1) as engine:\n"
        "        assert list(engine.imap(abs, [-1, -2])) == [1, 2]\n"
        "print('both')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "both", done.stderr[-2000:]


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_in_process_budget_is_one_line_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stactools_glofnet.core.engine import in_process_seconds
    from stactools_glofnet.core.errors import GlofnetError

    monkeypatch.setenv("GLOFNET_IN_PROCESS_SECONDS", value)
    with pytest.raises(GlofnetError) as raised:
        in_process_seconds()
    assert str(raised.value) == f"GLOFNET_IN_PROCESS_SECONDS: not a number of seconds >= 0: {value!r}"
