"""``stac glofnet acquire modis`` against real servers on 127.0.0.1.

The Planetary Computer is played by a real STAC API (``stac glofnet serve``) over items in its
``modis-11A1-061`` form (id = the granule id, one COG asset per SDS keyed by SDS name, Terra and
Aqua in one collection) whose COGs are whole 1200 x 1200 tiles on a range-counting HTTP server:
the sample's Planetary Computer COG form (the AOI window of each tile, :func:`write_cogs`)
embedded at its place in its tile, so that reading the AOI window only is measurable.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import requests
from affine import Affine
from click.testing import CliRunner, Result
from stactools.cli.cli import cli

from stactools_glofnet.acquire.store import PART_MARK
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.files import read_json, sha256_file
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.raster import write_cog
from stactools_glofnet.modis.process import source_mosaic
from stactools_glofnet.modis.read import LST_SCALE, SDS
from stactools_glofnet.modis.sample import QC_CLOUD, QC_GOOD, QC_OTHER_SMALL_ERROR, granule_id, write_cogs
from stactools_glofnet.modis.sample import production_stamp as stamp
from tests.rangeserver import RangeServer
from tests.s3server import free_ports
from tests.stacapi import stac_api, write_api_catalog

DAYS = [dt.date(2019, 6, 20), dt.date(2019, 6, 21), dt.date(2019, 6, 22)]
TILE = 1200
COLLECTION = "modis-11A1-061"
SAS = "st=2026-12-01T00%3A00%3A00Z&se=2026-12-02T00%3A00%3A00Z&sp=rl&sv=2024-05-04&sr=c&sig=SECRETSIG%3D"
START, END = "2019-06-01", "2019-06-30"


@dataclass
class Provider:
    """The servers, what they serve, and the same tile-days as a SOURCE on disk."""

    server: RangeServer
    api: str
    disk: Path
    granules: list[str]
    aqua: str
    whole: dict[str, int]
    superseded: tuple[str, str]

    def names(self) -> list[str]:
        return sorted(f"{d.year}/{g}_{sds}.tif" for g, d in self.granule_days() for sds in SDS)

    def granule_days(self) -> list[tuple[str, dt.date]]:
        return [(g, dt.datetime.strptime(g.split(".")[1][1:], "%Y%j").date()) for g in self.granules]


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["glofnet", *args])
    print(result.output)
    return result


def acquire(provider: Provider, source: Path, *extra: str) -> Result:
    return run("acquire", "modis", str(source), "--api", provider.api, "--start", START, "--end", END, *extra)


def _bands(rng: np.random.Generator, shape: tuple[int, int]) -> dict[str, Any]:
    """Plausible LST DN and QC bytes: clear, other-quality and cloudy pixels."""
    bands: dict[str, Any] = {}
    for part in ("Day", "Night"):
        kelvin = rng.normal(285.0 if part == "Day" else 273.0, 3.0, shape)
        qc = rng.choice(
            np.array([QC_GOOD, QC_OTHER_SMALL_ERROR, QC_CLOUD], dtype=np.uint8), shape, p=[0.7, 0.1, 0.2]
        )
        dn = np.where(qc == QC_CLOUD, 0, np.round(kelvin / LST_SCALE)).astype(np.uint16)
        bands[f"LST_{part}_1km"], bands[f"QC_{part}"] = dn, qc
    return bands


def _in_year(folder: Path, name: str) -> Path:
    return folder / name


def _whole_tile(window: Grid, row_off: int, col_off: int, data: Any, dest: Path, rng: Any) -> Grid:
    """The tile ``window`` belongs to, 1200 x 1200, holding ``data`` at the window's place."""
    if data.dtype == np.uint16:
        canvas = rng.integers(13000, 15500, (TILE, TILE)).astype(np.uint16)
    else:
        canvas = rng.choice(np.array([QC_GOOD, QC_CLOUD], dtype=np.uint8), (TILE, TILE))
    canvas[row_off : row_off + data.shape[0], col_off : col_off + data.shape[1]] = data
    dest.parent.mkdir(parents=True, exist_ok=True)
    grid = Grid(window.crs, window.transform * Affine.translation(-col_off, -row_off), TILE, TILE)
    write_cog(dest, canvas, grid, nodata=0 if data.dtype == np.uint16 else None)
    return grid


def _item(gid: str, day: dt.date, tile: str, hrefs: dict[str, str], platform: str) -> dict[str, Any]:
    """An item in the Planetary Computer's ``modis-11A1-061`` form (stactools-packages/modis)."""
    h, v = int(tile[1:3]), int(tile[4:6])
    assets: dict[str, Any] = {
        sds: {
            "href": href,
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
            "raster:bands": [{"data_type": "uint16", "scale": LST_SCALE, "unit": "Kelvin"}]
            if sds.startswith("LST")
            else [{"data_type": "uint8"}],
        }
        for sds, href in hrefs.items()
    }
    assets["hdf"] = {"href": hrefs["LST_Day_1km"].replace("_LST_Day_1km.tif", ".hdf"), "roles": ["data"]}
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/raster/v1.1.0/schema.json"],
        "id": gid,
        "collection": COLLECTION,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[70.0, 30.0], [80.0, 30.0], [80.0, 40.0], [70.0, 40.0], [70.0, 30.0]]],
        },
        "bbox": [70.0, 30.0, 80.0, 40.0],
        "properties": {
            "datetime": None,
            "start_datetime": f"{day}T00:00:00Z",
            "end_datetime": f"{day}T23:59:59Z",
            "platform": platform,
            "modis:horizontal-tile": h,
            "modis:vertical-tile": v,
            "modis:tile-id": f"5{h:02d}{v:03d}",
        },
        "assets": assets,
    }


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory, content: CatalogContent) -> Iterator[Provider]:
    root = tmp_path_factory.mktemp("modis-provider")
    served, disk = root / "served", root / "disk"
    (port,) = free_ports(1)
    server = RangeServer(served, port)
    rng = np.random.default_rng(15)
    _, windows = source_mosaic(content)
    documents, granules, whole = [], [], {}
    for day in DAYS:
        for window in windows:
            gid = granule_id(day, window.tile, stamp(day))
            bands = _bands(rng, window.grid.shape)
            (disk / "modis" / str(day.year)).mkdir(parents=True, exist_ok=True)
            write_cogs(partial(_in_year, disk / "modis" / str(day.year)), gid, bands, window.grid)
            hrefs = {}
            for sds in SDS:
                name = f"{gid}_{sds}.tif"
                relative = f"MOD11A1/{window.tile[1:3]}/{window.tile[4:6]}/{day:%Y%j}/{name}"
                _whole_tile(window.grid, window.row_off, window.col_off, bands[sds], served / relative, rng)
                whole[relative] = (served / relative).stat().st_size
                hrefs[sds] = f"{server.url}{relative}?{SAS}"
            documents.append(_item(gid, day, window.tile, hrefs, "terra"))
            granules.append(gid)
    # A tile-day also published in an earlier production (reprocessing): only the later is read.
    older = granule_id(DAYS[0], windows[-1].tile, stamp(DAYS[0], "093000"))
    newer = next(d for d in documents if d["id"] == granule_id(DAYS[0], windows[-1].tile, stamp(DAYS[0])))
    gone = {sds: f"{server.url}older/{older}_{sds}.tif" for sds in SDS}
    documents.append(_item(older, DAYS[0], windows[-1].tile, gone, "terra"))
    # Aqua shares the collection: its item is found and left out.
    aqua = documents[0]["id"].replace("MOD11A1", "MYD11A1")
    documents.append(
        {**documents[0], "id": aqua, "properties": {**documents[0]["properties"], "platform": "aqua"}}
    )
    write_api_catalog(root / "planetary-computer", COLLECTION, documents)
    with ExitStack() as stack:
        server.start()
        stack.callback(server.stop)
        api = stack.enter_context(stac_api(str(root / "planetary-computer")))
        yield Provider(server, api, disk, granules, aqua, whole, (older, newer["id"]))


@pytest.fixture(scope="module")
def acquired(
    provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, int], str]:
    source = tmp_path_factory.mktemp("modis-acquired") / "source"
    provider.server.reset()
    result = acquire(provider, source)
    assert result.exit_code == 0
    return source, dict(provider.server.sent), result.output


def test_tile_days_are_fetched_as_the_builds_tile_windows(
    provider: Provider, acquired: tuple[Path, dict[str, int], str], content: CatalogContent
) -> None:
    source, sent, output = acquired
    root = source / "modis"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tif")) == provider.names()
    assert sorted(p.name for p in root.rglob("*.json")) == sorted(
        ["acquire-manifest.json", *(f"{g}.json" for g in provider.granules)]
    )
    assert set(sent) == set(provider.whole)
    for relative, served in sent.items():
        # The header and the one or two 256 x 256 internal tiles under the window, not the tile.
        assert served < provider.whole[relative] / 4, (relative, served)
    assert sum(sent.values()) < sum(provider.whole.values()) / 5
    # Each local file holds exactly the tile window the build takes from a whole tile.
    windows = {window.tile: window for window in source_mosaic(content)[1]}
    for relative in provider.whole:
        name = relative.rsplit("/", 1)[1]
        window = windows[name.split(".")[2]]
        with (
            rasterio.open(root / f"{name.split('.')[1][1:5]}/{name}") as local,
            rasterio.open(provider.disk / "modis" / name.split(".")[1][1:5] / name) as sample,
        ):
            assert local.transform.almost_equals(window.grid.transform)
            assert local.shape == window.grid.shape
            assert np.array_equal(local.read(1), sample.read(1))
    older, newer = provider.superseded
    assert f"2 left out ({provider.aqua}: Aqua (MYD11A1)" in output
    assert f"{older}: superseded by the later production {newer}" in output
    assert f"{len(provider.granules)} acquired ({len(provider.granules) * 5} files" in output


def test_acquired_items_are_local_with_the_provider_as_provenance(
    provider: Provider, acquired: tuple[Path, dict[str, int], str]
) -> None:
    source, _, output = acquired
    for gid, day in provider.granule_days():
        item = read_json(source / "modis" / str(day.year) / f"{gid}.json")
        assert item["id"] == gid and item["properties"]["platform"] == "terra"
        for sds in SDS:
            assert item["assets"][sds]["href"] == f"./{gid}_{sds}.tif"
            provider_href = item["assets"][sds]["alternate"]["provider"]["href"]
            assert provider_href.startswith(provider.server.url) and "?" not in provider_href
        assert item["assets"]["hdf"]["href"].startswith(provider.server.url)
        (link,) = item["links"]
        served = requests.get(f"{provider.api}/collections/{COLLECTION}/items/{gid}", timeout=10).json()
        self_link = next(link["href"] for link in served["links"] if link["rel"] == "self")
        assert link["rel"] == "derived_from" and link["href"] == self_link
        assert self_link.startswith(provider.api)
    manifest = read_json(source / "modis" / "acquire-manifest.json")
    for relative, record in manifest["files"].items():
        assert record["sha256"] == sha256_file(source / "modis" / relative)
    for path in source.rglob("*"):
        if path.is_file():
            assert b"SECRETSIG" not in path.read_bytes(), path
    assert "SECRETSIG" not in output


def test_the_collection_built_from_the_acquired_source_equals_the_one_from_disk(
    acquired: tuple[Path, dict[str, int], str], provider: Provider, tmp_path: Path
) -> None:
    data = {}
    for name, source in (("disk", provider.disk), ("acquired", acquired[0])):
        dest = tmp_path / name
        assert run("create-collection", "modis", str(source), str(dest), "--workers", "0").exit_code == 0
        data[name] = {
            p.relative_to(dest).as_posix(): p.read_bytes()
            for p in sorted(dest.rglob("*"))
            if (p.is_file() and ".zarr" in p.as_posix()) or p.suffix in (".tif", ".png", ".parquet")
        }
    assert data["acquired"].keys() == data["disk"].keys()
    assert any(".zarr/" in path for path in data["disk"])
    assert [path for path in data["disk"] if data["disk"][path] != data["acquired"][path]] == []


def test_a_rerun_fetches_nothing_and_since_last_searches_after_the_newest(
    provider: Provider, acquired: tuple[Path, dict[str, int], str]
) -> None:
    source = acquired[0]
    manifest = source / "modis" / "acquire-manifest.json"
    before = manifest.read_bytes()
    provider.server.reset()
    again = acquire(provider, source)
    assert again.exit_code == 0 and dict(provider.server.sent) == {}
    assert f"0 acquired (0 files, 0 bytes), {len(provider.granules)} already complete" in again.output
    since = acquire(provider, source, "--since-last")
    assert since.exit_code == 0 and dict(provider.server.sent) == {}
    assert f"for {DAYS[-1]}..{END}" in since.output
    assert manifest.read_bytes() == before


def test_dry_run_lists_each_granule_and_writes_nothing(provider: Provider, tmp_path: Path) -> None:
    provider.server.reset()
    result = acquire(provider, tmp_path / "source", "--dry-run")
    assert result.exit_code == 0 and not (tmp_path / "source").exists()
    assert dict(provider.server.sent) == {}
    planned = [line.split()[2] for line in result.output.splitlines() if line.startswith("would fetch")]
    assert planned == provider.granules


def test_an_outage_then_a_rerun_completes_without_duplicates(provider: Provider, tmp_path: Path) -> None:
    source = tmp_path / "source"
    server = provider.server
    server.reset()
    server.go_down_after(9)
    try:
        started = time.monotonic()
        failed = acquire(provider, source, "--retries", "2")
        assert failed.exit_code == 1 and time.monotonic() - started < 20
        (line,) = failed.output.strip().splitlines()
        assert line.startswith(f"Error: {server.url}") and "unreadable after 2 attempts" in line
        assert "SECRETSIG" not in line
    finally:
        server.start()
    root = source / "modis"
    first = read_json(root / "acquire-manifest.json")["files"]
    assert first and not any(name.endswith(".json") for name in first)
    server.reset()
    assert acquire(provider, source).exit_code == 0
    fetched_again = {relative.rsplit("/", 1)[1] for relative in server.sent}
    assert not fetched_again & {relative.rsplit("/", 1)[1] for relative in first}
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tif")) == provider.names()
    assert not list(root.rglob(f"*{PART_MARK}*"))
    for relative, record in read_json(root / "acquire-manifest.json")["files"].items():
        assert sha256_file(root / relative) == record["sha256"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["modis", "--max-cloud", "20"], "Error: --max-cloud: applies to sentinel2 only, not modis"),
        (["modis", "--min-days", "5"], "Error: --min-days: applies to itslive only, not modis"),
        (["all", "--api", "http://127.0.0.1:9/"], "Error: --api/--collection: name one provider"),
    ],
)
def test_options_of_another_modality_are_refused_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    modality, *rest = args
    result = CliRunner().invoke(cli, ["glofnet", "acquire", modality, str(tmp_path / "s"), *rest])
    assert result.exit_code == 1
    assert result.output.strip().startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
