"""Shared fixtures: an isolated cache, ../shared (real data and schema mirror), a built catalog."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from stactools_glofnet.build import cached_sample
from stactools_glofnet.core.cache import entry_held
from stactools_glofnet.core.config import CatalogContent, load_content
from tests.processes import stop

REPO = Path(__file__).resolve().parents[1]
SHARED_ENV = "GLOFNET_SHARED_DIR"
REQUIRE_SHARED_ENV = "GLOFNET_REQUIRE_SHARED"


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary directory every test process of this session shares: pytest-xdist gives
    each of its processes a directory of its own below it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session gets its own sample and schema cache, and no ambient schema dir.

    The session's test processes share the cache, so the sample is generated once (by the first
    process that needs it; the others wait for it, as two builds on one machine do). Commands
    build in their own process (``GLOFNET_WORKERS=0``) unless a test says otherwise: a local
    cluster per command would cost seconds each; the engines are tested on their own.
    """
    cache = session_root(tmp_path_factory) / "cache"
    cache.mkdir(exist_ok=True)
    names = ("GLOFNET_CACHE_DIR", "GLOFNET_SCHEMA_DIR", "SOURCE_DATE_EPOCH", "GLOFNET_WORKERS")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["GLOFNET_CACHE_DIR"] = str(cache)
    os.environ["GLOFNET_WORKERS"] = "0"
    os.environ.pop("GLOFNET_SCHEMA_DIR", None)
    os.environ.pop("SOURCE_DATE_EPOCH", None)
    yield cache
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the repository; skipped where absent unless CI requires it."""
    path = Path(os.environ.get(SHARED_ENV) or REPO.parent / "shared")
    if not (path / "stac-schemas").is_dir():
        reason = f"{path} (real data and STAC schema mirror) is absent; set {SHARED_ENV}"
        if os.environ.get(REQUIRE_SHARED_ENV) == "1":
            pytest.fail(f"{REQUIRE_SHARED_ENV}=1 but {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def schema_dir(shared_dir: Path) -> Path:
    """The offline mirror of published STAC extension schemas."""
    return shared_dir / "stac-schemas"


@pytest.fixture(scope="session")
def content() -> CatalogContent:
    """The bundled catalog content."""
    return load_content()


@pytest.fixture(scope="session")
def small_sample(content: CatalogContent) -> Path:
    """The small sample with the default seed: the bundled sample the build without SOURCE
    generates into the session's cache (made once, by ``write_sample``; tests only read it)."""
    return cached_sample(content)


@pytest.fixture(scope="session")
def built_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalog built by ``create-catalog`` from the bundled sample (no SOURCE).

    Built and validated hermetically: no schema directory, the network blocked; only the schemas
    shipped in the package are there. Built once for the session's test processes: the first to
    need it builds it, the others wait for it (a catalog appears at DEST whole or not at all).
    Tests only read it, and copy it rather than hard-link it: a new link changes the ctime of the
    files, which publishing checks against the signature it planned with.
    """
    from stactools_glofnet.build import create_catalog

    assert "GLOFNET_SCHEMA_DIR" not in os.environ
    built = session_root(tmp_path_factory) / "built"
    dest = built / "catalog"
    with entry_held(built):
        if not (dest / "catalog.json").is_file():
            built.mkdir(exist_ok=True)
            create_catalog(dest)
    return dest


STANDALONE = ("sentinel2", "itslive", "modis", "harmonized", "events")


@dataclass
class DaskCluster:
    """A dask scheduler and its workers, each a separate process on 127.0.0.1."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """``dask scheduler`` and two single-threaded ``dask worker`` processes (with nannies), set up
    as the README advises: a Dask config file starts the workers without MALLOC_TRIM_THRESHOLD_."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    (folder / "config").mkdir()
    (folder / "config" / "glofnet.yaml").write_text(
        "distributed: {nanny: {pre-spawn-environ: {MALLOC_TRIM_THRESHOLD_: null}}}\n"
    )
    environment = {**os.environ, "DASK_CONFIG": str(folder / "config")}
    processes: list[subprocess.Popen[bytes]] = []
    with ExitStack() as logs:

        def start(module: str, name: str, *arguments: str) -> subprocess.Popen[bytes]:
            log = logs.enter_context((folder / f"{name}.log").open("wb"))
            command = [sys.executable, "-m", f"distributed.cli.{module}", *arguments, "--no-dashboard"]
            processes.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=environment)
            )
            return processes[-1]

        try:
            scheduler = start(
                "dask_scheduler",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(scheduler_file),
            )
            deadline = time.monotonic() + 60
            while not scheduler_file.exists():
                if time.monotonic() > deadline or scheduler.poll() is not None:
                    raise RuntimeError(f"the dask scheduler did not start (see {folder})")
                time.sleep(0.1)
            address = json.loads(scheduler_file.read_text())["address"]
            workers = [
                start(
                    "dask_worker",
                    f"worker-{n}",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--local-directory",
                    str(folder / f"worker-{n}"),
                )
                for n in range(2)
            ]
            with Client(address, timeout="30s") as client:  # type: ignore[no-untyped-call]
                client.wait_for_workers(2, timeout=60)
            yield DaskCluster(address, scheduler, workers)
        finally:
            # the workers first, all at once: a worker whose scheduler has gone waits seconds
            # for it before it exits
            workers_first = processes[1:] + processes[:1]
            for process in workers_first[:-1]:
                if process.poll() is None:
                    process.terminate()
            for process in workers_first:
                stop(process)


@pytest.fixture(scope="session")
def standalone(
    tmp_path_factory: pytest.TempPathFactory, small_sample: Path, dask_cluster: DaskCluster
) -> dict[str, Path]:
    """Each modality built alone by ``create-collection`` and then moved to another directory.

    Every modality runs on the dask cluster of separate processes (``--scheduler``), while the
    session catalog is built in one process: tests compare the two byte for byte. The harmonized
    build takes the three source collections it is made from out of the job results the builds
    before it kept (linked into its own store), so it does not compute them again.
    """
    from stactools_glofnet.build import BuildSettings, create_collection
    from stactools_glofnet.core.memo import JOBS
    from stactools_glofnet.core.output import memo_store

    built = tmp_path_factory.mktemp("standalone")
    moved = tmp_path_factory.mktemp("moved")
    paths = {}
    settings = BuildSettings(scheduler=dask_cluster.address)
    for modality in STANDALONE:
        if modality == "harmonized":
            for made in ("sentinel2", "itslive", "modis"):
                kept = memo_store(built / made) / JOBS
                shutil.copytree(
                    kept, memo_store(built / modality) / JOBS, dirs_exist_ok=True, copy_function=os.link
                )
        report = create_collection(modality, small_sample, built / modality, settings=settings)
        if modality == "harmonized":
            assert "reused from the last build: sentinel2, itslive, modis taken whole" in report.summary
        paths[modality] = Path(shutil.move(built / modality, moved / modality))
    return paths


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 from a separate process; yield its base URL.

    A separate process, because GDAL holds the GIL while it opens a remote file, so a server
    thread in the test's own process could never answer it. The server binds a port the kernel
    chooses (port 0) and names it in its first line, so no other process can take it first.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(directory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://...) ..."
        found = re.search(r" port (\d+) ", first)
        if found is None:
            raise RuntimeError(f"the test HTTP server did not start: {first!r}")
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-expectations`` rewrites tests/expected/ from the current build."""
    parser.addoption(
        "--update-expectations",
        action="store_true",
        help="rewrite the expected STAC JSON in tests/expected/ instead of comparing with it",
    )


CLUSTER_FIXTURES = frozenset({"dask_cluster", "standalone"})
MOST_TEST_PROCESSES = 4
"""pytest-xdist runs the tests in one process per core, at most this many (each process's builds
reach about 1.5 GiB at their peak)."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one test process per core this session may use, at most MOST_TEST_PROCESSES."""
    from stactools_glofnet.core.cores import usable_cores

    return min(usable_cores(), MOST_TEST_PROCESSES)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for pytest-xdist (``--dist loadgroup``), and order the groups.

    A module's tests run in one process, so its module fixtures are made once, and every test on
    the session's dask cluster runs in one process, so the cluster and the builds on it are made
    once. The groups go out in this order (``--no-loadscope-reorder``): the cluster's, the
    longest, first; then the groups that do not read the session's built catalog, so the other
    processes have work while the first builds it; then those that read it; by size within each.
    First among the hooks: pytest-xdist's own hook turns the groups into node ids, and a group
    given after it is lost."""
    group_of: dict[str, str] = {}
    reads_catalog: set[str] = set()
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        group = "dask-cluster" if CLUSTER_FIXTURES & fixtures else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
        group_of[item.nodeid] = group
        if "built_catalog" in fixtures:
            reads_catalog.add(group)
    size = Counter(group_of.values())

    def rank(item: pytest.Item) -> tuple[bool, bool, int]:
        group = group_of[item.nodeid]
        return group != "dask-cluster", group in reads_catalog, -size[group]

    items.sort(key=rank)  # stable: a group's tests keep their order
