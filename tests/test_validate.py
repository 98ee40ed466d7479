"""``stac glofnet validate``: schemas resolve offline-first; broken objects and assets are named."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from stactools.cli.cli import cli

from stactools_glofnet.core.schemas import schema_cache_dir
from stactools_glofnet.validate import validate_catalog


@pytest.fixture
def catalog(tmp_path: Path, built_catalog: Path) -> Path:
    copy = tmp_path / "catalog"
    shutil.copytree(built_catalog, copy)
    return copy


def _validate(catalog: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["glofnet", "validate", str(catalog), *extra])


def _first_item(catalog: Path) -> Path:
    return sorted(catalog.glob("glofnet-events/*/*/*.json"))[0]


def test_valid_catalog_reports_counts(catalog: Path, schema_dir: Path) -> None:
    result = _validate(catalog, "--schema-dir", str(schema_dir))
    assert result.exit_code == 0, result.output
    stac = [p for p in catalog.rglob("*.json") if "stac_version" in json.loads(p.read_text())]
    assert f"{len(stac)} objects" in result.output


def test_schema_violation_names_the_object_and_field(catalog: Path, schema_dir: Path) -> None:
    item = _first_item(catalog)
    document = json.loads(item.read_text())
    document["properties"]["label:type"] = "pixels"
    item.write_text(json.dumps(document))
    result = _validate(catalog, "--schema-dir", str(schema_dir))
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and str(item) in line
    assert "properties/label:type" in line and "label/v1.0.1" in line


def test_altered_asset_fails_its_checksum(catalog: Path, schema_dir: Path) -> None:
    geojson = sorted(catalog.glob("glofnet-events/*/*/*.geojson"))[0]
    text = geojson.read_text()
    geojson.write_text(text.replace('"surge"', '"glof!"') if '"surge"' in text else text + " ")
    result = _validate(catalog, "--schema-dir", str(schema_dir))
    assert result.exit_code == 1
    assert str(geojson) in result.output and "file:" in result.output


def test_missing_schema_offline_is_a_clear_error(catalog: Path) -> None:
    result = _validate(catalog)
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and "--schema-dir" in line and "https://stac-extensions.github.io/" in line


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
    document = json.loads(item.read_text())
    document["stac_extensions"].append(schema_server)
    document["properties"]["demo:flag"] = True
    item.write_text(json.dumps(document))
    validate_catalog(catalog, [schema_dir])
    cached = schema_cache_dir() / schema_server.removeprefix("http://")
    assert cached.is_file()
    # The next run needs no server: drop the flag and the cached schema still rejects the item.
    del document["properties"]["demo:flag"]
    item.write_text(json.dumps(document))
    server_less = _validate(catalog, "--schema-dir", str(schema_dir))
    assert server_less.exit_code == 1
    assert "demo:flag" in server_less.output
    cached.unlink()


def test_offline_failure_prints_no_traceback(catalog: Path) -> None:
    import subprocess
    import sys

    stac = Path(sys.executable).parent / "stac"
    env = {k: v for k, v in __import__("os").environ.items() if k != "GLOFNET_SCHEMA_DIR"}
    result = subprocess.run(
        [str(stac), "glofnet", "validate", str(catalog)], capture_output=True, text=True, check=False, env=env
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
