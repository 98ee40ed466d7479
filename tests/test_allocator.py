"""The build's process gives freed arrays back to the system without slowing its jobs
(core/allocator.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stactools_glofnet.core.allocator import ARROW_POOL_VARIABLE

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="malloc_trim and the mmap threshold are glibc's",
)

GROWTH = """
import sys
import numpy as np
import psutil
from stactools_glofnet.core.allocator import give_back_freed_memory

np.ones(1 << 18)  # a mapped 2 MiB block freed: glibc raises its mmap threshold to 2 MiB
before = psutil.Process().memory_info().rss
layers, kept = [], []
for _ in range(200):  # a pair's layer (~700 KB) received, then a small object that outlives it
    layers.append(np.ones(700_000 // 8))
    kept.append(bytearray(4096))
del layers
if sys.argv[1] == "trim":
    assert give_back_freed_memory()
print((psutil.Process().memory_info().rss - before) >> 20)
"""

STAGE = """
import numpy as np
import psutil
from stactools_glofnet.build import stage

np.ones(1 << 18)
before = psutil.Process().memory_info().rss
kept = []
with stage("pairs"):  # a stage's arrays freed before it ends, small objects outliving them
    layers = []
    for _ in range(200):
        layers.append(np.ones(700_000 // 8))
        kept.append(bytearray(4096))
    del layers
print((psutil.Process().memory_info().rss - before) >> 20)
"""

FAULTS = """
import resource
import numpy as np
from click.testing import CliRunner
from stactools.cli.cli import cli

CliRunner().invoke(cli, ["glofnet", "validate", "/nonexistent/glofnet"])  # the CLI's set-up ran
np.ones(1 << 18)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):  # a job's 2 MiB arrays, allocated and freed one after another
    np.ones(1 << 18).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


MAPPED = """
import ctypes
import sys
import numpy as np
from click.testing import CliRunner
from stactools.cli.cli import cli

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
    )]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] != "-":
    result = CliRunner().invoke(cli, ["glofnet", "create-collection", "events", sys.argv[1], sys.argv[2]])
    assert result.exit_code == 0, result.output
np.ones(1 << 18)  # a mapped 2 MiB block freed: a moving threshold rises past 2 MiB
before = libc.mallinfo2().hblkhd
large = np.ones(1 << 18)  # 2 MiB
between = libc.mallinfo2().hblkhd
small = np.ones(1 << 16)  # 512 KiB
print(between - before >> 10, libc.mallinfo2().hblkhd - between >> 10)
"""

ARROW = """
import sys
import psutil
from click.testing import CliRunner
from stactools.cli.cli import cli
from stactools_glofnet.core.allocator import give_back_freed_memory, map_large_blocks

if sys.argv[1] == "command":
    CliRunner().invoke(cli, ["glofnet", "validate", "/nonexistent/glofnet"])  # the group's set-up ran
map_large_blocks()  # as a build does
import numpy as np
import pandas as pd  # imports pyarrow
import pyarrow as pa
import pyarrow.parquet as pq

before = psutil.Process().memory_info().rss
for step in range(5):  # tables written and read back, as the series and item indexes are
    frame = pd.DataFrame({"day": np.arange(300_000) + step, "id": [f"pair-{n}" for n in range(300_000)]})
    frame.to_parquet(sys.argv[2])
    pq.read_table(sys.argv[2]).to_pandas()
del frame
give_back_freed_memory()
system = pa.default_memory_pool().backend_name == "system"
print(int(system), (psutil.Process().memory_info().rss - before) >> 20)
"""


def _output(script: str, *args: str) -> list[int]:
    """The integers on the last line ``script`` prints, run in a new process with glibc's and
    Arrow's defaults (an earlier glofnet command in this process may have set Arrow's)."""
    unset = ("MALLOC_TRIM_THRESHOLD_", ARROW_POOL_VARIABLE)
    env = {key: value for key, value in os.environ.items() if key not in unset}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, check=True
    )
    return [int(word) for word in done.stdout.strip().splitlines()[-1].split()]


def _run(script: str, *args: str) -> int:
    (value,) = _output(script, *args)
    return value


def test_freed_layers_go_back_to_the_system_when_trimmed() -> None:
    assert _run(GROWTH, "default") > 100  # the growth trimming exists for: ~140 MB kept
    assert _run(GROWTH, "trim") < 20


def test_a_build_stage_gives_back_what_it_freed_when_it_ends() -> None:
    """The same layers freed inside one of the build's stages: its end gives them back."""
    assert _run(STAGE) < 20


def test_a_glofnet_command_leaves_glibc_s_mmap_threshold_growing() -> None:
    """The CLI's set-up leaves glibc's allocation as it is: freed 2 MiB arrays are reused, where
    with the trim threshold set (every array mapped afresh) the same loop takes 512 page faults per
    array. (A build then maps its blocks of 1 MiB or more: the test below.)"""
    assert _run(FAULTS) < 100 * 512 // 8


def test_a_build_s_process_maps_large_blocks_and_keeps_smaller_ones_in_the_heap(
    small_sample: Path, tmp_path: Path
) -> None:
    """After a build, a 2 MiB array is mapped afresh even though one was just freed, and a 512 KiB
    one comes from the heap; glibc's moving threshold (no build) takes both from the heap."""
    large, small = _output(MAPPED, str(small_sample), str(tmp_path / "events"))
    assert 2048 <= large < 2048 + 64 and small == 0  # KiB mapped (a page for glibc's header)
    assert _output(MAPPED, "-") == [0, 0]


def test_a_glofnet_command_s_arrow_buffers_go_back_to_the_system_when_freed(tmp_path: Path) -> None:
    """Arrow's own allocator keeps the pages of freed buffers (here about 115 MiB after five
    Parquet round trips of 300,000 rows); in a process that ran a glofnet command Arrow allocates
    through glibc, and they go back (core/allocator.py)."""
    table = str(tmp_path / "table.parquet")
    system, kept = _output(ARROW, "plain", table)
    assert not system and kept > 60
    system, kept = _output(ARROW, "command", table)
    assert system and kept < 40
