"""The validation modules one at a time, on small hand-made documents and files (no built catalog)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from stactools_glofnet.core.files import multihash_sha256
from stactools_glofnet.validation.integrity import AssetChecker
from stactools_glofnet.validation.lint import file_name, json_size, link_title, lint, thumbnail_type
from stactools_glofnet.validation.problems import Problem, ValidationReport
from stactools_glofnet.validation.report import as_dict, as_text
from stactools_glofnet.validation.walk import StacDocument, read_root, walk


def _document(path: Path, data: dict[str, Any]) -> StacDocument:
    text = json.dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return StacDocument(path=path, size=len(text.encode()), data=data)


def _catalog(links: list[dict[str, str]], id: str = "root") -> dict[str, Any]:
    return {"type": "Catalog", "stac_version": "1.1.0", "id": id, "description": "d", "links": links}


def _item(id: str, assets: dict[str, Any], properties: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": id,
        "geometry": None,
        "properties": {"datetime": "2020-01-01T00:00:00Z", **(properties or {})},
        "links": [],
        "assets": assets,
    }


# ------------------------------------------------------------------------------------------ walk


def test_walk_reports_broken_links_and_non_stac_files_and_visits_each_document_once(tmp_path: Path) -> None:
    _document(
        tmp_path / "catalog.json",
        _catalog(
            [
                {"rel": "child", "href": "./a/catalog.json"},
                {"rel": "child", "href": "./gone/catalog.json"},
                {"rel": "item", "href": "./notes/notes.json"},
                {"rel": "license", "href": "https://example.com/licence"},
            ]
        ),
    )
    # a/ links back to the root and to an item: the root is not visited twice.
    _document(
        tmp_path / "a" / "catalog.json",
        _catalog([{"rel": "child", "href": "../catalog.json"}, {"rel": "item", "href": "./x/x.json"}], "a"),
    )
    _document(tmp_path / "a" / "x" / "x.json", _item("x", {}))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.json").write_text("{not json")
    report = ValidationReport(catalog=str(tmp_path))
    visited = [d.id for d in walk(read_root(tmp_path), report)]
    assert visited == ["root", "a", "x"]
    assert [(p.severity, p.rule, Path(p.path)) for p in report.problems] == [
        ("error", "broken-link", tmp_path / "catalog.json"),
        ("error", "not-stac", tmp_path / "notes" / "notes.json"),
    ]
    assert "gone/catalog.json, which is missing" in report.problems[0].message
    assert report.problems[1].message.startswith("not valid JSON")


# ------------------------------------------------------------------------------------------ lint


def test_lint_rules_catch_each_lapse_and_spare_what_is_fine(tmp_path: Path) -> None:
    catalog = _document(
        tmp_path / "cat.json",
        _catalog([{"rel": "self", "href": "/abs/cat.json"}, {"rel": "child", "href": "./c/catalog.json"}]),
    )
    assert [rule for rule, _ in file_name(catalog)] == ["file-name"]
    assert [m for _, m in link_title(catalog)] == ["the child link to ./c/catalog.json has no title"]
    item = _document(
        tmp_path / "x" / "x.json",
        _item("x", {"thumbnail": {"href": "./t.tif", "type": "image/tiff", "roles": ["thumbnail"]}}),
    )
    item.data["links"] = [{"rel": "parent", "href": "../cat.json"}]  # items' links need no titles
    assert list(link_title(item)) == [] and list(file_name(item)) == []
    assert [rule for rule, _ in thumbnail_type(item)] == ["thumbnail-type"]
    assert list(json_size(item, limit=item.size)) == []
    assert [rule for rule, _ in json_size(item, limit=item.size - 1)] == ["json-size"]
    problems = list(lint(catalog))
    assert {p.severity for p in problems} == {"warning"} and {p.path for p in problems} == {str(catalog.path)}


# ------------------------------------------------------------------------------------- integrity


def _check(document: StacDocument) -> ValidationReport:
    report = ValidationReport(catalog="test")
    AssetChecker(document.path.parent).check(document, report)
    return report


def _findings(report: ValidationReport) -> list[tuple[str, str]]:
    return [(p.severity, p.rule) for p in report.problems]


def test_file_checks_skip_remote_assets_and_report_size_before_checksum(tmp_path: Path) -> None:
    data = tmp_path / "x" / "data.bin"
    data.parent.mkdir()
    data.write_bytes(b"0123456789")
    good = {"href": "./data.bin", "file:size": 10, "file:checksum": multihash_sha256(data)}
    sha512 = "1340" + hashlib.sha512(b"0123456789").hexdigest()
    assets = {
        "good": good,
        "sha512": {"href": "./data.bin", "file:checksum": sha512},
        "short": {**good, "file:size": 9},
        "blake": {"href": "./data.bin", "file:checksum": "b220" + "00" * 32},
        "remote": {"href": "https://example.com/data.bin"},
        "gone": {"href": "./gone.bin"},
    }
    report = _check(_document(tmp_path / "x" / "x.json", _item("x", assets)))
    assert (report.assets, report.remote_assets) == (5, 1)
    assert sorted(_findings(report)) == [("error", "missing"), ("error", "size"), ("warning", "checksum")]
    size = next(p for p in report.problems if p.rule == "size")
    assert size.path == str(data) and size.message == "asset 'short' of x has 10 bytes, file:size says 9"


def test_unreadable_cog_and_parquet_are_errors(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    for name in ("band.tif", "table.parquet"):
        (tmp_path / "x" / name).write_bytes(b"not what it claims")
    assets = {
        "band": {"href": "./band.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized"},
        "table": {"href": "./table.parquet", "type": "application/vnd.apache.parquet"},
    }
    report = _check(_document(tmp_path / "x" / "x.json", _item("x", assets)))
    assert sorted(_findings(report)) == [("error", "cog"), ("error", "parquet")]
    assert all(" of x " in p.message for p in report.problems)


@pytest.fixture
def cube(tmp_path: Path) -> Path:
    """A consolidated Zarr v2 cube: gridded ``t``, per-time ``flag`` and grid mapping ``crs``."""
    path = tmp_path / "x" / "cube.zarr"
    dataset = xr.Dataset(
        {
            "t": (("time", "y", "x"), np.zeros((2, 3, 4), dtype="float32"), {"grid_mapping": "crs"}),
            "flag": ("time", np.array([1, 0], dtype="uint8")),
            "crs": ((), 0, {"grid_mapping_name": "transverse_mercator"}),
        },
        coords={"time": [0, 1], "y": [2.0, 1.0, 0.0], "x": [0.0, 1.0, 2.0, 3.0]},
    )
    dataset.to_zarr(path, zarr_format=2, consolidated=True)
    return path


SPATIAL = {"type": "spatial", "extent": [0, 1]}
DIMENSIONS = {"time": {"type": "temporal", "extent": [None, None]}, "x": SPATIAL, "y": SPATIAL}


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (["t", "flag"], []),
        (["t"], [("warning", "zarr-variables")]),  # per-time variable undeclared: auxiliary
        (["flag"], [("error", "zarr-variables")]),  # gridded variable undeclared
        (["t", "flag", "crs"], []),  # a coordinate may be declared
        (["t", "flag", "u"], [("error", "zarr-variables")]),
    ],
)
def test_zarr_variables_against_cube_variables(
    tmp_path: Path, cube: Path, declared: list[str], expected: list[tuple[str, str]]
) -> None:
    variables = {name: {"type": "data", "dimensions": ["time"]} for name in declared}
    asset = {"href": "./cube.zarr", "type": "application/vnd.zarr"}
    # Declared on the item, not the asset: the datacube extension allows both.
    item = _item("x", {"cube": asset}, {"cube:variables": variables, "cube:dimensions": DIMENSIONS})
    assert _findings(_check(_document(tmp_path / "x" / "x.json", item))) == expected


def test_zarr_store_must_open_and_have_the_declared_dimensions(tmp_path: Path, cube: Path) -> None:
    asset = {
        "href": "./cube.zarr",
        "type": "application/vnd.zarr",
        "cube:dimensions": {**DIMENSIONS, "band": {"type": "bands", "values": ["a"]}},
    }
    document = _document(tmp_path / "x" / "x.json", _item("x", {"cube": asset}))
    report = _check(document)
    assert _findings(report) == [("error", "zarr-dimensions")]
    assert "has no dimension band that cube:dimensions declares" in report.problems[0].message
    (cube / ".zmetadata").unlink()
    assert _findings(_check(document)) == [("error", "zarr")]


# ---------------------------------------------------------------------------------------- report


def test_text_report_is_a_table_a_verdict_then_one_line_per_problem() -> None:
    report = ValidationReport(catalog="cat", objects=3, assets=5, remote_assets=2)
    report.add(Problem("error", "integrity", "missing", "cat/a.tif", "asset 'a' of x is missing"))
    report.add(Problem("warning", "lint", "summaries", "cat/c.json", "summaries: none"))
    assert as_text(report).splitlines() == [
        "check      checked                           errors  warnings",
        "structure  3 objects                         0       0",
        "schema     3 objects                         0       0",
        "lint       3 objects                         0       1",
        "integrity  5 assets (2 remote, not checked)  1       0",
        "cat: INVALID; 3 objects and 5 assets checked, 1 error, 1 warning",
        "ERROR integrity cat/a.tif: asset 'a' of x is missing",
        "WARNING lint cat/c.json: summaries: none",
    ]
    data = as_dict(report)
    assert data["valid"] is False and data["checks"]["integrity"] == {
        "checked": 5,
        "unit": "assets",
        "errors": 1,
        "warnings": 0,
    }
    assert report.failed()
    only_warnings = ValidationReport(catalog="cat")
    only_warnings.add(Problem("warning", "lint", "summaries", "cat/c.json", "summaries: none"))
    assert not only_warnings.failed() and only_warnings.failed(strict=True)


def test_malformed_documents_do_not_stop_lint_or_integrity(tmp_path: Path) -> None:
    # Wrong shapes are the schema check's to report; the other checks skip them without failing.
    document = _document(
        tmp_path / "x" / "x.json", {**_item("x", {}), "links": 5, "assets": {"a": "./a.tif", "b": {}}}
    )
    assert document.links == [] and list(document.assets) == ["b"]
    assert [p.rule for p in lint(document)] == ["asset-roles"]
    report = _check(document)
    assert (report.assets, report.problems) == (0, [])
