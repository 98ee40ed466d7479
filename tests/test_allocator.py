"""The build's process returns freed arrays to the system (core/allocator.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from stactools.cli.cli import cli

from stactools_glofnet import commands
from stactools_glofnet.core import allocator

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="the trim threshold is glibc's",
)

GROWTH = """
import sys
import numpy as np
import psutil
from stactools_glofnet.core.allocator import return_freed_memory

if sys.argv[1] == "set":
    assert return_freed_memory()
np.ones(1 << 18)  # a mapped 2 MiB block freed: glibc raises its mmap threshold to 2 MiB
before = psutil.Process().memory_info().rss
layers, kept = [], []
for _ in range(200):  # a pair's layer (~700 KB) received, then a small object that outlives it
    layers.append(np.ones(700_000 // 8))
    kept.append(bytearray(4096))
del layers
print((psutil.Process().memory_info().rss - before) >> 20)
"""


def _held_mib(mode: str) -> int:
    """MiB of RSS a fresh process still holds after 200 layers were allocated and freed."""
    env = {key: value for key, value in os.environ.items() if key != allocator.ENVIRONMENT}
    done = subprocess.run(
        [sys.executable, "-c", GROWTH, mode], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def test_freed_layers_go_back_to_the_system_only_with_the_threshold_set() -> None:
    assert _held_mib("default") > 100  # the growth the setting exists for: ~140 MB kept
    assert _held_mib("set") < 20


def test_a_threshold_the_user_set_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.ENVIRONMENT, "1048576")
    assert not allocator.return_freed_memory()


def test_every_glofnet_command_sets_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[str] = []

    def record() -> bool:
        calls.append("set")
        return True

    monkeypatch.setattr(commands, "return_freed_memory", record)
    result = CliRunner().invoke(cli, ["glofnet", "validate", str(tmp_path / "missing")])
    assert result.exit_code != 0 and calls == ["set"]
