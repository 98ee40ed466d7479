"""What the benchmark scripts share: where things are and how one case runs in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAC = str(Path(sys.executable).parent / "stac")


def run_case(args: list[str], env: dict[str, str], output: Path | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of this one child process
    (``wait4`` reports it alone).

    With ``output``, the child's stdout and stderr are written there instead of discarded.
    """
    start = time.perf_counter()
    with output.open("w") if output else open(os.devnull, "w") as sink:
        child = subprocess.Popen(args, env=env, stdout=sink, stderr=sink if output else None)
        _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} exited with {child.returncode}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def size_kib(path: Path) -> float:
    """Bytes of every file under ``path``, in KiB."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1024


def sample_size(fraction: float) -> list[str]:
    """``stac glofnet sample`` options of the GLOFNet-size sample at ``fraction``; none (the small
    sample) when ``fraction`` is 0."""
    return ["--size", "glofnet", "--fraction", str(fraction)] if fraction > 0 else []
