"""``stac glofnet acquire sentinel2`` against real servers on 127.0.0.1.

The providers are played by a real STAC API (``stac glofnet serve`` over items in the Earth
Search v1 and Planetary Computer forms) whose asset hrefs point at a range-capable HTTP server
(tests/rangeserver.py) serving full-scene COGs: the synthetic sample's scenes embedded in
rasters several times larger than the AOI, so that fetching AOI windows only is measurable.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import requests
from affine import Affine
from click.testing import CliRunner, Result
from stactools.cli.cli import cli

from stactools_glofnet.acquire.hrefs import public_href, scrub
from stactools_glofnet.acquire.retry import delays, with_retries
from stactools_glofnet.acquire.store import PART_MARK
from stactools_glofnet.acquire.window import aoi_window
from stactools_glofnet.core.config import bundled_content_dir, load_content
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import read_json, sha256_file, write_json
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.raster import write_cog
from stactools_glofnet.sample.framework import write_sample
from stactools_glofnet.sentinel2.sample import generate
from tests.processes import seconds_to_start
from tests.rangeserver import RangeServer
from tests.s3server import free_ports
from tests.stacapi import stac_api, stac_command, write_api_catalog

# The AOI of these tests: the lake neighbourhood inside the small sample's extent, so that the
# "full scenes" served (CANVAS_10M pixels of 10 m a side) are many times the AOI window.
AOI = (74.557, 36.348, 74.588, 36.364)
CANVAS_10M = 1536
OFFSET_10M = (520, 530)  # where the sample's scene sits in the canvas (even: the 20 m grid aligns)
SAS = "st=2026-12-01T00%3A00%3A00Z&se=2026-12-02T00%3A00%3A00Z&sp=rl&sv=2024-05-04&sr=c&sig=SECRETSIG%3D"
START, END = "2019-01-01", "2022-12-31"


@dataclass
class Providers:
    """The servers and what they serve."""

    server: RangeServer
    earth_search: str
    planetary_computer: str
    disk: Path
    """The same scenes as a SOURCE on disk (full-scene COGs, local hrefs)."""
    content_dir: Path
    clear: list[str]
    cloudy: str
    pc: str

    def env(self) -> dict[str, str | None]:
        return {"GLOFNET_CONTENT_DIR": str(self.content_dir)}

    def files(self, scene: str) -> list[str]:
        return sorted(p.name for p in (self.disk / "sentinel2" / scene).glob("*.tif"))

    def size(self, scene: str, name: str) -> int:
        return (self.disk / "sentinel2" / scene / name).stat().st_size


def run(providers: Providers, *args: str) -> Result:
    result = CliRunner(env=providers.env()).invoke(cli, ["glofnet", *args])
    print(result.output)
    return result


def acquire(providers: Providers, source: Path, api: str, *extra: str) -> Result:
    return run(
        providers, "acquire", "sentinel2", str(source), "--api", api, "--start", START, "--end", END, *extra
    )


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _self(document: dict[str, Any]) -> str:
    return str(next(link["href"] for link in document["links"] if link["rel"] == "self"))


def _content_dir(dest: Path) -> Path:
    shutil.copytree(bundled_content_dir(), dest)
    geometry = dest / "geometry.toml"
    text = geometry.read_text(encoding="utf-8")
    old = "bbox = [74.45, 36.27, 74.72, 36.50]"
    assert old in text
    geometry.write_text(text.replace(old, f"bbox = [{', '.join(map(str, AOI))}]"), encoding="utf-8")
    return dest


def _embed(path: Path, dest: Path, rng: np.random.Generator) -> Grid:
    """``path``'s raster inside a larger canvas of plausible values, on the same pixel lattice."""
    with rasterio.open(path) as source:
        data, transform, crs, nodata = source.read(1), source.transform, source.crs, source.nodata
    factor = round(transform.a / 10)
    size, (col, row) = CANVAS_10M // factor, (OFFSET_10M[0] // factor, OFFSET_10M[1] // factor)
    if data.dtype == np.uint8:
        canvas = rng.choice(np.array([4, 5, 11], dtype=np.uint8), (size, size))
    else:
        canvas = rng.integers(800, 1600, (size, size)).astype(data.dtype)
    canvas[row : row + data.shape[0], col : col + data.shape[1]] = data
    grid = Grid(crs, transform @ Affine.translation(-col, -row), size, size)
    write_cog(dest, canvas, grid, nodata=nodata)
    return grid


def _scenes(sample: Path) -> tuple[list[str], str, str]:
    """Two clear Earth Search v1 scenes (before and after baseline 04.00), an overcast one, and a
    Planetary Computer scene at baseline 04.00 (ESA's DN with the +1000 offset)."""
    scenes = read_json(sample / "truth.json")["sentinel2"]["scenes"]
    v1 = [s for s in scenes if s["provider_form"] == "earthsearch-v1" and not s["mis_flagged"]]
    clear = [
        next(s["id"] for s in v1 if s["target_cloud_fraction"] == 0 and s["processing_baseline"] < "04.00"),
        next(s["id"] for s in v1 if s["target_cloud_fraction"] == 0 and s["processing_baseline"] >= "04.00"),
    ]
    cloudy = next(s["id"] for s in v1 if s["target_cloud_fraction"] >= 1)
    pc = next(
        s["id"]
        for s in scenes
        if s["provider_form"] == "planetary-computer" and s["processing_baseline"] >= "04.00"
    )
    return clear, cloudy, pc


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Providers]:
    root = tmp_path_factory.mktemp("providers")
    sample = root / "sample"
    write_sample(sample, load_content(), {"sentinel2": generate})
    clear, cloudy, pc = _scenes(sample)
    disk = root / "disk"
    (port,) = free_ports(1)
    server = RangeServer(disk / "sentinel2", port)
    rng = np.random.default_rng(15)
    es_items: list[dict[str, Any]] = []
    pc_items: list[dict[str, Any]] = []
    for scene in [*clear, cloudy, pc]:
        folder = disk / "sentinel2" / scene
        folder.mkdir(parents=True)
        document = read_json(sample / "sentinel2" / scene / f"{scene}.json")
        served = json.loads(json.dumps(document))
        for key, asset in document["assets"].items():
            name = asset["href"].removeprefix("./")
            grid = _embed(sample / "sentinel2" / scene / name, folder / name, rng)
            for form in (asset, served["assets"][key]):
                form["proj:shape"] = [grid.height, grid.width]
                form["proj:transform"] = list(grid.transform)[:6]
            query = f"?{SAS}" if scene == pc else ""
            served["assets"][key]["href"] = f"{server.url}{scene}/{name}{query}"
        write_json(folder / f"{scene}.json", document)
        (pc_items if scene == pc else es_items).append(served)
    write_api_catalog(root / "earth-search", "sentinel-2-l2a", es_items)
    write_api_catalog(root / "planetary-computer", "sentinel-2-l2a", pc_items)
    with ExitStack() as stack:
        server.start()
        stack.callback(server.stop)
        earth_search = stack.enter_context(stac_api(str(root / "earth-search")))
        planetary_computer = stack.enter_context(stac_api(str(root / "planetary-computer")))
        yield Providers(
            server, earth_search, planetary_computer, disk, _content_dir(root / "content"), clear, cloudy, pc
        )


@dataclass
class Acquired:
    """A SOURCE acquired from both APIs, and the bytes the HTTP server sent for it."""

    source: Path
    sent: dict[str, int]
    output: str


@pytest.fixture(scope="module")
def acquired(providers: Providers, tmp_path_factory: pytest.TempPathFactory) -> Acquired:
    source = tmp_path_factory.mktemp("acquired") / "source"
    providers.server.reset()
    first = acquire(providers, source, providers.earth_search)
    second = acquire(providers, source, providers.planetary_computer)
    assert first.exit_code == 0 and second.exit_code == 0
    return Acquired(source, dict(providers.server.sent), first.output + second.output)


def test_scenes_are_fetched_as_aoi_windows_only(providers: Providers, acquired: Acquired) -> None:
    kept = [*providers.clear, providers.pc]
    for scene in kept:
        folder = acquired.source / "sentinel2" / scene
        assert sorted(p.name for p in folder.glob("*.tif")) == providers.files(scene)
        assert (folder / f"{scene}.json").is_file()
        for name in providers.files(scene):
            served = acquired.sent[f"{scene}/{name}"]
            whole = providers.size(scene, name)
            local = (folder / name).stat().st_size
            # The header (GDAL reads 16 KiB at open) and the internal tiles under the AOI window.
            assert served < whole / 3, (scene, name, served, whole)
            assert served < 4 * local + 64 * 1024, (scene, name, served, local)
    total_served = sum(acquired.sent.values())
    total_files = sum(providers.size(s, n) for s in kept for n in providers.files(s))
    assert total_served < total_files / 5
    # Every local file is the AOI window: same dtype, nodata and CRS, the window's transform.
    for scene in kept:
        for name in providers.files(scene):
            with (
                rasterio.open(providers.disk / "sentinel2" / scene / name) as whole_file,
                rasterio.open(acquired.source / "sentinel2" / scene / name) as window_file,
            ):
                assert window_file.dtypes == whole_file.dtypes
                assert window_file.nodata == whole_file.nodata
                assert window_file.crs == whole_file.crs
                window = aoi_window(whole_file, AOI)
                assert window is not None
                assert window_file.transform == whole_file.window_transform(window)
                assert np.array_equal(window_file.read(1), whole_file.read(1, window=window))


def test_a_scene_cloudier_than_max_cloud_costs_only_its_scl_window(
    providers: Providers, acquired: Acquired
) -> None:
    cloudy = providers.cloudy
    fetched = {path for path in acquired.sent if path.startswith(f"{cloudy}/")}
    scl = next(name for name in providers.files(cloudy) if "SCL" in name)
    assert fetched == {f"{cloudy}/{scl}"}
    assert acquired.sent[f"{cloudy}/{scl}"] < providers.size(cloudy, scl) / 3
    assert not (acquired.source / "sentinel2" / cloudy).exists()
    manifest = read_json(acquired.source / "sentinel2" / "acquire-manifest.json")
    assert manifest["scenes"][cloudy]["status"] == "too_cloudy"
    assert manifest["scenes"][cloudy]["aoi_cloud_fraction"] == 1.0
    assert "1 too cloudy over the AOI" in acquired.output


def test_acquired_items_keep_the_provider_item_and_no_credentials(
    providers: Providers, acquired: Acquired
) -> None:
    for scene in [*providers.clear, providers.pc]:
        local = read_json(acquired.source / "sentinel2" / scene / f"{scene}.json")
        original = read_json(providers.disk / "sentinel2" / scene / f"{scene}.json")
        api = providers.planetary_computer if scene == providers.pc else providers.earth_search
        served = requests.get(f"{api}/collections/sentinel-2-l2a/items/{scene}", timeout=10).json()
        assert local["properties"] == served["properties"]
        # The API (stac-fastapi-static) writes datetimes in its own form; the rest is as published.
        moment = {k: v for k, v in original["properties"].items() if k != "datetime"}
        assert {k: v for k, v in local["properties"].items() if k != "datetime"} == moment
        assert _instant(local["properties"]["datetime"]) == _instant(original["properties"]["datetime"])
        assert local["collection"] == original["collection"] == "sentinel-2-l2a"
        assert set(local["assets"]) == set(original["assets"])
        (link,) = local["links"]
        assert link["rel"] == "derived_from"
        assert link["href"] == _self(served)
        assert link["href"].startswith(api)
        for key, asset in local["assets"].items():
            name = original["assets"][key]["href"].removeprefix("./")
            assert asset["href"] == f"./{name}"
            assert asset["alternate"]["provider"]["href"] == f"{providers.server.url}{scene}/{name}"
            with rasterio.open(acquired.source / "sentinel2" / scene / name) as window_file:
                assert asset["proj:shape"] == [window_file.height, window_file.width]
                assert asset["proj:transform"] == list(window_file.transform)[:6]
    manifest = read_json(acquired.source / "sentinel2" / "acquire-manifest.json")
    for relative, record in manifest["files"].items():
        path = acquired.source / "sentinel2" / relative
        assert record["bytes"] == path.stat().st_size
        assert record["sha256"] == sha256_file(path)
        assert record["href"].startswith(providers.server.url) or record["asset"] == "item"
    for path in acquired.source.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"SECRETSIG" not in data and (path.suffix != ".json" or b"sig=" not in data), path
    assert "SECRETSIG" not in acquired.output


def test_the_catalog_built_from_the_acquired_source_equals_the_one_from_disk(
    providers: Providers, acquired: Acquired, tmp_path: Path
) -> None:
    built = {}
    for name, source in (("disk", providers.disk), ("acquired", acquired.source)):
        dest = tmp_path / name
        result = run(providers, "create-collection", "sentinel2", str(source), str(dest))
        assert result.exit_code == 0
        built[name] = dest
    data = {
        name: {
            p.relative_to(dest).as_posix(): p.read_bytes()
            for p in sorted(dest.rglob("*"))
            if p.is_file() and p.suffix in (".tif", ".png")
        }
        for name, dest in built.items()
    }
    assert data["acquired"].keys() == data["disk"].keys()
    assert len([p for p in data["disk"] if p.endswith(".tif")]) >= 3 * 7
    different = [path for path in data["disk"] if data["disk"][path] != data["acquired"][path]]
    assert different == []
    items = {
        name: {
            item.id: item for item in pystac.Collection.from_file(str(dest / "collection.json")).get_items()
        }
        for name, dest in built.items()
    }
    assert sorted(items["acquired"]) == sorted(items["disk"]) == sorted([*providers.clear, providers.pc])
    manifest = read_json(acquired.source / "sentinel2" / "acquire-manifest.json")
    for scene, item in items["acquired"].items():
        api = providers.planetary_computer if scene == providers.pc else providers.earth_search
        served = requests.get(f"{api}/collections/sentinel-2-l2a/items/{scene}", timeout=10).json()
        assert [link.href for link in item.get_links("derived_from")] == [_self(served)]
        expected = items["disk"][scene].properties
        for key in ("glofnet:cloud_fraction", "glofnet:radiometry", "glofnet:lake_area_km2"):
            assert item.properties[key] == expected[key]
        assert manifest["scenes"][scene]["aoi_cloud_fraction"] == pytest.approx(
            item.properties["glofnet:cloud_fraction"], abs=1e-6
        )


def test_a_rerun_fetches_nothing_and_since_last_searches_after_the_newest(
    providers: Providers, acquired: Acquired
) -> None:
    manifest_path = acquired.source / "sentinel2" / "acquire-manifest.json"
    before = manifest_path.read_bytes()
    providers.server.reset()
    again = acquire(providers, acquired.source, providers.earth_search)
    assert again.exit_code == 0
    assert dict(providers.server.sent) == {}
    assert "0 acquired" in again.output and "2 already complete" in again.output
    since = acquire(providers, acquired.source, providers.earth_search, "--since-last")
    assert since.exit_code == 0
    assert dict(providers.server.sent) == {}
    newest = max(record["datetime"] for record in read_json(manifest_path)["scenes"].values())
    assert f"for {newest[:10]}..{END}" in since.output
    assert manifest_path.read_bytes() == before


def test_dry_run_lists_what_would_be_fetched_and_writes_nothing(providers: Providers, tmp_path: Path) -> None:
    source = tmp_path / "source"
    providers.server.reset()
    result = acquire(providers, source, providers.earth_search, "--dry-run")
    assert result.exit_code == 0
    assert not source.exists()
    assert dict(providers.server.sent) == {}
    planned = [line for line in result.output.splitlines() if line.startswith("would fetch")]
    assert [line.split()[2] for line in planned] == sorted(
        [*providers.clear, providers.cloudy], key=lambda s: s.split("_")[2]
    )
    assert all("scl, blue, green, red, nir, swir16, swir22" in line for line in planned)


def test_an_outage_mid_download_then_a_rerun_completes_without_duplicates(
    providers: Providers, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    server = providers.server
    server.reset()
    server.go_down_after(12)
    try:
        started = time.monotonic()
        failed = acquire(providers, source, providers.earth_search, "--retries", "2")
        assert failed.exit_code == 1
        assert time.monotonic() - started < 20
        (line,) = failed.output.strip().splitlines()
        assert line.startswith(f"Error: {server.url}") and "unreadable after 2 attempts" in line
    finally:
        server.start()
    root = source / "sentinel2"
    first = read_json(root / "acquire-manifest.json")["files"]
    assert first and not any(name.endswith(".json") for name in first)  # no scene got complete
    server.reset()
    again = acquire(providers, source, providers.earth_search, "--retries", "2")
    assert again.exit_code == 0
    assert not set(server.sent) & set(first), "a file complete before the outage was fetched again"
    manifest = read_json(root / "acquire-manifest.json")
    for scene in providers.clear:
        names = sorted(p.name for p in (root / scene).iterdir())
        assert names == sorted([*providers.files(scene), f"{scene}.json"])
    assert not list(root.rglob(f"*{PART_MARK}*"))
    for relative, record in manifest["files"].items():
        assert sha256_file(root / relative) == record["sha256"]
    # A file damaged afterwards is no longer complete: only it is fetched again.
    damaged = f"{providers.clear[0]}/{providers.files(providers.clear[0])[0]}"
    (root / damaged).write_bytes(b"not a COG")
    server.reset()
    repaired = acquire(providers, source, providers.earth_search)
    assert repaired.exit_code == 0
    assert set(server.sent) == {damaged}
    assert sha256_file(root / damaged) == manifest["files"][damaged]["sha256"]


def test_retries_with_backoff_ride_out_a_short_outage(providers: Providers, tmp_path: Path) -> None:
    server = providers.server
    server.reset()
    server.go_down_after(5, back_after=0.8)
    result = acquire(providers, tmp_path / "source", providers.planetary_computer, "--retries", "4")
    assert result.exit_code == 0
    assert "1 acquired (8 files" in result.output


@pytest.mark.parametrize("modality", ["sentinel2", "itslive"])
def test_no_server_fails_within_seconds_in_one_line(modality: str, tmp_path: Path) -> None:
    """A real ``stac`` process (modis and sentinel2 share the search: see the ``all`` test)."""
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    start_up = seconds_to_start("stactools_glofnet.acquire")
    started = time.monotonic()
    completed = subprocess.run(
        [stac_command(), "glofnet", "acquire", modality, str(tmp_path / "source"), "--api", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert time.monotonic() - started < start_up + 10  # no retries after the start-up
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        f"Error: {url}: no STAC API here: cannot connect (no server answers there)"
    ]
    assert not (tmp_path / "source").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2021-02-30"], "Error: --start: '2021-02-30' is not a date"),
        (["--end", "yesterday"], "Error: --end: 'yesterday' is not a date"),
        (["--start", "2022-01-01", "--end", "2021-01-01"], "Error: --start/--end: start 2022-01-01 is after"),
        (["--api", "ftp://example.org/stac"], "Error: ftp://example.org/stac: --api must be an http(s) URL"),
    ],
)
def test_bad_options_fail_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["glofnet", "acquire", "sentinel2", str(tmp_path / "s"), *args])
    assert result.exit_code == 1
    assert result.output.strip().startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_credentials_never_survive_an_href() -> None:
    signed = f"https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/43/S/DA/B03_10m.tif?{SAS}"
    assert (
        public_href(signed) == "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/43/S/DA/B03_10m.tif"
    )
    assert public_href("https://user:secret@example.org/a.tif?x=1") == "https://example.org/a.tif?x=1"
    assert public_href("./B03.tif") == "./B03.tif"
    assert "SECRETSIG" not in scrub(f"HTTP error 403 on {signed}: forbidden")


def test_retries_back_off_exponentially_and_end_in_one_line() -> None:
    waits: list[float] = []
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OSError("connection reset")
        return "ok"

    assert with_retries(flaky, attempts=5, what="x", sleep=waits.append) == "ok"
    assert waits == [0.5, 1.0]
    assert delays(7) == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]

    def broken() -> str:
        raise OSError("connection refused")

    with pytest.raises(GlofnetError, match="unreadable after 3 attempts"):
        with_retries(broken, attempts=3, what="http://127.0.0.1:1/a.tif", sleep=waits.append)
