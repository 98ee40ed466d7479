"""MOD11A1 provider forms: HDF4, Planetary Computer COGs and items, refusals, skip records."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from stactools.cli.cli import cli

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.wing import BuildOptions, WingInputs
from stactools_glofnet.modis.collection import create_collection
from stactools_glofnet.modis.discover import discover
from stactools_glofnet.modis.names import parse
from stactools_glofnet.modis.process import read_tile, source_mosaic, window_slices
from stactools_glofnet.modis.read import SDS, read_hdf4
from stactools_glofnet.modis.sample import production_stamp, write_cogs, write_hdf4

V061 = "MOD11A1.A2021227.h11v05.061.2021228105320.hdf"
V006 = "MOD11A1.A2019305.h14v09.006.2019306084028.hdf"
SIDECAR = "MOD11A1.A2022041.h19v02.061.2022042095544.hdf.xml"


def _real(shared_dir: Path, name: str) -> Path:
    return shared_dir / "real-data" / "modis" / name


def _one_line(result: object) -> str:
    output = getattr(result, "output", "")
    assert getattr(result, "exit_code", 0) == 1, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return str(lines[0])


def _copy_days(small_sample: Path, dest: Path, days: int) -> Path:
    """The first ``days`` sample days (both tiles, every form) under ``dest/modis``."""
    root = dest / "modis"
    chosen = sorted({p.name[:16] for p in (small_sample / "modis").rglob("MOD11A1.*")})[:days]
    for path in sorted((small_sample / "modis").rglob("MOD11A1.*")):
        if path.name[:16] in chosen:
            target = root / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return root


# --------------------------------------------------------------- real granules, refusals
def test_real_v061_granule_reads_283_to_311_kelvin(shared_dir: Path) -> None:
    tile = read_hdf4(_real(shared_dir, V061))
    lst = tile.bands["LST_Day_1km"]
    kelvin = lst[lst > 0] * 0.02
    assert kelvin.size == 63129 and kelvin.min() >= 283 and kelvin.max() <= 311


def test_collection_6_is_refused_naming_its_version(shared_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(GlofnetError, match=r"collection 006 \(6\) is not read: only collection 6.1"):
        read_hdf4(_real(shared_dir, V006))
    # Under a 6.1 name its own identifier_product_doi gives it away.
    disguised = tmp_path / V006.replace(".006.", ".061.")
    shutil.copy(_real(shared_dir, V006), disguised)
    with pytest.raises(GlofnetError, match=r"identifier_product_doi 10.5067/MODIS/MOD11A1.006"):
        read_hdf4(disguised)
    # Among good files, the run stops on it, in one line naming the file and the version.
    source = tmp_path / "source"
    (source / "modis").mkdir(parents=True)
    shutil.copy(_real(shared_dir, V006), source / "modis" / V006)
    shutil.copy(_real(shared_dir, V061), source / "modis" / V061)
    line = _one_line(
        CliRunner().invoke(cli, ["glofnet", "create-collection", "modis", str(source), str(tmp_path / "d")])
    )
    assert V006 in line and "collection 006 (6)" in line and "biases the LST trend" in line


def test_appeears_export_is_refused_listing_the_accepted_forms(
    small_sample: Path, tmp_path: Path, content: CatalogContent
) -> None:
    root = _copy_days(small_sample, tmp_path, 3)
    export = root / "MOD11A1.061_LST_Day_1km_doy2018290_aid0001.tif"
    shutil.copy(next(root.rglob("*_LST_Day_1km.tif")), export)
    with pytest.raises(GlofnetError, match="AppEEARS export") as error:
        discover(root, content)
    assert str(export) in str(error.value) and "Planetary Computer COGs" in str(error.value)


# ------------------------------------------------------------------------- discovery
def test_discovery_records_every_file_it_does_not_read(
    small_sample: Path,
    shared_dir: Path,
    tmp_path: Path,
    content: CatalogContent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = _copy_days(small_sample, tmp_path, 7)
    (root / "notes.txt").write_text("downloaded by hand")
    (root / "MYD11A1.A2018290.h24v05.061.2018291103000.hdf").write_bytes(b"Aqua, not Terra")
    shutil.copy(_real(shared_dir, V061), root / V061)  # a tile the AOI does not need
    shutil.copy(_real(shared_dir, SIDECAR), root / SIDECAR)
    with caplog.at_level(logging.INFO, logger="stactools_glofnet.modis.discover"):
        found = discover(root, content)
    warning = next(r.message for r in caplog.records if r.levelno == logging.WARNING)
    assert "2 files match no MOD11A1 form" in warning and "notes.txt" in warning and "MYD11A1" in warning
    assert any("metadata sidecars" in r.message for r in caplog.records)
    skipped = {entry["id"]: entry["reason"] for entry in found.skipped}
    assert skipped[V061] == "tile h11v05 is not needed: the AOI lies in h23v05, h24v05"
    older = json.loads((small_sample / "truth.json").read_text())["modis"]["older_production"]
    assert (
        "duplicate tile-day" in skipped[f"{older['granule']}_*.tif"]
        and older["replaced_by"] in skipped[f"{older['granule']}_*.tif"]
    )
    assert len(found.days) == 7 and all(set(tiles) <= {"h23v05", "h24v05"} for tiles in found.days.values())
    # The later production is the one kept.
    day = parse(Path(older["granule"] + "_LST_Day_1km.tif"))
    assert day is not None
    kept = found.days[day.day]["h24v05"]
    assert isinstance(kept, dict) and older["replaced_by"] in Path(kept["LST_Day_1km"]).name


def test_no_usable_file_says_how_many_were_seen_and_why(shared_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "modis").mkdir(parents=True)
    (source / "modis" / "readme.txt").write_text("x")
    shutil.copy(_real(shared_dir, V061), source / "modis" / V061)
    line = _one_line(
        CliRunner().invoke(cli, ["glofnet", "create-collection", "modis", str(source), str(tmp_path / "d")])
    )
    assert "no MOD11A1 files to read: 2 files seen, 1 matching no MOD11A1 form" in line
    assert "1 granules skipped (tile h11v05 is not needed" in line


def test_same_granule_as_hdf4_and_cogs_is_read_once(
    small_sample: Path, tmp_path: Path, content: CatalogContent
) -> None:
    root = _copy_days(small_sample, tmp_path, 1)
    hdf = sorted(root.rglob("*.hdf"))[0]
    tile = read_hdf4(hdf)
    window = next(w for w in source_mosaic(content)[1] if w.tile == tile.tile)
    rows, cols = window_slices(tile, window.grid)
    write_cogs(
        lambda name: hdf.parent / name, hdf.stem, {s: tile.bands[s][rows, cols] for s in SDS}, window.grid
    )
    found = discover(root, content)
    assert found.days[tile.day][tile.tile] == str(hdf)
    assert found.skipped == [
        {"id": f"{hdf.stem}_*.tif", "reason": "same granule as its HDF4 granule, which is read"}
    ]


def test_planetary_computer_item_leads_to_its_cogs(
    small_sample: Path, tmp_path: Path, content: CatalogContent
) -> None:
    root = tmp_path / "modis"
    cogs = sorted(p for p in (small_sample / "modis").rglob("*_*.tif"))[:4]
    name = parse(cogs[0])
    assert name is not None and {parse(p).sds for p in cogs if parse(p)} == set(SDS)  # type: ignore[union-attr]
    (root / "cogs").mkdir(parents=True)
    (root / "items").mkdir()
    assets = {}
    for path in cogs:
        shutil.copy(path, root / "cogs" / path.name)
        sds = path.name.rsplit(".", 1)[0].split("_", 1)[1]
        assets[sds] = {
            "href": f"../cogs/{path.name}",
            "raster:bands": [{"scale": 0.02 if sds.startswith("LST") else 1}],
        }
    (root / "items" / f"{name.granule_id}.json").write_text(
        json.dumps({"type": "Feature", "id": name.granule_id, "assets": assets})
    )
    found = discover(root, content)
    source = found.days[name.day][name.tile]
    assert isinstance(source, dict) and {s: Path(p).name for s, p in source.items()} == {
        s: f"{name.granule_id}_{s}.tif" for s in SDS
    }
    assert found.skipped == []
    # An item declaring another LST scale is refused.
    item = root / "items" / f"{name.granule_id}.json"
    document = json.loads(item.read_text())
    document["assets"]["LST_Day_1km"]["raster:bands"][0]["scale"] = 0.01
    item.write_text(json.dumps(document))
    with pytest.raises(GlofnetError, match=r"raster:bands scale 0\.01 is not 0\.02"):
        discover(root, content)


def test_discovery_holds_a_name_per_file_not_a_path(tmp_path: Path, content: CatalogContent) -> None:
    """Discovery sees every SOURCE file at once (about 75,000 at the whole archive): it looks at
    each as its path string, and what it keeps of a tile-day until the day's job is sent is that
    string, not a ``pathlib.Path`` (about 1 KiB more with its parsed parts)."""
    root = tmp_path / "modis"
    root.mkdir()
    days = 600
    for number in range(days):
        day = dt.date(2019, 1, 1) + dt.timedelta(days=number)
        for tile in ("h23v05", "h24v05"):
            (root / f"MOD11A1.A{day:%Y%j}.{tile}.061.{day:%Y%j}120000.hdf").touch()
    tracemalloc.start()
    try:
        found = discover(root, content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sources = [source for tiles in found.days.values() for source in tiles.values()]
    assert len(sources) == 2 * days and all(type(source) is str for source in sources)
    assert sources[0] == str(root / "MOD11A1.A2019001.h23v05.061.2019001120000.hdf")
    # 1,327 bytes a file with a Path kept in each granule name, 933 without (pytest paths, ~120 characters)
    assert peak / len(sources) < 1100, f"{peak / len(sources):.0f} bytes a file at discovery's peak"


# --------------------------------------------------- the same cube from either form
def _all_as(form: str, small_sample: Path, dest: Path, content: CatalogContent, days: int = 40) -> Path:
    """The first ``days`` of the sample's current productions, each tile-day as HDF4 or as PC COGs."""
    spec = content.processing.grids["modis"]
    windows = {w.tile: w for w in source_mosaic(content)[1]}
    root = dest / "modis"
    root.mkdir(parents=True)
    found = discover(small_sample / "modis", content)
    for tiles in list(found.days.values())[:days]:
        for tile_id, source in tiles.items():
            tile = read_tile(source)
            window = windows[tile_id]
            rows, cols = window_slices(tile, window.grid)
            bands = {s: tile.bands[s][rows, cols] for s in SDS}
            stem = f"MOD11A1.A{tile.day:%Y%j}.{tile_id}.061.{production_stamp(tile.day)}"
            if form == "hdf":
                write_hdf4(root / f"{stem}.hdf", window, spec.origin, spec.resolution, bands)
            else:
                write_cogs(lambda name: root / name, stem, bands, window.grid)
    return dest


def test_planetary_computer_cogs_give_the_same_cube_as_hdf4(
    small_sample: Path, tmp_path: Path, content: CatalogContent
) -> None:
    cubes = {}
    for form in ("hdf", "cog"):
        source = _all_as(form, small_sample, tmp_path / f"source-{form}", content)
        assert {parse(p).kind for p in (source / "modis").iterdir()} == {"hdf" if form == "hdf" else "cog"}  # type: ignore[union-attr]
        collection = create_collection(
            WingInputs(source_dir=source / "modis"), tmp_path / f"build-{form}", BuildOptions(content=content)
        )
        cubes[form] = xr.open_zarr(
            collection.assets["lst_cube"].get_absolute_href(), consolidated=True
        ).load()
    for variable in ("LST_Day", "LST_Night"):
        hdf, cog = cubes["hdf"][variable].values, cubes["cog"][variable].values
        assert hdf.shape == cog.shape and np.isfinite(hdf).sum() > 1000
        np.testing.assert_array_equal(hdf, cog)
    assert (cubes["hdf"]["time"].values == cubes["cog"]["time"].values).all()
