"""Sentinel-2 provider forms and radiometry on real bytes (../shared/real-data items 5-16)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from rasterio.enums import Resampling

from stactools_glofnet.core.config import CatalogContent, RadiometricCheck, bundled_content_dir, load_content
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.raster import write_cog
from stactools_glofnet.sentinel2.bands import BANDS
from stactools_glofnet.sentinel2.process import ProcessedScene, Skipped, process_scene
from stactools_glofnet.sentinel2.radiometry import assess
from stactools_glofnet.sentinel2.read import read_dn, read_reflectance, read_scene, source_window
from stactools_glofnet.sentinel2.sample_items import SceneForm, SceneNames, band_files, item_document

S2 = ("real-data", "sentinel2")
RKH = "S2A_29RKH_20200219_0_L2A"


def _real(shared_dir: Path, *parts: str) -> Path:
    return shared_dir.joinpath(*S2, *parts)


def _with_local_bands(document: dict[str, Any], files: dict[str, Path], path: Path) -> Path:
    """``document`` saved at ``path`` with the assets of ``files`` pointing at local files."""
    for key, file in files.items():
        document["assets"][key]["href"] = str(file)
    path.write_text(json.dumps(document))
    return path


# ------------------------------------------------------------- the table, per real item
@pytest.mark.parametrize(
    ("folder", "name", "form", "baseline", "rule", "offset"),
    [
        # Earth Search v1, flag true: DN x 0.0001 although raster:bands says offset -0.1.
        (
            "earthsearch-v1-items",
            "S2A_13TDE_20231008_0_L2A",
            "earthsearch-v1",
            "05.09",
            "boa_offset_applied",
            0.0,
        ),
        (
            "earthsearch-v1-items",
            "S2B_24MUA_20250731_0_L2A",
            "earthsearch-v1",
            "05.11",
            "boa_offset_applied",
            0.0,
        ),
        # Earth Search v1, flag false, pre-04.00: raster:bands offset 0.
        ("earthsearch-v1-items", "S2B_31QGB_20200831_0_L2A", "earthsearch-v1", "02.14", "raster_bands", 0.0),
        (f"{RKH}_downsampled", RKH, "earthsearch-v1", "02.14", "raster_bands", 0.0),
        # Earth Search v0: B0x keys, sentinel:* properties, the same flag rule.
        (
            "earthsearch-v0-items",
            "S2B_20EPT_20250731_0_L2A",
            "earthsearch-v0",
            "05.11",
            "boa_offset_applied",
            0.0,
        ),
        # v0 without a baseline property: the product id's N0214.
        (
            "earthsearch-v0-items",
            "S2A_28QCH_20200714_0_L2A",
            "earthsearch-v0",
            "02.14",
            "processing_baseline",
            0.0,
        ),
        # Planetary Computer: no raster:bands, ESA DN, baseline 02.12.
        (
            "planetary-computer-items",
            "S2A_MSIL2A_20190101T000001_R116_T60VUK_20201007T214652",
            "planetary-computer",
            "02.12",
            "processing_baseline",
            0.0,
        ),
    ],
)
def test_real_items_get_the_rule_of_their_form(
    shared_dir: Path, folder: str, name: str, form: str, baseline: str, rule: str, offset: float
) -> None:
    scene = read_scene(_real(shared_dir, folder, f"{name}.json"))
    assert (scene.form.name, scene.baseline_text, scene.radiometry.rule) == (form, baseline, rule)
    for band in BANDS:
        asset = scene.asset(band.key)
        assert (asset.scale, asset.offset) == (0.0001, offset), band.key
        assert band.band_id in Path(asset.href).name  # the right file, under either key
    assert scene.asset("scl").scale == 1.0


def test_planetary_computer_item_from_baseline_04_gets_the_offset(shared_dir: Path, tmp_path: Path) -> None:
    """The PC item at a later baseline: ESA DN carry BOA_ADD_OFFSET, so -0.1 (no flag, no raster:bands)."""
    path = _real(
        shared_dir, "planetary-computer-items", "S2A_MSIL2A_20190101T000001_R116_T60VUK_20201007T214652.json"
    )
    document = json.loads(path.read_text())
    document["properties"]["s2:processing_baseline"] = "05.10"
    copy = tmp_path / path.name
    copy.write_text(json.dumps(document))
    scene = read_scene(copy)
    assert (scene.radiometry.rule, scene.asset("blue").offset, scene.offset_exists) == (
        "processing_baseline",
        -0.1,
        True,
    )


def test_v1_cog_with_its_item_gives_esa_reflectance(shared_dir: Path, tmp_path: Path) -> None:
    """Item 11's COG read with item 12's metadata equals ESA's (JP2 - 1000) x 0.0001."""
    pair = _real(shared_dir, "earthsearch-v1-cog-vs-jp2")
    document = json.loads(
        _real(shared_dir, "earthsearch-v1-items", "S2B_24MUA_20250731_0_L2A.json").read_text()
    )
    assert document["assets"]["red"]["raster:bands"][0]["offset"] == -0.1  # what the item declares
    # Item 12 is another granule of the same form: it lends its metadata, item 11 its bytes and CRS.
    document["properties"]["proj:epsg"] = 32633
    item = _with_local_bands(document, {"red": pair / "e84_b04_cog.tif"}, tmp_path / "item.json")
    scene = read_scene(item)
    reflectance = read_reflectance(scene, "red")
    with rasterio.open(pair / "e84_b04_cog.tif") as cog, rasterio.open(pair / "e84_b04_jp2.tif") as jp2:
        cog_dn, jp2_dn = cog.read(1), jp2.read(1).astype(np.float64)
    esa = (jp2_dn - 1000) * 0.0001
    unclipped = cog_dn > 1  # the COG clips ESA's negative reflectance to DN 1
    assert unclipped.mean() > 0.99
    error = np.abs(reflectance[unclipped] - esa[unclipped])
    assert error.max() <= 1e-4, error.max()
    assert (reflectance >= 0).all()
    # The check passes the flag's rule and catches the declared offset applied again.
    clear = np.ones(reflectance.shape, dtype=bool)
    check = scene_check()
    assert assess({"red": reflectance}, clear, check, offset_exists=True).problem is None
    doubled = assess({"red": reflectance - 0.1}, clear, check, offset_exists=True)
    assert doubled.problem == "doubled_offset" and doubled.negative_fraction > 0.03


def test_a_grid_that_is_a_window_of_the_real_cog_reads_the_warped_view_s_pixels(
    shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 11's COG: aligned grids are read as windows, any other grid through the warped view,
    and both give the same pixels where a window applies."""
    cog = _real(shared_dir, "earthsearch-v1-cog-vs-jp2", "e84_b04_cog.tif")
    document = json.loads(
        _real(shared_dir, "earthsearch-v1-items", "S2B_24MUA_20250731_0_L2A.json").read_text()
    )
    document["properties"]["proj:epsg"] = 32633
    scene = read_scene(_with_local_bands(document, {"red": cog}, tmp_path / "item.json"))
    with rasterio.open(cog) as source:
        own = Grid(source.crs, source.transform, source.width, source.height)
    step = own.transform.a

    def grid(columns: float, rows: float, width: int, height: int, scale: float = 1) -> Grid:
        origin = own.transform * (columns, rows)
        transform = Affine(step * scale, 0, origin[0], 0, -step * scale, origin[1])
        return Grid(own.crs, transform, width, height)

    cases = {
        "the whole file": (own, True),
        "inside, whole-pixel offset": (grid(37, 53, 100, 120), True),
        "half a pixel off": (grid(37.5, 53, 100, 120), False),
        "past the right edge": (grid(own.width - 90, 0, 100, 120), False),
        "twice the pixel size": (grid(0, 0, 50, 60, scale=2), False),
    }
    with rasterio.open(cog) as source:
        assert {name: source_window(source, g) is not None for name, (g, _) in cases.items()} == {
            name: windowed for name, (_, windowed) in cases.items()
        }
    direct = {name: read_dn(scene, "red", g, Resampling.nearest) for name, (g, _) in cases.items()}
    monkeypatch.setattr("stactools_glofnet.sentinel2.read.source_window", lambda source, grid: None)
    for name, (g, _) in cases.items():
        warped, nodata = read_dn(scene, "red", g, Resampling.nearest)
        assert direct[name][1] == nodata and direct[name][0].dtype == warped.dtype, name
        assert np.array_equal(direct[name][0], warped), name


def scene_check() -> RadiometricCheck:
    return load_content().processing.sentinel2.radiometric_check


def test_real_bright_scene_passes_the_check(shared_dir: Path) -> None:
    """The 29RKH desert scene (no water, no snow) is not mistaken for a missing offset."""
    folder = _real(shared_dir, f"{RKH}_downsampled")
    scene = read_scene(folder / f"{RKH}.json", lambda href: str(folder / Path(href).name))
    reflectance = {band.key: read_reflectance(scene, band.key) for band in BANDS[:4]}
    clear = np.ones(reflectance["blue"].shape, dtype=bool)
    verdict = assess(reflectance, clear, scene_check(), offset_exists=True)
    assert verdict.problem is None and 0.03 < verdict.floor < 0.09


# ----------------------------------------------------------- 29RKH through create-item
GEOMETRY = """
[aoi]
title = "Test area inside MGRS 29RKH"
bbox = [-11.57, 24.755, -11.515, 24.805]

[lake]
title = "A test basin"
point = [-11.54, 24.78]
polygon = [[-11.545, 24.775], [-11.535, 24.775], [-11.535, 24.785], [-11.545, 24.785], [-11.545, 24.775]]

[glacier]
title = "Test glacier box"
bbox = [-11.56, 24.76, -11.52, 24.80]
rgi7_id = "RGI2000-v7.0-G-14-08488"
glims_id = "G074619E36437N"

[trunk]
title = "Test trunk box"
bbox = [-11.55, 24.77, -11.53, 24.79]

[impact]
title = "Test point"
point = [-11.54, 24.76]
"""


def _content_for_29rkh(tmp_path: Path) -> Path:
    content = tmp_path / "catalog"
    shutil.copytree(bundled_content_dir(), content)
    (content / "geometry.toml").write_text(GEOMETRY)
    processing = (content / "processing.toml").read_text()
    for name in ("sentinel2_10m", "sentinel2_20m"):
        block = f'[grids.{name}]\ncrs = "EPSG:32643"'
        assert block in processing
        processing = processing.replace(block, f'[grids.{name}]\ncrs = "EPSG:32629"')
    processing = processing.replace("origin = [399960.0, 4100040.0]", "origin = [199980.0, 2800020.0]")
    (content / "processing.toml").write_text(processing)
    return content


def test_29rkh_scene_builds_a_valid_item_with_create_item(
    shared_dir: Path, schema_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stactools_glofnet.commands import create_glofnet_command
    from stactools_glofnet.core.schemas import offline_first_validation

    folder = _real(shared_dir, f"{RKH}_downsampled")
    document = json.loads((folder / f"{RKH}.json").read_text())
    keys = {band.key: folder / f"{band.band_id}.tif" for band in BANDS} | {"scl": folder / "SCL.tif"}
    item_path = _with_local_bands(document, keys, tmp_path / f"{RKH}.json")
    monkeypatch.setenv("GLOFNET_CONTENT_DIR", str(_content_for_29rkh(tmp_path)))
    import click

    cli = click.Group()
    create_glofnet_command(cli)
    dest = tmp_path / "item"
    result = CliRunner().invoke(cli, ["glofnet", "create-item", "sentinel2", str(item_path), str(dest)])
    assert result.exit_code == 0, result.output
    item = pystac.Item.from_file(str(dest / f"{RKH}.json"))
    with offline_first_validation([schema_dir]):
        item.validate()
    radiometry = item.properties["glofnet:radiometry"]
    assert (radiometry["rule"], radiometry["offset"], radiometry["provider_form"]) == (
        "raster_bands",
        0.0,
        "earthsearch-v1",
    )
    assert item.properties["glofnet:source_processing_baseline"] == "02.14"
    assert item.properties["proj:code"] == "EPSG:32629"
    # The output green COG holds the source reflectance (DN x 0.0001) on the 10 m grid.
    with rasterio.open(dest / "B03.tif") as out, rasterio.open(folder / "B03.tif") as source:
        assert out.crs == source.crs and out.res == (10.0, 10.0)
        rows, cols = np.meshgrid(np.arange(5, out.height, 97), np.arange(5, out.width, 89), indexing="ij")
        xs, ys = rasterio.transform.xy(out.transform, rows.ravel(), cols.ravel())
        written = out.read(1)[rows.ravel(), cols.ravel()].astype(np.float64) * 0.0001 - 0.1
        expected = np.array([v[0] for v in source.sample(zip(xs, ys, strict=True))]) * 0.0001
    valid = written > -0.1
    assert valid.mean() > 0.9
    np.testing.assert_allclose(written[valid], expected[valid], atol=1e-4)


# ------------------------------------------------- one synthetic scene in every form
def _scene_copies(small_sample: Path, tmp_path: Path, scene_id: str) -> dict[str, Any]:
    """The sample scene's DN, grids and truth, to rewrite in other forms."""
    truth = json.loads((small_sample / "truth.json").read_text())["sentinel2"]["scenes"]
    planted = next(s for s in truth if s["id"] == scene_id)
    folder = small_sample / "sentinel2" / scene_id
    scene = read_scene(folder / f"{scene_id}.json")
    dn: dict[str, np.ndarray[Any, Any]] = {}
    grids = {}
    for key in [band.key for band in BANDS] + ["scl"]:
        with rasterio.open(scene.asset(key).href) as dataset:
            dn[key] = dataset.read(1)
            grids[int(dataset.res[0])] = Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)
    return {"scene": scene, "dn": dn, "grids": grids, "truth": planted}


def _write_form(
    copies: dict[str, Any], dest: Path, form: SceneForm, *, dn_shift: int = 0, flag: bool | None = None
) -> Path:
    """Write the scene in ``form`` under ``dest`` (DN shifted by ``dn_shift``, flag overridden)."""
    scene = copies["scene"]
    names = SceneNames(scene.datetime.date(), 0, scene.baseline_text)
    document = item_document(form, names, copies["grids"], 0.0)
    if flag is not None:
        document["properties"]["earthsearch:boa_offset_applied"] = flag
    folder = dest / document["id"]
    folder.mkdir(parents=True)
    for key, file in band_files(form.name, names).items():
        values = copies["dn"][key]
        if key != "scl":
            values = np.where(values > 0, values.astype(np.int64) + dn_shift, 0).astype(np.uint16)
        grid = copies["grids"][20 if key in ("scl", "swir16", "swir22") else 10]
        write_cog(folder / file, values, grid, nodata=0)
    path: Path = folder / f"{document['id']}.json"
    path.write_text(json.dumps(document))
    return path


HARMONIZED_SCENE = "S2B_43SDA_20220510_0_L2A"  # Earth Search v1, baseline 04.00, flag true, clear


def test_lake_area_is_the_same_in_every_provider_form(
    small_sample: Path, tmp_path: Path, content: CatalogContent
) -> None:
    copies = _scene_copies(small_sample, tmp_path, HARMONIZED_SCENE)
    assert copies["scene"].boa_offset_applied is True and copies["scene"].baseline_text >= "04.00"
    areas = {}
    for form, shift in (
        (SceneForm("earthsearch-v1"), 0),
        (SceneForm("earthsearch-v0"), 0),  # v0 from 2022: harmonized DN, sentinel:boa_offset_applied
        (SceneForm("planetary-computer"), 1000),  # ESA's DN: + BOA_ADD_OFFSET back
    ):
        scene = read_scene(_write_form(copies, tmp_path / form.name, form, dn_shift=shift))
        assert scene.form.name == form.name
        result = process_scene(scene, content)
        assert isinstance(result, ProcessedScene), result
        assert result.radiometry.rule != "radiometric_check" and result.verdict.problem is None
        areas[form.name] = result.lake_area_km2
    assert len(set(areas.values())) == 1, areas
    assert areas["earthsearch-v1"] == pytest.approx(copies["truth"]["planted_lake_area_km2"], rel=0.01)


@pytest.mark.parametrize(
    ("flag", "dn_shift", "problem", "offset"),
    [
        # earth-search#66 / cirrus-earth-search#33: flag false over harmonized DN -> -0.1 applied twice.
        (False, 0, "doubled", 0.0),
        # The other way: flag true over ESA's DN -> the offset is missing.
        (True, 1000, "missing", -0.1),
    ],
)
def test_mis_flagged_scene_is_caught_and_corrected(
    small_sample: Path,
    tmp_path: Path,
    content: CatalogContent,
    flag: bool,
    dn_shift: int,
    problem: str,
    offset: float,
) -> None:
    copies = _scene_copies(small_sample, tmp_path, HARMONIZED_SCENE)
    path = _write_form(copies, tmp_path, SceneForm("earthsearch-v1"), dn_shift=dn_shift, flag=flag)
    scene = read_scene(path)
    result = process_scene(scene, content)
    assert isinstance(result, ProcessedScene), result
    assert result.radiometry.rule == "radiometric_check" and result.radiometry.offset == offset
    assert problem in result.radiometry.reason
    assert result.lake_area_km2 == pytest.approx(copies["truth"]["planted_lake_area_km2"], rel=0.01)
    # The same scene correctly flagged passes unchanged.
    fixed = _write_form(
        copies, tmp_path / "fixed", SceneForm("earthsearch-v1"), dn_shift=dn_shift, flag=not flag
    )
    passed = process_scene(read_scene(fixed), content)
    assert isinstance(passed, ProcessedScene) and passed.verdict.problem is None
    assert passed.radiometry.offset == offset and passed.radiometry.rule != "radiometric_check"
    assert passed.lake_area_km2 == result.lake_area_km2
    for key, values in passed.reflectance.items():  # the corrected reading is the correct one, exactly
        np.testing.assert_array_equal(values, result.reflectance[key])


def test_scene_neither_rule_explains_is_skipped_with_the_reason(
    small_sample: Path, tmp_path: Path, content: CatalogContent
) -> None:
    copies = _scene_copies(small_sample, tmp_path, HARMONIZED_SCENE)
    path = _write_form(copies, tmp_path, SceneForm("earthsearch-v1"), dn_shift=2000)
    result = process_scene(read_scene(path), content)
    assert isinstance(result, Skipped)
    assert "radiometric check failed" in result.reason and "missing offset" in result.reason


def test_mis_flagged_sample_scene_is_recorded(built_catalog: Path, small_sample: Path) -> None:
    """The sample's mis-flagged v1 scene builds, with the corrected rule in its metadata."""
    truth = json.loads((small_sample / "truth.json").read_text())["sentinel2"]["scenes"]
    flagged = [s for s in truth if s["mis_flagged"]]
    assert len(flagged) == 1
    scene_id = flagged[0]["id"]
    path = built_catalog / "glofnet-sentinel2" / scene_id / f"{scene_id}.json"
    radiometry = json.loads(path.read_text())["properties"]["glofnet:radiometry"]
    assert (radiometry["rule"], radiometry["offset"]) == ("radiometric_check", 0.0)
    forms = {s["provider_form"] for s in truth}
    assert forms == {"earthsearch-v1", "earthsearch-v0", "planetary-computer"}
