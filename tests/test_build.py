"""create-catalog end to end: offline validation, relative links, determinism, bad input."""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pystac
import pytest
from click.testing import CliRunner, Result
from stactools.cli.cli import cli

from stactools_glofnet.build import BuildSettings, create_collection
from stactools_glofnet.core.memo import FILES, JOBS, RESULT
from stactools_glofnet.core.output import memo_store
from stactools_glofnet.core.rebuild import forget
from stactools_glofnet.core.schemas import offline_first_validation


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _stac_files(root: Path) -> list[Path]:
    """The catalog's STAC JSON documents (not JSON data assets such as the LST trend)."""
    return [p for p in sorted(root.rglob("*.json")) if "stac_version" in json.loads(p.read_text())]


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["glofnet", *args])


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_every_object_validates_offline_with_pystac_validate_all(
    built_catalog: Path, schema_dir: Path
) -> None:
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    files = _stac_files(built_catalog)
    items = [f for f in files if json.loads(f.read_text())["type"] == "Feature"]
    with offline_first_validation([schema_dir]):
        # validate_all checks every catalog and collection and returns the number of items.
        assert root.validate_all() == len(items) >= 10


def test_links_are_relative_and_self_contained(built_catalog: Path) -> None:
    for path in _stac_files(built_catalog):
        document = json.loads(path.read_text())
        for link in document["links"]:
            assert link["rel"] != "self", path
            if link["rel"] in ("root", "parent", "child", "item", "collection"):
                assert not link["href"].startswith(("/", "file:", "http")), (path, link)
                assert (path.parent / link["href"]).resolve().is_file(), (path, link)
                assert link.get("title"), (path, link)
        for asset in document.get("assets", {}).values():
            assert not asset["href"].startswith("/") and (path.parent / asset["href"]).exists()


def test_source_date_epoch_sets_the_processing_time(
    tmp_path: Path, small_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    create_collection("events", small_sample, tmp_path / "events", settings=BuildSettings(validate=False))
    collection = json.loads((tmp_path / "events" / "collection.json").read_text())
    processors = [p for p in collection["providers"] if "processing:datetime" in p]
    assert [p["processing:datetime"] for p in processors] == ["2023-11-14T22:13:20Z"]


def test_main_command_builds_from_the_bundled_sample(
    tmp_path: Path,
    schema_dir: Path,
    built_catalog: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's main command, as a user runs it again: on a local cluster of one worker per
    core (no ``--workers``), with the job results kept by an earlier build (``built_catalog``'s,
    copied beside DEST) less the harmonized collection's and its cube's tile jobs: the other
    collections are taken whole, the tiles are computed again on the cluster, and the catalog is
    the same bytes as the API's build from scratch in one process. A rebuild that computes nothing
    starts no cluster. (Each modality built from scratch on a cluster: tests/test_standalone.py.)"""
    cores = len(os.sched_getaffinity(0))
    # the tiles take seconds: in the build's process at first, on a cluster once they pass the
    # engine's budget for that; none here, so that the cluster's output is what is compared
    monkeypatch.setenv("GLOFNET_IN_PROCESS_SECONDS", "0")
    dest = tmp_path / "catalog"
    shutil.copytree(memo_store(built_catalog), memo_store(dest))
    tiles = 0
    for entry in (memo_store(dest) / JOBS).iterdir():
        _, kept = pickle.loads((entry / RESULT).read_bytes())
        if (entry / FILES / "harmonized_cube.zarr" / ".zmetadata").is_file():
            shutil.rmtree(entry)  # the harmonized collection's whole result
        elif type(kept.result).__name__ == "_TileResult":
            shutil.rmtree(entry)  # one tile of the cube
            tiles += 1
    assert tiles > 2
    command = ["glofnet", "-v", "create-catalog", str(dest), "--schema-dir", str(schema_dir)]
    with caplog.at_level(logging.INFO, logger="stactools_glofnet"):
        result = CliRunner(env={"GLOFNET_WORKERS": None}).invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert (f"running on a local dask cluster of {cores} workers" in caplog.text) == (cores > 1)
    stages = re.findall(r"stage (\S+): [0-9.]+ s", caplog.text)  # what scripts/bench reads
    assert stages == ["sentinel2", "itslive", "modis", "harmonized", "events", "layout", "validation"]
    if cores > 1:  # the workers are gone before the layout and validation, which need none
        closed = caplog.text.index("closing the local dask cluster")
        assert caplog.text.index("stage events") < closed < caplog.text.index("stage layout")
    assert "Traceback" not in result.output
    assert "glofnet-events" in result.output and "valid" in result.output
    whole = "sentinel2, itslive, modis, events taken whole"
    reused = re.search(rf"reused from the last build: {whole}; (\d+) of (\d+) jobs", result.output)
    assert reused and int(reused[2]) - int(reused[1]) == tiles
    assert _tree(dest) == _tree(built_catalog)  # the command and the API build the same bytes
    # beside DEST only the kept job results of its next rebuild (no staging, no lock)
    assert [p.name for p in tmp_path.glob(".glofnet-*")] == [memo_store(dest).name]

    forget(memo_store(dest))  # built again, with every collection taken whole: no cluster starts
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stactools_glofnet"):
        result = CliRunner(env={"GLOFNET_WORKERS": None}).invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert "harmonized, events taken whole" in result.output
    assert "dask cluster" not in caplog.text
    assert _tree(dest) == _tree(built_catalog)


@pytest.mark.parametrize("problem", ["missing", "empty", "file", "no-inputs"])
def test_unusable_source_is_one_line_and_leaves_no_dest(tmp_path: Path, problem: str) -> None:
    source = tmp_path / "source"
    if problem == "empty":
        source.mkdir()
    elif problem == "file":
        source.write_text("not a directory")
    elif problem == "no-inputs":
        source.mkdir()
        (source / "notes.txt").write_text("hello")
    dest = tmp_path / "dest"
    line = _one_error_line(_run("create-catalog", str(source), str(dest)))
    assert line.startswith(f"Error: {source}: ")
    assert not dest.exists()
    assert not list(tmp_path.glob(".glofnet-staging-*"))


@pytest.mark.parametrize(
    ("victim", "damage", "expected"),
    [
        ("truth.json", "truncate", "truncated or altered"),
        ("truth.json", "flip", "does not match its SHA-256"),
        ("sample.json", "garble", "not valid JSON"),
        ("truth.json", "delete", "listed in sample.json but missing"),
    ],
)
def test_corrupt_source_file_is_named_and_an_existing_dest_survives(
    tmp_path: Path, small_sample: Path, victim: str, damage: str, expected: str
) -> None:
    source = tmp_path / "source"
    shutil.copytree(small_sample, source)
    target = source / victim
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        target.write_bytes(data.replace(b"2019", b"2091", 1))
    elif damage == "garble":
        target.write_bytes(data[:-20])
    else:
        target.unlink()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "catalog.json").write_text("previous build")
    line = _one_error_line(_run("create-catalog", str(source), str(dest)))
    assert f"{target}: " in line and expected in line
    assert _tree(dest) == {"catalog.json": b"previous build"}


def test_cli_error_has_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    stac = Path(sys.executable).parent / "stac"
    missing = tmp_path / "nowhere"
    result = subprocess.run(
        [str(stac), "glofnet", "create-catalog", str(missing), str(tmp_path / "dest")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: {missing}: SOURCE does not exist"


def test_create_collection_builds_the_events_alone(
    tmp_path: Path, small_sample: Path, schema_dir: Path
) -> None:
    dest = tmp_path / "events"
    result = _run(
        "create-collection", "events", str(small_sample), str(dest), "--schema-dir", str(schema_dir)
    )
    assert result.exit_code == 0, result.output
    collection = pystac.Collection.from_file(str(dest / "collection.json"))
    assert collection.id == "glofnet-events"
    assert len(list(collection.get_items(recursive=True))) >= 10


def test_pystac_client_browses_the_static_catalog(built_catalog: Path) -> None:
    import warnings

    from pystac_client import Client

    with warnings.catch_warnings():
        # pystac-client warns that a static catalog is not a STAC API; that is what it is.
        warnings.simplefilter("ignore")
        client = Client.open(str(built_catalog / "catalog.json"))
        collections = {c.id: c for c in client.get_collections()}
        assert set(collections) == {
            "glofnet-events",
            "glofnet-sentinel2",
            "glofnet-itslive",
            "glofnet-modis-lst",
            "glofnet-harmonized",
        }
        scenes = list(collections["glofnet-sentinel2"].get_items(recursive=True))
    assert len(scenes) >= 15 and all(item.collection_id == "glofnet-sentinel2" for item in scenes)
