"""``stac glofnet validate`` on the built catalog: each kind of damage is one line naming the file.

Every test breaks a copy of the session's built catalog in one way and checks that validation
reports exactly that problem, with the right severity and exit status.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import rasterio
from click.testing import CliRunner, Result
from rasterio.enums import Resampling
from stactools.cli.cli import cli

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import multihash_sha256
from stactools_glofnet.core.schemas import schema_cache_dir
from stactools_glofnet.validate import CHECKS, validate_catalog


@pytest.fixture
def catalog(tmp_path: Path, built_catalog: Path) -> Path:
    copy = tmp_path / "catalog"
    shutil.copytree(built_catalog, copy)
    return copy


def _validate(catalog: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["glofnet", "validate", str(catalog), *extra])


def _lines(result: Result, prefix: str) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith(prefix)]


def _one_error(result: Result, check: str, path: Path) -> str:
    """The one ERROR line of a failed run, which must be of ``check`` and name ``path``."""
    assert result.exit_code == 1, result.output
    errors = _lines(result, "ERROR ")
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"ERROR {check} {path}: "), errors[0]
    return errors[0]


def _read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _write(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2))


def _first_item(catalog: Path) -> Path:
    return sorted(catalog.glob("glofnet-events/*/*.json"))[0]


def _first_scene(catalog: Path) -> Path:
    return sorted(catalog.glob("glofnet-sentinel2/*/*.json"))[0]


def _refresh_file_fields(document: dict[str, Any], key: str, path: Path) -> None:
    """Make ``file:size`` / ``file:checksum`` of asset ``key`` describe the file as it is now."""
    asset = document["assets"][key]
    asset["file:size"] = path.stat().st_size
    asset["file:checksum"] = multihash_sha256(path)


def test_valid_catalog_has_a_summary_and_no_errors_or_lint(catalog: Path, schema_dir: Path) -> None:
    result = _validate(catalog, "--schema-dir", str(schema_dir))
    assert result.exit_code == 0, result.output
    stac = [p for p in catalog.rglob("*.json") if "stac_version" in json.loads(p.read_text())]
    assets = sum(len(_read(p).get("assets", {})) for p in stac)
    lines = result.output.splitlines()
    assert lines[0].split() == ["check", "checked", "errors", "warnings"]
    table = {line.split()[0]: line.split()[1:] for line in lines[1 : 1 + len(CHECKS)]}
    assert set(table) == set(CHECKS)
    for check in ("structure", "schema", "lint"):
        assert table[check] == [str(len(stac)), "objects", "0", "0"]
    assert table["integrity"][:3] == [str(assets), "assets", "0"]
    assert f"{catalog}: valid; {len(stac)} objects and {assets} assets checked, 0 errors" in result.output
    assert not _lines(result, "ERROR") and not _lines(result, "WARNING lint")


def test_schema_violation_names_the_object_and_field(catalog: Path, schema_dir: Path) -> None:
    item = _first_item(catalog)
    document = _read(item)
    document["properties"]["label:type"] = "pixels"
    _write(item, document)
    line = _one_error(_validate(catalog, "--schema-dir", str(schema_dir)), "schema", item)
    assert "properties/label:type" in line and "label/v1.0.1" in line


def test_altered_asset_fails_its_checksum(catalog: Path, schema_dir: Path) -> None:
    geojson = sorted(catalog.glob("glofnet-events/shisper-surge-*/*.geojson"))[0]  # the glacier outline
    text = geojson.read_text()
    altered = text.replace("74.535", "74.536", 1)  # one vertex moved by 100 m; same size
    assert altered != text
    geojson.write_text(altered)
    line = _one_error(_validate(catalog, "--schema-dir", str(schema_dir)), "integrity", geojson)
    assert "does not match its file:checksum" in line


def test_missing_asset_file_is_named(catalog: Path, schema_dir: Path) -> None:
    scene = _first_scene(catalog)
    band = scene.parent / "B03.tif"
    band.unlink()
    line = _one_error(_validate(catalog, "--schema-dir", str(schema_dir)), "integrity", band)
    assert f"asset 'green' of {scene.stem} is missing" in line


def rewrite_as_plain_tiff(band: Path) -> None:
    """Write ``band``'s pixels again as a tiled GeoTIFF with its overviews after the image: the
    classic layout that is not a COG."""
    with rasterio.open(band) as source:
        data, profile = source.read(), source.profile
    profile.update(driver="GTiff", tiled=True, blockxsize=256, blockysize=256)
    band.unlink()
    with rasterio.open(band, "w", **profile) as target:
        target.write(data)
    with rasterio.open(band, "r+") as target:
        target.build_overviews([2, 4], Resampling.nearest)


def test_tiff_that_is_not_a_cog_fails_cog_validation(catalog: Path, schema_dir: Path) -> None:
    scene = _first_scene(catalog)
    band = scene.parent / "B04.tif"
    rewrite_as_plain_tiff(band)
    document = _read(scene)
    _refresh_file_fields(document, "red", band)  # the file is what the item says: only its layout is wrong
    _write(scene, document)
    line = _one_error(_validate(catalog, "--schema-dir", str(schema_dir)), "integrity", band)
    assert "is not a valid COG: " in line and "overview" in line


@pytest.mark.parametrize(
    ("change", "expected"),
    [("undeclare", "not declared: valid_night"), ("declare", "declared but absent: LST_Noon")],
)
def test_zarr_variables_must_match_cube_variables(
    catalog: Path, schema_dir: Path, change: str, expected: str
) -> None:
    collection = catalog / "glofnet-modis-lst" / "collection.json"
    document = _read(collection)
    variables = document["assets"]["lst_cube"]["cube:variables"]
    if change == "undeclare":
        del variables["valid_night"]
    else:
        variables["LST_Noon"] = dict(variables["LST_Day"], description="not in the store")
    _write(collection, document)
    store = catalog / "glofnet-modis-lst" / "lst_cube.zarr"
    line = _one_error(_validate(catalog, "--schema-dir", str(schema_dir)), "integrity", store)
    assert "disagree with cube:variables" in line and line.endswith(expected)


def test_parquet_columns_must_match_table_columns(catalog: Path, schema_dir: Path) -> None:
    table_path = catalog / "glofnet-modis-lst" / "lst_daily.parquet"
    table = pq.read_table(table_path)
    pq.write_table(table.drop_columns(["tiles"]), table_path)
    collection = catalog / "glofnet-modis-lst" / "collection.json"
    document = _read(collection)
    _refresh_file_fields(document, "lst_daily", table_path)
    _write(collection, document)
    line = _one_error(_validate(catalog, "--schema-dir", str(schema_dir)), "integrity", table_path)
    assert "disagree with table:columns" in line and line.endswith("declared but absent: tiles")


@pytest.fixture
def lint_broken(catalog: Path) -> dict[str, Path]:
    """A copy of the catalog with one best-practice lapse in each of four objects, by rule."""
    root = catalog / "catalog.json"
    document = _read(root)
    next(link for link in document["links"] if link["rel"] == "child").pop("title")
    _write(root, document)

    scene = _first_scene(catalog)
    document = _read(scene)
    del document["assets"]["blue"]["roles"]
    _write(scene, document)

    events = catalog / "glofnet-events" / "collection.json"
    document = _read(events)
    del document["summaries"]
    _write(events, document)

    item = _first_item(catalog)
    document = _read(item)
    document["properties"]["description"] = "x" * (1 << 20)
    _write(item, document)
    return {"link-title": root, "asset-roles": scene, "summaries": events, "json-size": item}


def test_lint_findings_are_warnings_naming_object_and_rule(
    catalog: Path, schema_dir: Path, lint_broken: dict[str, Path]
) -> None:
    result = _validate(catalog, "--schema-dir", str(schema_dir))
    assert result.exit_code == 0, result.output  # warnings alone do not fail
    warnings = _lines(result, "WARNING lint ")
    assert len(warnings) == len(lint_broken), result.output
    for rule, path in lint_broken.items():
        assert sum(w.startswith(f"WARNING lint {path}: {rule}: ") for w in warnings) == 1, (rule, warnings)
    assert "asset 'blue' has no roles" in result.output
    assert not _lines(result, "ERROR")


def test_json_format_and_strict_mode(catalog: Path, schema_dir: Path, lint_broken: dict[str, Path]) -> None:
    result = _validate(catalog, "--schema-dir", str(schema_dir), "--format", "json", "--strict")
    assert result.exit_code == 1, result.output  # --strict: warnings fail too
    report = json.loads(result.output)
    assert report["valid"] is True and report["errors"] == 0
    assert report["checks"]["lint"]["warnings"] == len(lint_broken)
    assert report["checks"]["schema"]["checked"] == report["objects"] > 90
    lint = [p for p in report["problems"] if p["check"] == "lint"]
    assert {p["rule"]: Path(p["path"]) for p in lint} == lint_broken
    assert all(p["severity"] == "warning" for p in lint)


def test_validate_catalog_raises_on_the_first_error_and_counts_the_rest(
    catalog: Path, schema_dir: Path
) -> None:
    scene = _first_scene(catalog)
    for band in ("B11.tif", "B12.tif"):
        (scene.parent / band).unlink()
    with pytest.raises(GlofnetError) as raised:
        validate_catalog(catalog, [schema_dir])
    assert raised.value.path == str(scene.parent / "B11.tif")
    assert raised.value.reason.startswith(f"integrity: asset 'swir16' of {scene.stem} is missing")
    assert raised.value.reason.endswith("(and 1 more error; run stac glofnet validate to list them)")


UNSHIPPED = "https://stac-extensions.github.io/not-shipped/v9.9.9/schema.json"


def _declare_unshipped_extension(catalog: Path) -> None:
    """Make the root declare an extension whose schema is neither shipped nor reachable."""
    root = catalog / "catalog.json"
    document = _read(root)
    document["stac_extensions"] = [*document.get("stac_extensions", []), UNSHIPPED]
    _write(root, document)


def test_missing_schema_offline_is_a_clear_error(catalog: Path) -> None:
    _declare_unshipped_extension(catalog)
    result = _validate(catalog)
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and "--schema-dir" in line and UNSHIPPED in line


@pytest.fixture
def schema_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving one extension schema."""
    root = tmp_path / "www"
    (root / "demo" / "v1.0.0").mkdir(parents=True)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/demo/v1.0.0/schema.json"
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": url,
        "type": "object",
        "properties": {"properties": {"type": "object", "required": ["demo:flag"]}},
    }
    (root / "demo" / "v1.0.0" / "schema.json").write_text(json.dumps(schema))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()
    thread.join()


def test_schema_fetched_once_is_cached_for_offline_use(
    catalog: Path, schema_dir: Path, schema_server: str
) -> None:
    item = _first_item(catalog)
    document = _read(item)
    document["stac_extensions"].append(schema_server)
    document["properties"]["demo:flag"] = True
    _write(item, document)
    validate_catalog(catalog, [schema_dir])
    cached = schema_cache_dir() / schema_server.removeprefix("http://")
    try:
        assert cached.is_file()
        # The next run needs no server: drop the flag and the cached schema still rejects the item.
        del document["properties"]["demo:flag"]
        _write(item, document)
        line = _one_error(_validate(catalog, "--schema-dir", str(schema_dir)), "schema", item)
        assert "demo:flag" in line
    finally:
        cached.unlink(missing_ok=True)


def test_offline_failure_prints_no_traceback(catalog: Path) -> None:
    _declare_unshipped_extension(catalog)
    stac = Path(sys.executable).parent / "stac"
    env = {k: v for k, v in os.environ.items() if k != "GLOFNET_SCHEMA_DIR"}
    result = subprocess.run(
        [str(stac), "glofnet", "validate", str(catalog)], capture_output=True, text=True, check=False, env=env
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
