#!/usr/bin/env python3
"""The bench's Sentinel-2 case: ours per scene against the per-file tools and the GDAL floor.

``scripts/bench --tools`` runs it; the cases that need rasterio or the package run in fresh
processes of this module (:data:`CHILDREN`).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_process import STAC, run_case, sample_size

BENCH = [sys.executable, str(Path(__file__).resolve())]
"""This module in a fresh process (for the :data:`CHILDREN`)."""


TOOLS_CASES = (
    "ours, one process",
    "ours, local cluster",
    "ours, per-scene part",
    "per-file tools",
    "GDAL floor",
)
COG_OPTIONS: dict[str, Any] = {
    "driver": "COG",
    "compress": "DEFLATE",
    "blocksize": 256,
    "overview_resampling": "NEAREST",
    "num_threads": "ALL_CPUS",
}
"""The floor's creation options: ours (core/raster.py), except NUM_THREADS (ours: 1 per worker);
PREDICTOR is YES for integers and FLOATING_POINT for floats, as ours."""


def _kept_scenes(sample: Path, reference: Path, limit: int) -> list[str]:
    """Ids of the scenes the reference build made items of (first ``limit`` by id; 0: all)."""
    kept = sorted(p.parent.name for p in reference.glob("*/*.json") if p.stem == p.parent.name)
    kept = [name for name in kept if (sample / "sentinel2" / name / f"{name}.json").is_file()]
    return kept[:limit] if limit else kept


def _scene_plan(source: Path, reference: Path, scene_id: str) -> dict[str, Any]:
    """What one scene's COGs are made from: source bands, target grid, radiometry, output files.

    Read (untimed) from the source item and from the reference build's item, so the per-file tools
    and the floor write the files ours publishes, on the grid ours uses, under the same names.
    """
    import rasterio

    from stactools_glofnet.sentinel2.bands import BANDS, SCL_KEY
    from stactools_glofnet.sentinel2.read import read_scene

    scene = read_scene(source / "sentinel2" / scene_id / f"{scene_id}.json")
    item = json.loads((reference / scene_id / f"{scene_id}.json").read_text())
    properties = item["properties"]
    inputs = []
    for key in [band.key for band in BANDS] + [SCL_KEY]:
        asset = scene.asset(key)
        with rasterio.open(asset.href) as dataset:
            resolution = abs(dataset.transform.a)
            nodata = dataset.nodata if dataset.nodata is not None else asset.nodata
        resampling = "nearest" if key == SCL_KEY or resolution == 10 else properties["glofnet:resampling"]
        if isinstance(resampling, dict):
            resampling = resampling["reflectance_20m"]
        inputs.append(
            {
                "key": key,
                "href": asset.href,
                "resolution": resolution,
                "nodata": nodata,
                "resampling": resampling,
            }
        )
    height, width = properties["proj:shape"]
    outputs = {
        key: Path(asset["href"]).name
        for key, asset in item["assets"].items()
        if asset.get("type", "").startswith("image/tiff")
    }
    return {
        "id": scene_id,
        "datetime": properties["datetime"],
        "crs": properties["proj:code"],
        "transform": properties["proj:transform"][:6],
        "width": width,
        "height": height,
        "scale": properties["glofnet:radiometry"]["scale"],
        "offset": properties["glofnet:radiometry"]["offset"],
        "masked_classes": properties["glofnet:masked_classes"],
        "inputs": inputs,
        "outputs": outputs,
        "overviews": {name: _overview_count(reference / scene_id / name) for name in outputs.values()},
    }


def _overview_count(path: Path) -> int:
    """How many overview levels a COG has."""
    import rasterio

    with rasterio.open(path) as dataset:
        return len(dataset.overviews(1))


def _tools_script(plans: list[dict[str, Any]], dest: Path) -> str:
    """The shell script a user would write: per band ``rio clip`` (10 m) or ``rio warp`` (20 m onto
    the 10 m grid), ``rio cogeo create`` with our profile, then one ``rio stac`` per scene."""
    rio = shlex.quote(str(Path(sys.executable).parent / "rio"))
    lines = ["set -euo pipefail"]
    for plan in plans:
        t = plan["transform"]
        left, top = t[2], t[5]
        bounds = f"{left} {top + t[4] * plan['height']} {left + t[0] * plan['width']} {top}"
        out = dest / plan["id"]
        lines.append(f"mkdir -p {shlex.quote(str(out))}")
        for band in plan["inputs"]:
            name = plan["outputs"][band["key"]]
            target, temporary = shlex.quote(str(out / name)), shlex.quote(str(out / f"tmp-{name}"))
            source = shlex.quote(band["href"])
            if band["resolution"] == t[0]:
                lines.append(f"{rio} clip {source} {temporary} --bounds '{bounds}' --overwrite")
            else:
                lines.append(
                    f"{rio} warp {source} {temporary} --res {t[0]} --bounds {bounds} "
                    f"--resampling {band['resampling']} --overwrite"
                )
            levels = plan["overviews"][name]
            lines.append(
                f"{rio} cogeo create {temporary} {target} --cog-profile deflate --co PREDICTOR=2 "
                f"--blocksize 256 --overview-level {levels} --overview-resampling nearest "
                "--use-cog-driver --quiet"
            )
            lines.append(f"rm {temporary}")
        first = shlex.quote(str(out / plan["outputs"][plan["inputs"][0]["key"]]))
        item = shlex.quote(str(out / f"{plan['id']}.json"))
        lines.append(
            f"{rio} stac {first} --datetime {plan['datetime']} --id {plan['id']} "
            f"--collection glofnet-sentinel2 --asset-name {plan['inputs'][0]['key']} --output {item}"
        )
    return "\n".join(lines) + "\n"


def _floor_read(source: dict[str, Any], plan: dict[str, Any]) -> Any:
    """One source band on the scene's grid, through a warped view (GDAL's warper), as ours reads it."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with (
        rasterio.open(source["href"]) as dataset,
        WarpedVRT(
            dataset,
            crs=plan["crs"],
            transform=Affine(*plan["transform"]),
            width=plan["width"],
            height=plan["height"],
            resampling=Resampling[source["resampling"]],
            src_nodata=source["nodata"],
            nodata=source["nodata"],
        ) as view,
    ):
        return view.read(1)


def _floor_write(path: Path, data: Any, plan: dict[str, Any], nodata: float | None) -> None:
    """One single-band COG through GDAL's COG driver with :data:`COG_OPTIONS`."""
    import rasterio
    from affine import Affine

    predictor = "FLOATING_POINT" if data.dtype.kind == "f" else "YES"
    profile = {
        **COG_OPTIONS,
        "predictor": predictor,
        "dtype": data.dtype.name,
        "count": 1,
        "width": plan["width"],
        "height": plan["height"],
        "crs": plan["crs"],
        "transform": Affine(*plan["transform"]),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data, 1)


def _floor_scene(plan: dict[str, Any], dest: Path) -> None:
    """Write one scene's COGs with the least work that gives ours' pixels: read each band on the
    grid, DN to reflectance, SCL mask, reflectance back to the published DN, the two indices."""
    import numpy as np

    out = dest / plan["id"]
    out.mkdir(parents=True, exist_ok=True)
    reads = {source["key"]: (_floor_read(source, plan), source["nodata"]) for source in plan["inputs"]}
    scl = reads.pop("scl")[0].astype(np.uint8)
    masked = np.isin(scl, plan["masked_classes"])
    reflectance = {}
    for key, (dn, nodata) in reads.items():
        values = dn.astype(np.float64) * plan["scale"] + plan["offset"]
        if nodata is not None:
            values[dn == nodata] = np.nan
        reflectance[key] = values.astype(np.float32)
        masked |= np.isnan(reflectance[key])
    names = plan["outputs"]
    for key, values in reflectance.items():
        values[masked] = np.nan
        published = np.round((values.astype(np.float64) + 0.1) / 0.0001)  # scale 0.0001, offset -0.1
        published = np.clip(np.nan_to_num(published, nan=0.0), 0, 65535)
        published[~np.isnan(values) & (published < 1)] = 1
        _floor_write(out / names[key], published.astype(np.uint16), plan, 0)
    _floor_write(out / names["scl"], scl, plan, 0)
    _floor_write(out / names["cloud_mask"], masked.astype(np.uint8), plan, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        for key, other in (("ndwi", "nir"), ("mndwi", "swir16")):
            a, b = reflectance["green"], reflectance[other]
            _floor_write(out / names[key], ((a - b) / (a + b)).astype(np.float32), plan, float("nan"))


def _plans_child(args: list[str]) -> None:
    """``bench_tools.py _plans SOURCE REFERENCE PLANS SCENE...``: write the scenes' plans to PLANS."""
    source, reference, plans = Path(args[0]), Path(args[1]), Path(args[2])
    plans.write_text(json.dumps([_scene_plan(source, reference, scene_id) for scene_id in args[3:]]))


def _floor_child(args: list[str]) -> None:
    """``bench_tools.py _floor PLANS DEST``: the floor, every scene's COGs, one scene per core."""
    from concurrent.futures import ThreadPoolExecutor

    plans, dest = json.loads(Path(args[0]).read_text()), Path(args[1])
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(lambda plan: _floor_scene(plan, dest), plans))
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))


def _per_scene_child(args: list[str]) -> None:
    """``bench_tools.py _per_scene SOURCE DEST``: ours without the collection, the Sentinel-2 wing's
    ``create_item`` on each scene in turn, in this process; only the loop is timed."""
    from stactools_glofnet.core.config import load_content
    from stactools_glofnet.core.wing import BuildOptions
    from stactools_glofnet.sentinel2 import create_item
    from stactools_glofnet.sentinel2.collection import scene_paths

    source, dest = Path(args[0]), Path(args[1])
    options = BuildOptions(content=load_content())
    paths = scene_paths(source / "sentinel2")
    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        create_item(path, dest / path.parent.name, options)
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))


def _profile(path: Path) -> tuple[Any, ...]:
    """What must match between two COGs besides their pixels: grid, type, nodata, tiling, structure."""
    import rasterio

    with rasterio.open(path) as dataset:
        tags = dataset.tags(ns="IMAGE_STRUCTURE")
        return (
            dataset.crs,
            dataset.transform,
            dataset.shape,
            dataset.dtypes,
            str(dataset.nodata),
            dataset.block_shapes,
            tags.get("COMPRESSION"),
            tags.get("PREDICTOR"),
            tags.get("LAYOUT"),
            dataset.overviews(1),
        )


def _same_pixels(a: Path, b: Path) -> bool:
    """Whether two rasters hold the same values (NaN equal to NaN)."""
    import numpy as np
    import rasterio

    with rasterio.open(a) as first, rasterio.open(b) as second:
        one, two = first.read(1), second.read(1)
    return one.shape == two.shape and bool(np.array_equal(one, two, equal_nan=one.dtype.kind == "f"))


def _compare(plans: list[dict[str, Any]], reference: Path, made: Path) -> dict[str, Any]:
    """COGs ``made`` wrote, how many of them match ours in profile, in pixels and byte for byte,
    and the asset keys of those whose pixels match."""
    counts = {"files": 0, "profile": 0, "pixels": 0, "bytes": 0}
    keys: set[str] = set()
    for plan in plans:
        for key, name in plan["outputs"].items():
            ours, theirs = reference / plan["id"] / name, made / plan["id"] / name
            if not theirs.is_file():
                continue
            counts["files"] += 1
            counts["profile"] += _profile(ours) == _profile(theirs)
            if _same_pixels(ours, theirs):
                counts["pixels"] += 1
                keys.add(key)
            counts["bytes"] += ours.read_bytes() == theirs.read_bytes()
    return {**counts, "keys": sorted(keys)}


def _compare_child(args: list[str]) -> None:
    """``bench_tools.py _compare PLANS REFERENCE NAME=DIR...``: print each DIR's :func:`_compare` counts."""
    plans, reference = json.loads(Path(args[0]).read_text()), Path(args[1])
    named = dict(arg.split("=", 1) for arg in args[2:])
    print(json.dumps({name: _compare(plans, reference, Path(made)) for name, made in named.items()}))


CHILDREN: dict[str, Callable[[list[str]], None]] = {
    "_plans": _plans_child,
    "_floor": _floor_child,
    "_per_scene": _per_scene_child,
    "_compare": _compare_child,
}
"""What the tools case runs in fresh processes (``bench.py NAME ARGS...``): the driver itself
imports neither rasterio nor the package, so its RSS does not leak into the children's peaks
(Linux counts a child's memory before ``exec`` — a copy of its parent's — in its peak RSS)."""


def _last_json(path: Path) -> dict[str, Any]:
    """The JSON line a child case printed last."""
    line = [text for text in path.read_text().splitlines() if text.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    return result


def _sample_name(fraction: float) -> str:
    """The tools case's sample as the section names it."""
    return f"the GLOFNet-size sample at fraction {fraction:g}" if fraction > 0 else "the small sample"


def _tools_inputs(
    work: Path, env: dict[str, str], limit: int, fraction: float
) -> tuple[Path, Path, list[dict[str, Any]]]:
    """The tools case's SOURCE (the sample's scenes ours keeps, or the first ``limit``), the
    reference build of ours they are compared with, and each scene's plan (in ``work/plans.json``).
    All untimed."""
    sample, reference, source = work / "tools-sample", work / "tools-reference", work / "tools-source"
    run_case([STAC, "glofnet", "sample", str(sample), *sample_size(fraction)], env)
    run_case(
        [STAC, "glofnet", "create-collection", "sentinel2", str(sample), str(reference), "--workers", "0"],
        env,
    )
    scenes = _kept_scenes(sample, reference, limit)
    for scene_id in scenes:
        shutil.copytree(sample / "sentinel2" / scene_id, source / "sentinel2" / scene_id)
    plans = work / "plans.json"
    run_case(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "_plans",
            str(source),
            str(reference),
            str(plans),
            *scenes,
        ],
        env,
    )
    return source, reference, json.loads(plans.read_text())


def _tools_commands(work: Path, source: Path, plans: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each tools case's command line; every case writes under ``work/tools-runs/<n>/``."""
    runs = work / "tools-runs"
    script = work / "per-file-tools.sh"
    script.write_text(_tools_script(plans, runs / "3" / "dest"))
    plan = work / "plans.json"
    collection = [STAC, "glofnet", "create-collection", "sentinel2", str(source)]
    return {
        TOOLS_CASES[0]: [*collection, str(runs / "0" / "dest"), "--workers", "0"],
        TOOLS_CASES[1]: [*collection, str(runs / "1" / "dest")],
        TOOLS_CASES[2]: [*BENCH, "_per_scene", str(source), str(runs / "2" / "dest")],
        TOOLS_CASES[3]: ["bash", str(script)],
        TOOLS_CASES[4]: [*BENCH, "_floor", str(plan), str(runs / "4" / "dest")],
    }


def tools_rows(work: Path, env: dict[str, str], repeat: int, limit: int, fraction: float = 0.0) -> list[str]:
    """Time ours against the per-file tools and the GDAL floor on the same Sentinel-2 scenes.

    The five cases run interleaved (one of each per round, ``repeat`` rounds, each a fresh process
    writing into a new directory) so background load hits them alike; the best round is kept.
    """
    source, reference, plans = _tools_inputs(work, env, limit, fraction)
    commands = _tools_commands(work, source, plans)
    env = {key: value for key, value in env.items() if key != "GLOFNET_WORKERS"}
    best: dict[str, tuple[float, float, float]] = {}
    load = [os.getloadavg()[0]]
    for _ in range(repeat):
        for index, case in enumerate(TOOLS_CASES):
            shutil.rmtree(work / "tools-runs" / str(index), ignore_errors=True)
            (work / "tools-runs" / str(index)).mkdir(parents=True)
            log = work / "tools-runs" / f"{index}.log"
            seconds, mib, cpu = run_case(commands[case], env, output=log)
            if case == TOOLS_CASES[2]:  # the child reports its loop alone, imports excluded
                reported = _last_json(log)
                seconds, cpu = reported["seconds"], reported["cpu"]
            elif case == TOOLS_CASES[4]:
                floor_loop = _last_json(log)["seconds"]
            if seconds < best.get(case, (float("inf"), 0.0, 0.0))[0]:
                best[case] = (seconds, cpu, mib)
                if case == TOOLS_CASES[4]:
                    best["floor loop"] = (floor_loop, 0.0, 0.0)
        load.append(os.getloadavg()[0])
    runs, log = work / "tools-runs", work / "tools-runs" / "compare.log"
    made = [
        f"{name}={runs / str(index) / 'dest'}" for name, index in (("floor", 4), ("tools", 3), ("ours", 0))
    ]
    run_case(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "_compare",
            str(work / "plans.json"),
            str(reference),
            *made,
        ],
        env,
        output=log,
    )
    return _tools_section(plans, best, load, repeat, _last_json(log), _sample_name(fraction))


def _verdict(ratio: float, target: float, at_least: bool) -> str:
    """``met`` or ``NOT met`` for a ratio against its target."""
    return "met" if (ratio >= target if at_least else ratio <= target) else "NOT met"


def _tools_section(
    plans: list[dict[str, Any]],
    best: dict[str, tuple[float, float, float]],
    load: list[float],
    repeat: int,
    checks: dict[str, dict[str, Any]],
    sample: str,
) -> list[str]:
    """The Markdown section of the tools case: what ran, the table, the pixel checks, the targets."""
    count, cores = len(plans), os.cpu_count()
    shapes = sorted({f"{plan['width']}x{plan['height']}" for plan in plans})
    ours = best[TOOLS_CASES[1]][0]
    rows = [
        "### Sentinel-2 per scene: ours, the per-file tools and the GDAL floor",
        "",
        f"The {count} scenes of {sample} that ours keeps (copied into a SOURCE of their own; "
        f"{', '.join(shapes)} px on the 10 m grid; 6 bands + SCL each, 10 COGs per item). Each case a "
        f"fresh process tree writing into a new directory, the five interleaved ({repeat} rounds, "
        f"best kept); CPU is user + system of the process and every child it waited for, peak RSS "
        f"the largest of them; 1-minute load average {', '.join(f'{v:.1f}' for v in load)} at the "
        "start and after each round.",
        "",
        "- *ours, one process*: `stac glofnet create-collection sentinel2 SOURCE DEST --workers 0`; "
        f"*ours, local cluster*: the same without `--workers` ({cores} workers, the default). Both "
        "include the `stac` start-up, the collection-level work (patch store, lake-area table and "
        "figure, collection thumbnail, layout) and the validation of every document and COG.",
        "- *ours, per-scene part*: the Sentinel-2 wing's `create_item` on each scene in turn in one "
        "fresh Python process (read, resample, radiometric check, mask, indices, 10 COGs, thumbnail, "
        "item with statistics and checksums); only that loop is timed (seconds and CPU), imports "
        "and configuration excluded; no patches, no validation.",
        "- *per-file tools*: one bash script, each CLI a separate process as a user's script runs "
        "it: per band and SCL, `rio clip SRC TMP --bounds 'L B R T'` (10 m) or `rio warp SRC TMP --res "
        "10 --bounds L B R T --resampling bilinear|nearest` (20 m onto the 10 m grid), then `rio cogeo "
        "create TMP OUT --cog-profile deflate --co PREDICTOR=2 --blocksize 256 --overview-level N "
        "--overview-resampling nearest --use-cog-driver` (N: ours' overview count); then one `rio "
        "stac` per scene (one asset). 7 COGs per scene: the tools cannot make ours' DN rescaling "
        "(every provider form and baseline onto one scale and offset), cloud masking, cloud mask, "
        "NDWI, MNDWI, thumbnail or item metadata, so they are left out — in the tools' favour.",
        "- *GDAL floor*: one Python process, one scene per thread on a pool of "
        f"{cores}; per band a `WarpedVRT` read onto the grid (as ours), the DN → reflectance → "
        "published-DN arithmetic and SCL mask in numpy, and GDAL's COG driver writing all 10 COGs "
        "(`COMPRESS=DEFLATE, PREDICTOR=YES` (`FLOATING_POINT` for floats), `BLOCKSIZE=256, "
        "OVERVIEW_RESAMPLING=NEAREST, NUM_THREADS=ALL_CPUS`); no thumbnail, no JSON. The grid, "
        "radiometry and masked classes are taken as given from ours' items (no radiometric check).",
        "",
        "| case | seconds | seconds per scene | CPU s | peak RSS (MiB) | ratio to ours |",
        "|---|---|---|---|---|---|",
    ]
    for case in TOOLS_CASES:
        seconds, cpu, mib = best[case]
        rows.append(
            f"| {case} | {seconds:.2f} | {seconds / count:.3f} | {cpu:.2f} | {mib:.0f} "
            f"| {seconds / ours:.2f} |"
        )
        print(rows[-1], flush=True)
    per_scene, tools, floor = (best[case][0] for case in TOOLS_CASES[2:])
    rows += ["", "Ratio to ours: to *ours, local cluster* (the default command).", ""]
    floor_loop = best["floor loop"][0]
    rows.append(_checks_text(checks, floor_loop, floor))
    one = best[TOOLS_CASES[0]][0]
    rows += [
        "",
        "Targets (issue 14), judged on the default command (local cluster): per scene ≥ 5x faster "
        "than the per-file tools — tools / ours = "
        f"{tools / ours:.2f} (local cluster), {tools / one:.2f} (one process): "
        f"{_verdict(tools / ours, 5, at_least=True)}. The whole Sentinel-2 stage within 1.3x "
        f"of the GDAL floor on all cores — ours / floor = {ours / floor:.2f} (local cluster), "
        f"{one / floor:.2f} (one process): {_verdict(ours / floor, 1.3, at_least=False)}; "
        f"the per-scene part alone (imports excluded) is {per_scene / floor_loop:.1f}x the floor's "
        "loop (imports excluded).",
    ]
    print("\n".join(rows[-3:]), flush=True)
    return rows


def _checks_text(checks: dict[str, dict[str, Any]], floor_loop: float, floor: float) -> str:
    """What the outputs were checked against ours' (the reference build of the same scenes)."""
    f, t, o = checks["floor"], checks["tools"], checks["ours"]
    matching = ", ".join(t["keys"]) or "none"
    return (
        f"Checked against a reference build of ours: the floor's {f['files']} COGs have ours' profile "
        f"(grid, type, nodata, tiles, compression, predictor, overviews) in {f['profile']}, ours' "
        f"pixels (numpy `array_equal`, NaN = NaN) in {f['pixels']}, ours' bytes in {f['bytes']}; the "
        f"floor's process spent {floor - floor_loop:.2f} s of its {floor:.2f} s starting (imports). "
        f"The tools' {t['files']} COGs have ours' profile in {t['profile']} and ours' pixels in "
        f"{t['pixels']} (assets: {matching}): the bands hold the source DN resampled, not ours' DN of "
        "one reflectance scale and offset with clouds masked. *ours, one process* wrote "
        f"{o['bytes']} of its {o['files']} COGs byte-identical to the reference."
    )


if __name__ == "__main__":
    CHILDREN[sys.argv[1]](sys.argv[2:])
