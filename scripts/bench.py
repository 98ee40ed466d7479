"""Benchmark driver for scripts/bench: runs each case in a fresh process, records time and memory."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAC = str(Path(sys.executable).parent / "stac")


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of this one child process (``wait4`` reports it alone)."""
    start = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} exited with {child.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def _size_kib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1024


def main() -> None:
    """Run every case and append a dated section to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is kept")
    parser.add_argument("--no-record", action="store_true", help="print only, do not edit docs/")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        env = dict(os.environ, GLOFNET_CACHE_DIR=str(work / "cache"))
        cases: list[tuple[str, list[str], Path | None, bool]] = [
            ("sample --size small", [STAC, "glofnet", "sample", str(work / "small")], work / "small", False),
            (
                "sample --size full",
                [STAC, "glofnet", "sample", str(work / "full"), "--size", "full"],
                work / "full",
                False,
            ),
            (
                "create-catalog, cold cache",
                [STAC, "glofnet", "create-catalog", str(work / "cat")],
                work / "cat",
                True,
            ),
            (
                "create-catalog, warm cache",
                [STAC, "glofnet", "create-catalog", str(work / "cat")],
                work / "cat",
                False,
            ),
            ("validate", [STAC, "glofnet", "validate", str(work / "cat")], None, False),
        ]
        for name, args, output, cold in cases:
            best = (float("inf"), 0.0)
            for _ in range(options.repeat):
                if cold:
                    shutil.rmtree(work / "cache", ignore_errors=True)
                seconds, mib = _run(args, env)
                best = min(best, (seconds, mib))
            size = f"{_size_kib(output):.0f}" if output else "-"
            rows.append(f"| {name} | {best[0]:.2f} | {best[1]:.0f} | {size} |")
            print(rows[-1], flush=True)
    header = [
        f"## {dt.date.today().isoformat()} — stactools-glofnet {version('stactools-glofnet')}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"pystac {version('pystac')}, stactools {version('stactools')}, rasterio {version('rasterio')}. "
        f"Best of {options.repeat} runs; each run is a fresh `stac` process.",
        "",
        "| case | seconds | peak RSS (MiB) | output (KiB) |",
        "|---|---|---|---|",
    ]
    section = "\n".join([*header, *rows, ""]) + "\n"
    if not options.no_record:
        path = ROOT / "docs" / "benchmarks.md"
        path.write_text(path.read_text() + section if path.exists() else section)
        print(f"recorded in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
