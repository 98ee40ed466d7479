#!/usr/bin/env python3
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
    parser.add_argument(
        "--full",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also generate the full sample and time each modality's collection on it (~40 min)",
    )
    parser.add_argument(
        "--scratch", type=Path, default=None, help="where to write (the full sample is a few GB)"
    )
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=options.scratch) as scratch:
        work = Path(scratch)
        env = dict(os.environ, GLOFNET_CACHE_DIR=str(work / "cache"))
        glofnet = [STAC, "glofnet"]
        cases: list[tuple[str, list[str], Path | None, bool, int]] = [
            (
                "sample --size small",
                [*glofnet, "sample", str(work / "small")],
                work / "small",
                False,
                options.repeat,
            ),
            (
                "create-catalog, cold cache",
                [*glofnet, "create-catalog", str(work / "cat")],
                work / "cat",
                True,
                options.repeat,
            ),
            (
                "create-catalog, warm cache",
                [*glofnet, "create-catalog", str(work / "cat")],
                work / "cat",
                False,
                options.repeat,
            ),
            ("validate", [*glofnet, "validate", str(work / "cat")], None, False, options.repeat),
        ]
        if options.full:
            cases += [
                (
                    "sample --size full",
                    [*glofnet, "sample", str(work / "full"), "--size", "full"],
                    work / "full",
                    False,
                    1,
                ),
                (
                    "create-collection sentinel2, full sample",
                    [*glofnet, "create-collection", "sentinel2", str(work / "full"), str(work / "s2")],
                    work / "s2",
                    False,
                    1,
                ),
                (
                    "create-collection itslive, full sample",
                    [*glofnet, "create-collection", "itslive", str(work / "full"), str(work / "itslive")],
                    work / "itslive",
                    False,
                    1,
                ),
                (
                    "create-collection modis, full sample",
                    [*glofnet, "create-collection", "modis", str(work / "full"), str(work / "modis")],
                    work / "modis",
                    False,
                    1,
                ),
            ]
        for name, args, output, cold, repeat in cases:
            best = (float("inf"), 0.0)
            for _ in range(repeat):
                if cold:
                    shutil.rmtree(work / "cache", ignore_errors=True)
                seconds, mib = _run(args, env)
                best = min(best, (seconds, mib))
            size = f"{_size_kib(output) / 1024:.1f}" if output else "-"
            rate = ""
            if "sentinel2" in name:
                scenes = len(list((work / "full" / "sentinel2").glob("*/*.json")))
                rate = f"{scenes} scenes, {scenes / best[0]:.2f} scenes/s"
            elif "itslive" in name:
                granules = len(list((work / "full" / "itslive").glob("*.nc")))
                rate = f"{granules} granules, {granules / best[0]:.1f} granules/s"
            elif "modis" in name:
                days = len({p.name.split(".")[1] for p in (work / "full" / "modis").rglob("MOD11A1.*")})
                rate = f"{days} days, {days / best[0]:.1f} days/s"
            rows.append(f"| {name} | {best[0]:.2f} | {best[1]:.0f} | {size} | {rate} |")
            print(rows[-1], flush=True)
    header = [
        f"## {dt.date.today().isoformat()} — stactools-glofnet {version('stactools-glofnet')}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"pystac {version('pystac')}, stactools {version('stactools')}, rasterio {version('rasterio')}. "
        f"Best of {options.repeat} runs (full-sample cases: one run); each run is a fresh `stac` process.",
        "",
        "| case | seconds | peak RSS (MiB) | output (MiB) | throughput |",
        "|---|---|---|---|---|",
    ]
    section = "\n".join([*header, *rows, ""]) + "\n"
    if not options.no_record:
        path = ROOT / "docs" / "benchmarks.md"
        path.write_text(path.read_text() + section if path.exists() else section)
        print(f"recorded in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
