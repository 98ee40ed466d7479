"""The build's process gives freed arrays back to the system without slowing its jobs
(core/allocator.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


def _run(script: str, *args: str) -> int:
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_TRIM_THRESHOLD_"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_freed_layers_go_back_to_the_system_when_trimmed() -> None:
    assert _run(GROWTH, "default") > 100  # the growth trimming exists for: ~140 MB kept
    assert _run(GROWTH, "trim") < 20


def test_a_glofnet_command_leaves_glibc_s_mmap_threshold_growing() -> None:
    """Jobs computed in the build's process reuse their freed arrays' memory: with the trim
    threshold set (every array mapped afresh) the same loop takes 512 page faults per array."""
    assert _run(FAULTS) < 100 * 512 // 8
