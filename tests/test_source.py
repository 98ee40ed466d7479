"""A SOURCE that is a sample: its manifest is checked against its files and not kept; a SOURCE
that cannot hold inputs is told before the build's libraries load."""

from __future__ import annotations

import gc
import hashlib
import json
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

import stactools_glofnet
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.sample.names import (
    MANIFEST_FORMAT,
    MANIFEST_FORMAT_VERSION,
    MANIFEST_NAME,
    TRUTH_NAME,
)
from stactools_glofnet.source import open_source

FILES = 4000
MIB = 1 << 20
PACKAGE_FILES = str(Path(stactools_glofnet.__file__).parent / "*")


def _sample_source(root: Path) -> bytes:
    """A sample SOURCE of ``FILES`` small files listed in its manifest; returns the manifest."""
    entries = []
    for number in range(FILES):
        relative = f"modis/{number // 500}/tile-day-{number:05d}.tif"
        content = f"file {number}".encode()
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        entries.append({"path": relative, "size": len(content), "sha256": digest})
    manifest = {"format": MANIFEST_FORMAT, "format_version": MANIFEST_FORMAT_VERSION, "files": entries}
    text = json.dumps(manifest).encode()
    (root / MANIFEST_NAME).write_bytes(text)
    (root / TRUTH_NAME).write_text(json.dumps({"timeline": {}}))
    return text


def _held_mib(make: Callable[[], object]) -> float:
    """Python memory that what ``make`` returns holds: the blocks allocated under ``make`` (this
    file or the package in the four innermost frames of their traceback, so not another
    thread's) still alive while it is kept. ``make`` runs once before, so what a first call
    imports or caches is not counted."""
    make()
    gc.collect()
    tracemalloc.start(4)
    try:
        kept = make()
        gc.collect()
        ours = [tracemalloc.Filter(True, where, all_frames=True) for where in (__file__, PACKAGE_FILES)]
        held = sum(trace.size for trace in tracemalloc.take_snapshot().filter_traces(ours).traces)
        del kept  # alive until measured
        return held / MIB
    finally:
        tracemalloc.stop()


def test_a_sample_s_manifest_is_checked_and_not_kept(tmp_path: Path) -> None:
    """The build keeps what ``open_source`` returns to its end: not the list of every file."""
    root = tmp_path / "source"
    text = _sample_source(root)
    manifest_mib = _held_mib(lambda: json.loads(text))
    assert manifest_mib > 1.0  # what keeping the manifest would hold
    assert _held_mib(lambda: open_source(root)) < 0.05 * manifest_mib

    victim = root / "modis" / "3" / "tile-day-01700.tif"
    victim.write_bytes(b"file 1799")  # the same size, other bytes
    with pytest.raises(GlofnetError, match="does not match its SHA-256") as raised:
        open_source(root)
    assert raised.value.path == str(victim)


_COMMAND_AND_MODULES = textwrap.dedent(
    """
    import json, sys
    from click.testing import CliRunner
    from stactools.cli.cli import cli
    result = CliRunner().invoke(cli, ["glofnet", *sys.argv[1:]])
    heavy = ("stactools_glofnet.build", "stactools_glofnet.sample.framework", "dask", "xarray", "zarr")
    print(json.dumps([result.exit_code, result.output, [m for m in heavy if m in sys.modules]]))
    """
)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda root: None, "SOURCE does not exist"),
        (lambda root: root.write_text("a file"), "SOURCE is not a directory"),
        (lambda root: root.mkdir(), "SOURCE is empty"),
        (lambda root: (root / "notes").mkdir(parents=True), "holds no GLOFNet inputs"),
    ],
    ids=["missing", "a file", "empty", "no inputs"],
)
@pytest.mark.parametrize("command", ["create-catalog", "create-collection"])
def test_a_source_that_cannot_hold_inputs_is_one_line_before_the_build_loads(
    tmp_path: Path, make: Callable[[Path], object], problem: str, command: str
) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    make(source)
    args = (
        [command, str(source), str(dest)]
        if command == "create-catalog"
        else [command, "modis", str(source), str(dest)]
    )
    run = subprocess.run(
        [sys.executable, "-c", _COMMAND_AND_MODULES, *args], capture_output=True, text=True, check=True
    )
    code, output, loaded = json.loads(run.stdout)
    assert code == 1 and output.startswith(f"Error: {source}: {problem}") and output.count("\n") == 1
    assert loaded == []  # told from the directory's entries alone
    assert not dest.exists()
