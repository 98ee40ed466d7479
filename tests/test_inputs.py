"""Inputs a build cannot use are skipped and recorded (or refused with --strict); ids never become paths."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from stactools.cli.cli import cli

from stactools_glofnet.core.extension import GlofnetExtension
from stactools_glofnet.validate import check_catalog


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["glofnet", *args])
    return result.exit_code, result.output


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def _scene_dirs(sample: Path) -> list[Path]:
    """The sample's scene folders, clearest first (so the first ones are kept by the QC rules)."""
    items = [p for p in (sample / "sentinel2").glob("*/*.json") if p.parent.name == p.stem]
    cloud = {p.parent: json.loads(p.read_text())["properties"]["eo:cloud_cover"] for p in items}
    return sorted(cloud, key=lambda folder: (cloud[folder], folder.name))


def _earth_search_scene(sample: Path) -> Path:
    """The clearest scene whose band files are named like Earth Search's (``B04.tif``...)."""
    return next(folder for folder in _scene_dirs(sample) if (folder / "B04.tif").is_file())


def _copy_scene(scene: Path, target_root: Path, name: str | None = None, **changes: Any) -> Path:
    """Copy one scene folder; ``changes`` replace top-level item fields; ``name`` renames the folder."""
    name = name or scene.name
    target = target_root / "sentinel2" / name
    shutil.copytree(scene, target)
    item_file = target / f"{scene.name}.json"
    document = json.loads(item_file.read_text())
    document.update(changes)
    item_file.unlink()
    (target / f"{name}.json").write_text(json.dumps(document))
    return target


def _shift(path: Path, dx: float) -> None:
    """Move a GeoTIFF ``dx`` metres east (same pixels), in place."""
    with rasterio.open(path) as source:
        profile = source.profile
        data = source.read()
    profile.update(driver="GTiff", transform=Affine.translation(dx, 0) * profile["transform"])
    for key in ("blockxsize", "blockysize", "tiled", "interleave"):
        profile.pop(key, None)
    with rasterio.open(path, "w", **profile) as target:
        target.write(data)


def _skipped(collection_dir: Path) -> dict[str, dict[str, str]]:
    collection = pystac.Collection.from_file(str(collection_dir / "collection.json"))
    return {entry["id"]: entry for entry in GlofnetExtension.ext(collection).skipped or []}


@pytest.fixture(scope="module")
def mixed_source(tmp_path_factory: pytest.TempPathFactory, small_sample: Path) -> Path:
    """Two good scenes, then one outside the AOI, a duplicate id, an unsafe id and an unreadable item."""
    root = tmp_path_factory.mktemp("mixed") / "source"
    scenes = _scene_dirs(small_sample)
    good = [_copy_scene(scenes[0], root), _copy_scene(scenes[1], root)]
    far = _copy_scene(scenes[2], root, name="S2A_43SDA_20990101_0_L2A", id="S2A_43SDA_20990101_0_L2A")
    for band in far.glob("*.tif"):
        _shift(band, 300_000.0)
    _copy_scene(scenes[0], root, name="zz_duplicate_copy")  # same item id as good[0]
    _copy_scene(scenes[3], root, name="unsafe", id="../../escaped")
    broken = root / "sentinel2" / "broken"
    broken.mkdir()
    (broken / "broken.json").write_text("{ not json")
    assert len(good) == 2
    return root


def test_unusable_inputs_are_skipped_listed_and_summarized(mixed_source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "s2"
    code, output = _invoke("create-collection", "sentinel2", str(mixed_source), str(dest))
    assert code == 0, output
    (summary,) = [line for line in output.splitlines() if line.startswith("sentinel2: ")]
    assert summary.startswith("sentinel2: 2 scenes kept, 4 skipped ("), output
    for reason in ("1 outside the AOI", "1 duplicate scene id", "1 not a readable STAC item", "1 unsafe id"):
        assert reason in summary, output
    skipped = _skipped(dest)
    assert skipped["S2A_43SDA_20990101_0_L2A"]["reason"].startswith("outside the AOI")
    assert skipped["zz_duplicate_copy"]["reason"].startswith("duplicate scene id: ")
    assert "not a safe file name" in skipped["unsafe"]["reason"]
    assert "broken/broken.json" in skipped["broken"]["reason"]
    assert {entry["kind"] for entry in skipped.values()} == {"input"}
    assert not (tmp_path / "escaped").exists() and not (mixed_source / "escaped").exists()
    assert not list(tmp_path.rglob("escaped*"))
    items = list(pystac.Collection.from_file(str(dest / "collection.json")).get_items(recursive=True))
    assert len(items) == 2
    assert not check_catalog(dest).errors


def test_strict_turns_a_skip_into_one_line(mixed_source: Path, tmp_path: Path) -> None:
    code, output = _invoke(
        "create-collection", "sentinel2", str(mixed_source), str(tmp_path / "s2"), "--strict"
    )
    assert code == 1 and "--strict" in _one_line_error(output)
    assert not (tmp_path / "s2").exists()


def test_only_unusable_inputs_is_one_line_naming_the_modality_and_reasons(
    small_sample: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    for scene, dx in zip(_scene_dirs(small_sample)[:2], (300_000.0, -300_000.0), strict=True):
        moved = _copy_scene(scene, source)
        for band in moved.glob("*.tif"):
            _shift(band, dx)
    code, output = _invoke("create-collection", "sentinel2", str(source), str(tmp_path / "s2"))
    line = _one_line_error(output)
    assert code == 1 and "no usable sentinel2 scene: 2 outside the AOI" in line


@pytest.mark.parametrize("item_id", ["../../x", "/abs/x", ".hidden", "a/b"])
def test_create_item_refuses_an_id_that_is_not_one_safe_file_name(
    small_sample: Path, tmp_path: Path, item_id: str
) -> None:
    scene = _copy_scene(_scene_dirs(small_sample)[0], tmp_path / "source", name="scene", id=item_id)
    dest = tmp_path / "a" / "b" / "item"
    code, output = _invoke("create-item", "sentinel2", str(scene / "scene.json"), str(dest))
    assert code == 1 and "not a safe file name" in _one_line_error(output)
    assert not dest.exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and (tmp_path / "source") not in p.parents]
    assert written == [], written
    assert not Path("/abs/x.json").exists()


def test_a_band_of_the_wrong_size_is_named(small_sample: Path, tmp_path: Path) -> None:
    scene = _copy_scene(_earth_search_scene(small_sample), tmp_path / "source")
    with rasterio.open(scene / "B04.tif") as source:
        profile, data = source.profile, source.read(1)
    profile.update(driver="GTiff", width=data.shape[1] // 2, height=data.shape[0] // 2)
    for key in ("blockxsize", "blockysize", "tiled", "interleave"):
        profile.pop(key, None)
    with rasterio.open(scene / "B04.tif", "w", **profile) as target:
        target.write(np.ascontiguousarray(data[::2, ::2]), 1)
    item = next(scene.glob("*.json"))
    code, output = _invoke("create-item", "sentinel2", str(item), str(tmp_path / "item"))
    line = _one_line_error(output)
    assert code == 1 and "B04.tif: band 'red'" in line, line


def test_a_fifo_band_is_refused_not_waited_for(small_sample: Path, tmp_path: Path) -> None:
    scene = _copy_scene(_earth_search_scene(small_sample), tmp_path / "source")
    (scene / "B08.tif").unlink()
    os.mkfifo(scene / "B08.tif")
    item = next(scene.glob("*.json"))
    code, output = _invoke("create-item", "sentinel2", str(item), str(tmp_path / "item"))
    line = _one_line_error(output)
    assert code == 1 and "B08.tif: band asset 'nir' is not a regular file" in line, line


def test_validate_reports_hrefs_that_leave_the_catalog_and_reads_nothing_there(
    standalone: dict[str, Path], tmp_path: Path
) -> None:
    root = Path(shutil.copytree(standalone["events"], tmp_path / "events"))
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the catalog")
    digest = "1220" + hashlib.sha256(outside.read_bytes()).hexdigest()
    collection_file = root / "collection.json"
    document = json.loads(collection_file.read_text())
    document.setdefault("assets", {})["escape"] = {
        "href": "../secret.txt",
        "type": "text/plain",
        "roles": ["metadata"],
        "file:size": outside.stat().st_size,
        "file:checksum": digest,
    }
    document["assets"]["absolute"] = {"href": str(outside), "type": "text/plain", "roles": ["metadata"]}
    document["links"].append({"rel": "child", "href": "../../elsewhere/catalog.json", "title": "away"})
    collection_file.write_text(json.dumps(document))
    report = check_catalog(root)
    messages = [p.message for p in report.errors if p.rule == "href"]
    assert any("'escape'" in m and "leaves the catalog" in m for m in messages), messages
    assert any("'absolute'" in m and "absolute local href" in m for m in messages), messages
    assert any("link 'child'" in m and "leaves the catalog" in m for m in messages), messages
    assert not [p for p in report.problems if p.rule in ("checksum", "size", "broken-link")]
    code, output = _invoke("validate", str(root))
    assert code == 1 and "leaves the catalog" in output


def test_an_unreadable_modis_file_skips_its_day_and_is_listed(small_sample: Path, tmp_path: Path) -> None:
    source = tmp_path / "source" / "modis"
    source.mkdir(parents=True)
    files = sorted(p for p in (small_sample / "modis").rglob("MOD11A1.A2021*") if p.is_file())
    for path in files:
        shutil.copy(path, source / path.name)
    days = sorted({p.name.split(".")[1] for p in files})
    victim = next(source.glob(f"MOD11A1.{days[3]}.*"))
    victim.write_bytes(b"not a MODIS file")
    dest = tmp_path / "modis"
    code, output = _invoke("create-collection", "modis", str(tmp_path / "source"), str(dest))
    assert code == 0, output
    assert f"\nmodis: {len(days) - 1} days kept, 1 skipped (1 unreadable raster)\n" in f"\n{output}", output
    (entry,) = _skipped(dest).values()
    assert entry["kind"] == "input" and victim.name in entry["reason"]
    code, output = _invoke(
        "create-collection", "modis", str(tmp_path / "source"), str(tmp_path / "m2"), "--strict"
    )
    assert code == 1 and victim.name in _one_line_error(output)


def test_a_collection_built_inside_its_source_is_not_read_back(small_sample: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    for scene in _scene_dirs(small_sample)[:2]:
        _copy_scene(scene, source)
    dest = source / "sentinel2" / "built"
    trees = []
    for _ in range(2):
        code, output = _invoke("create-collection", "sentinel2", str(source), str(dest))
        assert code == 0, output
        trees.append({p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()})
    assert trees[0] == trees[1]
    collection = pystac.Collection.from_file(str(dest / "collection.json"))
    assert len(list(collection.get_items(recursive=True))) == 2
    assert not GlofnetExtension.ext(collection).skipped
