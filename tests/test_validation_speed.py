"""What makes validation fast changes no finding: files read on threads, schemas compiled.

The reference in each test is the plain way: one thread walking the catalog and checking each
document in turn, every schema judged by jsonschema alone.
"""

from __future__ import annotations

import copy
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from pystac.errors import STACValidationError
from pystac.validation import validate_dict

from stactools_glofnet.core import schemas
from stactools_glofnet.core.schemas import offline_first_validation
from stactools_glofnet.validation import catalog as validation_catalog
from stactools_glofnet.validation.catalog import check_catalog
from stactools_glofnet.validation.integrity import AssetChecker
from stactools_glofnet.validation.lint import lint
from stactools_glofnet.validation.problems import ValidationReport
from stactools_glofnet.validation.schema import check_schemas
from stactools_glofnet.validation.walk import read_root, walk
from tests.test_validate import _read, _refresh_file_fields, _write, rewrite_as_plain_tiff

NEVER = schemas.NEVER


def _serial_report(path: Path, schema_dirs: list[Path]) -> ValidationReport:
    """The catalog checked by one thread, document after document, schemas by jsonschema only."""
    report = ValidationReport(catalog=str(path))
    root = read_root(path)
    assets = AssetChecker(root.path.parent)
    with offline_first_validation(schema_dirs):
        for document in walk(root, report):
            report.objects += 1
            problem = check_schemas(document)
            if problem is not None:
                report.add(problem)
            for finding in lint(document):
                report.add(finding)
            assets.check(document, report)
    return report


def _damage(catalog: Path) -> None:
    """Break the catalog in one way per kind, spread over the walk, some in neighbouring documents."""
    collection = catalog / "glofnet-sentinel2" / "collection.json"
    document = _read(collection)
    item_links = [link for link in document["links"] if link["rel"] == "item"]
    first = collection.parent / item_links[0]["href"]
    last = collection.parent / item_links[-1]["href"]
    position = document["links"].index(item_links[0])
    document["links"].insert(
        position, {"rel": "item", "href": "./gone/gone.json"}
    )  # found just before `first`
    _write(collection, document)
    (first.parent / "B03.tif").unlink()  # a missing file
    with (last.parent / "B04.tif").open("r+b") as band:  # same size, other bytes
        band.seek(-1, 2)
        byte = band.read(1)
        band.seek(-1, 2)
        band.write(bytes([byte[0] ^ 1]))
    document = _read(last)
    document["properties"]["proj:code"] = 32643  # a schema error
    _write(last, document)
    pairs = sorted(catalog.glob("glofnet-itslive/**/*.json"))
    pair = next(p for p in reversed(pairs) if _read(p).get("type") == "Feature")
    speed = pair.parent / "v.tif"
    rewrite_as_plain_tiff(speed)
    document = _read(pair)
    _refresh_file_fields(document, "v", speed)
    document["assets"]["speed"] = dict(document["assets"]["v"])  # two assets, one file
    _write(pair, document)


@pytest.fixture
def damaged(tmp_path: Path, built_catalog: Path) -> Path:
    copy_ = tmp_path / "catalog"
    shutil.copytree(built_catalog, copy_)
    _damage(copy_)
    return copy_


@pytest.mark.parametrize("threads", [1, 3])
def test_threaded_reads_and_compiled_schemas_give_the_serial_report(
    damaged: Path, schema_dir: Path, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schemas, "COMPILE_AFTER", NEVER)
    expected = _serial_report(damaged, [schema_dir])
    monkeypatch.setattr(schemas, "COMPILE_AFTER", 1)
    monkeypatch.setattr(validation_catalog, "reading_threads", lambda: threads)
    report = check_catalog(damaged, [schema_dir])
    assert report == expected
    rules = {(p.severity, p.check, p.rule) for p in report.problems}
    assert {
        ("error", "integrity", "missing"),
        ("error", "integrity", "checksum"),
        ("error", "schema", "schema"),
        ("error", "structure", "broken-link"),
    } <= rules
    assert any(p.rule == "cog" for p in report.problems), report.problems


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _nodes(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _nodes(inner, (*path, index))
    if path:
        yield path


def _mutated(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``document`` with one value anywhere in it replaced by another type, or removed."""
    changed = copy.deepcopy(document)
    where = rng.choice(list(_nodes(changed)))
    parent = changed
    for key in where[:-1]:
        parent = parent[key]
    replacement: Any = rng.choice(["x", 1.5, -1, None, True, [], {}, "remove"])
    if replacement == "remove":
        del parent[where[-1]]
    else:
        parent[where[-1]] = replacement
    if changed.get("stac_extensions") != document.get("stac_extensions"):
        changed["stac_extensions"] = document.get("stac_extensions", [])  # schemas stay the same
    return changed


def _verdict(document: dict[str, Any]) -> str:
    try:
        validate_dict(document)
    except STACValidationError as error:
        return f"invalid: {error}"  # the schema, the document and jsonschema's best match
    except Exception as error:  # pystac raises others for documents it cannot identify as STAC
        return f"{type(error).__name__}"
    return "valid"


ITEMS_PER_COLLECTION = 6
"""Items of each collection the compiled schemas are compared on (spread over the collection):
items of one collection share their schemas and their shape."""


def _documents_of_each_kind(catalog: Path) -> list[Path]:
    """The root, every collection, and up to :data:`ITEMS_PER_COLLECTION` items of each."""
    chosen = [catalog / "catalog.json"]
    for collection in sorted(catalog.glob("*/collection.json")):
        items = sorted(p for p in collection.parent.rglob("*.json") if p != collection)
        step = max(1, len(items) // ITEMS_PER_COLLECTION)
        chosen += [collection, *items[::step][:ITEMS_PER_COLLECTION]]
    return chosen


def test_compiled_schemas_judge_each_kind_of_document_as_jsonschema_does(
    built_catalog: Path, schema_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The root, each collection and items of each, as built and with one value changed
    (six ways each): the compiled schemas give jsonschema's verdict on every one."""
    rng = random.Random(20261201)
    documents = []
    for path in _documents_of_each_kind(built_catalog):
        document = _read(path)
        if "stac_version" in document:
            documents += [document, *(_mutated(document, rng) for _ in range(6))]
    untouched = copy.deepcopy(documents)
    verdicts = {}
    for compile_after in (NEVER, 1):
        monkeypatch.setattr(schemas, "COMPILE_AFTER", compile_after)
        with offline_first_validation([schema_dir]) as validator:
            verdicts[compile_after] = [_verdict(d) for d in documents]
            compiled = {uri for uri, code in validator._compiled.items() if code is not False}
    assert verdicts[1] == verdicts[NEVER]
    assert documents == untouched  # no schema default written into a document, no $ref rewritten
    invalid = sum(v.startswith("invalid") for v in verdicts[NEVER])
    assert 0.1 * len(documents) < invalid < 0.9 * len(documents)
    item_schema = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
    assert item_schema in compiled and len(compiled) >= 8


def test_compiled_code_is_kept_and_a_later_run_uses_it_from_the_first_document(
    built_catalog: Path, schema_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run keeps the code it compiled in the user cache; a later run (a new validator) takes
    it at each schema's first document and compiles nothing; a damaged file is compiled again
    and replaced; other schemas make other keys."""
    monkeypatch.setenv("GLOFNET_CACHE_DIR", str(tmp_path / "cache"))
    rng = random.Random(7)
    documents = []
    for path in sorted(built_catalog.rglob("*.json"))[:40]:
        document = _read(path)
        if "stac_version" in document:
            documents += [document, _mutated(document, rng)]
    monkeypatch.setattr(schemas, "COMPILE_AFTER", NEVER)
    with offline_first_validation([schema_dir]):
        expected = [_verdict(d) for d in documents]  # jsonschema alone, no kept code either
    monkeypatch.setattr(schemas, "COMPILE_AFTER", 1)
    with offline_first_validation([schema_dir]) as first:
        assert [_verdict(d) for d in documents] == expected
    compiled = {uri for uri, code in first._compiled.items() if code is not False}
    kept = sorted(schemas.compiled_cache_dir().glob("*.bytecode"))
    assert len(compiled) >= 5 and len(kept) == len(compiled)

    def no_compiling(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("compiled again")

    monkeypatch.setattr(fastjsonschema, "compile_to_code", no_compiling)
    monkeypatch.setattr(schemas, "COMPILE_AFTER", NEVER - 1)  # this run would compile nothing itself
    with offline_first_validation([schema_dir]) as later:
        assert [_verdict(d) for d in documents] == expected
    assert {uri for uri, code in later._compiled.items() if code is not False} == compiled
    assert all(later._uses[uri] == 1 for uri in compiled)  # taken at the first document

    monkeypatch.undo()
    monkeypatch.setenv("GLOFNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(schemas, "COMPILE_AFTER", 1)
    kept[0].write_bytes(b"not bytecode")
    with offline_first_validation([schema_dir]) as again:
        assert [_verdict(d) for d in documents] == expected
        uri = next(u for u in compiled if again._code_path(u) == kept[0])
        with offline_first_validation([]) as other:  # the package's schemas only: another set
            assert other._code_path(uri) != kept[0]
    assert kept[0].read_bytes() != b"not bytecode"
    assert {uri for uri, code in again._compiled.items() if code is not False} == compiled
