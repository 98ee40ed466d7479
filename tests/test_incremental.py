"""Incremental rebuilds: a rebuild into the same DEST recomputes only the inputs that changed.

The truth is a build from scratch: whatever was reused, the rebuilt DEST must equal a fresh build
of the same SOURCE byte for byte. What was reused is seen in the files themselves: a reused
scene's COGs are the very files (same inode) the earlier build wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from stactools.cli.cli import cli

from stactools_glofnet.build import BuildReport, BuildSettings, create_catalog, create_collection
from stactools_glofnet.core.memo import FILES, JOBS, RESULT
from stactools_glofnet.core.output import memo_store

SCENES = 8


def _files(root: Path) -> dict[str, tuple[str, int]]:
    """``{relative path: (sha256, inode)}`` of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_ino)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _bytes(root: Path) -> dict[str, str]:
    return {name: sha for name, (sha, _) in _files(root).items()}


def _sentinel2_source(small_sample: Path, tmp_path: Path, count: int = SCENES) -> Path:
    """A SOURCE with the first scenes of the sample (its COG forms, which can be edited in place)."""
    source = tmp_path / "source"
    scenes = sorted(p for p in (small_sample / "sentinel2").iterdir() if (p / "B04.tif").is_file())
    for scene in scenes[:count]:
        shutil.copytree(scene, source / "sentinel2" / scene.name)
    return source


def _build(source: Path, dest: Path, **settings: object) -> BuildReport:
    return create_collection(
        "sentinel2",
        source,
        dest,
        settings=BuildSettings(validate=False, **settings),  # type: ignore[arg-type]
    )


def _brighten(band: Path) -> None:
    """Change some DN of one band file in place (a reprocessed scene)."""
    with rasterio.open(band, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
        data = dataset.read(1)
        data[data > 0] += np.uint16(37)
        dataset.write(data, 1)


def test_an_unchanged_rebuild_leaves_dest_as_it_was(small_sample: Path, tmp_path: Path) -> None:
    source = _sentinel2_source(small_sample, tmp_path)
    dest = tmp_path / "dest"
    first = _build(source, dest)
    assert not first.unchanged
    before = _files(dest)
    again = _build(source, dest)
    assert again.unchanged
    assert again.collections == first.collections
    assert _files(dest) == before  # not one file rewritten: same bytes, same inodes


def test_one_changed_scene_changes_exactly_the_files_that_depend_on_it(
    small_sample: Path, tmp_path: Path
) -> None:
    source = _sentinel2_source(small_sample, tmp_path)
    dest = tmp_path / "dest"
    _build(source, dest)
    before = _files(dest)
    changed = sorted((source / "sentinel2").iterdir())[2]
    _brighten(changed / "B04.tif")

    report = _build(source, dest)
    assert f"reused from the last build: {SCENES - 1} of {SCENES} jobs" in report.summary
    scratch = tmp_path / "scratch"
    _build(source, scratch, from_scratch=True)
    assert _bytes(dest) == _bytes(scratch)  # reuse gives a build from scratch, byte for byte

    after = _files(dest)
    assert set(after) == set(before)
    rewritten = {name for name in after if after[name][0] != before[name][0]}
    scene_files = {name for name in after if name.startswith(f"{changed.name}/")}
    # the scene's red reflectance and its true-colour thumbnail change; its SCL and NDWI do not
    assert {f"{changed.name}/B04.tif", f"{changed.name}/thumbnail.png"} <= rewritten
    assert f"{changed.name}/NDWI.tif" not in rewritten
    other_items = {name for name in after if "/" in name and not name.startswith(changed.name)}
    other_items = {n for n in other_items if not n.split("/", 1)[0].endswith(".zarr")}
    assert other_items, "the other scenes' files"
    assert not rewritten & other_items  # no other scene's file changed...
    data_files = {n for n in other_items if not n.endswith(".json")}  # (item JSON is saved anew)
    assert data_files and all(after[n][1] == before[n][1] for n in data_files)  # ...or was recomputed
    assert rewritten - scene_files <= {
        "collection.json",
        "items.parquet",
        "lake_area.parquet",
        "lake_area.png",
        "thumbnail.png",
    } | {n for n in after if n.startswith("patches.zarr/")}
    # the old DEST's removal unlinked files the new one shares: DEST is still current after it
    assert _build(source, dest).unchanged


def test_from_scratch_recomputes_every_scene_and_a_corrupt_kept_result_is_recomputed(
    small_sample: Path, tmp_path: Path
) -> None:
    source = _sentinel2_source(small_sample, tmp_path)
    dest = tmp_path / "dest"
    _build(source, dest)
    expected = _bytes(dest)
    entries = sorted((memo_store(dest) / JOBS).iterdir())
    scenes = [e for e in entries if not (e / FILES / "lake_area.parquet").exists()]
    assert len(scenes) == SCENES and len(entries) == SCENES + 1  # each scene, and the collection
    (scenes[0] / RESULT).write_bytes(b"not a pickle")
    (source / "sentinel2" / "notes.txt").write_text("a new file: the collection is made again\n")

    report = _build(source, dest)
    assert f"reused from the last build: {SCENES - 1} of {SCENES} jobs" in report.summary
    assert _bytes(dest) == expected
    result = CliRunner().invoke(
        cli, ["glofnet", "create-collection", "sentinel2", str(source), str(dest), "--from-scratch"]
    )
    assert result.exit_code == 0, result.output
    assert "reused" not in result.output
    assert _bytes(dest) == expected


@pytest.mark.parametrize("modality", ["itslive", "modis"])
def test_touched_inputs_take_the_whole_collection_from_the_last_build(
    modality: str, small_sample: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    if modality == "itslive":  # a few granule files
        (source / modality).mkdir(parents=True)
        for granule in sorted((small_sample / modality).glob("*.nc"))[:8]:
            shutil.copy(granule, source / modality / granule.name)
    else:  # the sample's first year
        year = sorted(p for p in (small_sample / modality).iterdir() if p.is_dir())[0]
        shutil.copytree(year, source / modality / year.name)
    dest = tmp_path / "dest"
    _ = create_collection(modality, source, dest, settings=BuildSettings(validate=False))
    expected = _bytes(dest)
    for path in (source / modality).rglob("*"):
        if path.is_file():
            os.utime(path)
    report = create_collection(modality, source, dest, settings=BuildSettings(validate=False))
    assert not report.unchanged  # the signatures changed, so the build ran...
    assert f"reused from the last build: {modality} taken whole" in report.summary  # ...on the same bytes
    assert _bytes(dest) == expected


def test_a_catalog_rebuilt_with_dest_inside_source_is_current(small_sample: Path, tmp_path: Path) -> None:
    """The memo store and the lock beside DEST are not inputs: they do not make the build stale."""
    source = _sentinel2_source(small_sample, tmp_path)
    dest = source / "out"
    first = create_catalog(dest, source, settings=BuildSettings(validate=False))
    assert first.collections == ["glofnet-sentinel2", "glofnet-events"]
    before = _files(dest)
    again = create_catalog(dest, source, settings=BuildSettings(validate=False))
    assert again.unchanged
    assert _files(dest) == before


def test_a_scene_with_a_broken_band_is_kept_as_a_skip_and_restored(
    small_sample: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The skip's error carries no chained GDAL error (dask's tblib pickling would keep one, and it
    cannot be unpickled), so the kept result restores on the next build."""
    from tblib import pickling_support  # type: ignore[import-untyped]

    pickling_support.install()  # as dask.distributed does on import
    source = _sentinel2_source(small_sample, tmp_path)
    broken = sorted((source / "sentinel2").iterdir())[1]
    (broken / "B04.tif").write_bytes(b"not a raster")
    dest = tmp_path / "dest"
    _build(source, dest)
    (source / "sentinel2" / "notes.txt").write_text("a new file: the collection is made again\n")
    report = _build(source, dest)
    assert f"reused from the last build: {SCENES} of {SCENES} jobs" in report.summary
    assert "ignoring an unreadable kept result" not in caplog.text
    skipped = json.loads((dest / "collection.json").read_text())["glofnet:skipped"]
    assert [s["id"] for s in skipped if "unreadable raster" in s["reason"]] == [broken.name]


def test_a_rebuild_validates_again_only_the_files_that_changed(
    small_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema_dir: Path
) -> None:
    """Validation results of the last build are kept by the bytes they judged: rio-cogeo runs
    again only on the changed scene's new COGs, and the schema check only on changed documents."""
    from rio_cogeo.cogeo import cog_validate

    from stactools_glofnet.validation import integrity, schema

    source = _sentinel2_source(small_sample, tmp_path, count=4)
    dest = tmp_path / "dest"
    settings = {"validate": True, "schema_dirs": (schema_dir,)}
    create_collection("sentinel2", source, dest, settings=BuildSettings(**settings))  # type: ignore[arg-type]
    before = _bytes(dest)
    changed = sorted((source / "sentinel2").iterdir())[2]
    _brighten(changed / "B04.tif")
    cogs: list[str] = []
    documents: list[str] = []

    def counted_cog(path: str, **kwargs: Any) -> object:
        cogs.append(Path(path).relative_to(dest.parent).as_posix().split("/", 2)[-1])
        return cog_validate(path, **kwargs)

    def counted_schema(document: object) -> object:
        documents.append(Path(document.path).name)  # type: ignore[attr-defined]
        return check_schemas(document)  # type: ignore[arg-type]

    check_schemas = schema.check_schemas
    monkeypatch.setattr(integrity, "cog_validate", counted_cog)
    monkeypatch.setattr("stactools_glofnet.validation.catalog.check_schemas", counted_schema)
    report = create_collection("sentinel2", source, dest, settings=BuildSettings(**settings))  # type: ignore[arg-type]
    assert report.validation is not None and not report.validation.errors
    after = _bytes(dest)
    new_cogs = {n for n in after if n.endswith(".tif") and after[n] != before.get(n)}
    assert new_cogs and new_cogs <= {n for n in after if n.startswith(f"{changed.name}/")}
    assert sorted(cogs) == sorted(new_cogs)  # the COGs rebuilt with new bytes, no other
    new_documents = {n for n in after if n.endswith(".json") and after[n] != before.get(n)}
    assert len(documents) == len(new_documents) < len([n for n in after if n.endswith(".json")])


def test_a_new_processing_time_is_not_taken_from_the_last_build(
    small_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SOURCE_DATE_EPOCH is written into every collection's providers: kept results made under
    another one are not reused."""
    dest = tmp_path / "events"
    for epoch, expected in (("1700000000", "2023-11-14T22:13:20Z"), ("1700086400", "2023-11-15T22:13:20Z")):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        report = create_collection("events", small_sample, dest, settings=BuildSettings(validate=False))
        assert not any(line.startswith("reused") for line in report.summary)
        collection = json.loads((dest / "collection.json").read_text())
        times = [p["processing:datetime"] for p in collection["providers"] if "processing:datetime" in p]
        assert times == [expected]
