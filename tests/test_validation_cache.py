"""The validation cache: unchanged bytes skip schema and COG validation, changed bytes never do.

The catalog is hand-made (a catalog, a collection and two items with one small COG each); the
validators run for real and are only wrapped to count their calls.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import multihash_sha256, sha256_file
from stactools_glofnet.core.schemas import OfflineFirstValidator, configured_schema_dirs
from stactools_glofnet.validation import cache as cache_module
from stactools_glofnet.validation import integrity
from stactools_glofnet.validation.cache import VERSION, ValidationCache, schema_set_digest
from stactools_glofnet.validation.catalog import check_catalog, validate_catalog
from stactools_glofnet.validation.problems import Severity, ValidationReport
from stactools_glofnet.validation.schema import check_schemas

FILE_EXTENSION = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
ITEMS = ("a", "b")
DOCUMENTS = 4  # catalog, collection, two items
DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def _write_tif(path: Path, seed: int, driver: str = "COG", size: int = 64) -> None:
    data = np.random.default_rng(seed).integers(0, 255, (size, size), dtype="uint8")
    profile = {"driver": driver, "width": size, "height": size, "count": 1, "dtype": "uint8"}
    transform = from_origin(74.0, 36.0, 0.001, 0.001)
    with rasterio.open(path, "w", crs="EPSG:4326", transform=transform, **profile) as dst:
        dst.write(data, 1)


def _item(item_id: str, band: Path) -> dict[str, Any]:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [FILE_EXTENSION],
        "id": item_id,
        "geometry": None,
        "properties": {"datetime": "2020-01-01T00:00:00Z"},
        "links": [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
        ],
        "assets": {
            "band": {
                "href": "./band.tif",
                "type": COG,
                "roles": ["data"],
                "file:size": band.stat().st_size,
                "file:checksum": multihash_sha256(band),
            }
        },
    }


def _collection(items: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": "c",
        "description": "A collection of two items.",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [[74.0, 35.9, 74.1, 36.0]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
        },
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json", "title": "root"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json", "title": "root"},
            *({"rel": "item", "href": f"./{i}/{i}.json", "type": "application/json"} for i in items),
        ],
    }


@pytest.fixture
def stac(tmp_path: Path) -> Path:
    """A valid catalog of one collection and two items, each with its own small COG."""
    root = tmp_path / "catalog"
    _write_json(
        root / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.1.0",
            "id": "root",
            "description": "A small catalog.",
            "links": [
                {"rel": "root", "href": "./catalog.json", "type": "application/json", "title": "root"},
                {"rel": "child", "href": "./c/collection.json", "type": "application/json", "title": "c"},
            ],
        },
    )
    _write_json(root / "c" / "collection.json", _collection(ITEMS))
    for seed, item_id in enumerate(ITEMS):
        band = root / "c" / item_id / "band.tif"
        band.parent.mkdir(parents=True)
        _write_tif(band, seed)
        _write_json(root / "c" / item_id / f"{item_id}.json", _item(item_id, band))
    return root


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often the schema check and rio-cogeo's validation ran (they run for real)."""
    counts: Counter[str] = Counter()

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(f"{check_catalog.__module__}.check_schemas", counting("schema", check_schemas))
    monkeypatch.setattr(f"{integrity.__name__}.cog_validate", counting("cog", cog_validate))
    return counts


def _run(
    stac: Path, store: Path, calls: Counter[str], schema_dirs: tuple[Path, ...] = ()
) -> ValidationReport:
    """Validate ``stac`` with the cache in ``store`` and save it; ``calls`` counts this run only."""
    calls.clear()
    with closing(ValidationCache.load(store, schemas=schema_set_digest(schema_dirs))) as cache:
        report = check_catalog(stac, schema_dirs, cache)
        cache.save()
    return report


def _summary(report: ValidationReport) -> tuple[int, int, int, list[tuple[Severity, str, str, str]]]:
    problems = [(p.severity, p.rule, p.path, p.message) for p in report.problems]
    return report.objects, report.assets, report.remote_assets, problems


def _band(stac: Path, item_id: str) -> Path:
    return stac / "c" / item_id / "band.tif"


def _item_file(stac: Path, item_id: str) -> Path:
    return stac / "c" / item_id / f"{item_id}.json"


def test_warm_cache_skips_unchanged_documents_and_cogs_with_the_same_report(
    stac: Path, tmp_path: Path, calls: Counter[str]
) -> None:
    store = tmp_path / "memo" / "validation.sqlite"
    uncached = _summary(check_catalog(stac))
    cold = _run(stac, store, calls)
    assert calls == {"schema": DOCUMENTS, "cog": len(ITEMS)}
    assert not cold.errors and _summary(cold) == uncached
    warm = _run(stac, store, calls)
    assert calls == {}
    assert _summary(warm) == uncached
    cache = ValidationCache.load(store, schemas=schema_set_digest())
    assert validate_catalog(stac, cache=cache).objects == DOCUMENTS and calls == {}


def test_edited_document_is_validated_again_and_reported(
    stac: Path, tmp_path: Path, calls: Counter[str]
) -> None:
    store = tmp_path / "validation.sqlite"
    _run(stac, store, calls)
    item = _item_file(stac, "a")
    data = json.loads(item.read_text())
    data["properties"]["datetime"] = 2020  # still JSON, no longer STAC
    _write_json(item, data)
    for _ in range(2):  # a failing document is not remembered: checked (and reported) every time
        report = _run(stac, store, calls)
        assert calls == {"schema": 1}
        assert [(p.rule, p.path) for p in report.errors] == [("schema", str(item))]
        assert "properties/datetime" in report.errors[0].message
    cache = ValidationCache.load(store, schemas=schema_set_digest())
    with pytest.raises(GlofnetError, match="properties/datetime"):
        validate_catalog(stac, cache=cache)


def test_cog_with_new_bytes_is_validated_again_and_reported(
    stac: Path, tmp_path: Path, calls: Counter[str]
) -> None:
    store = tmp_path / "validation.sqlite"
    _run(stac, store, calls)
    band, item = _band(stac, "a"), _item_file(stac, "a")
    _write_tif(band, seed=0, driver="GTiff", size=1024)  # striped and without overviews: no COG
    _write_json(item, _item("a", band))  # file:size and file:checksum describe the new file
    report = _run(stac, store, calls)
    assert calls == {"schema": 1, "cog": 1}
    assert [(p.rule, p.path) for p in report.errors] == [("cog", str(band))]
    assert "is not a valid COG: The file is greater than 512xH or 512xW, but is not tiled" in (
        report.errors[0].message
    )
    again = _run(stac, store, calls)  # the failing result was remembered: same finding, no run
    assert calls == {} and _summary(again) == _summary(report)


def test_cog_whose_checksum_does_not_match_is_validated_as_without_a_cache(
    stac: Path, tmp_path: Path, calls: Counter[str]
) -> None:
    store = tmp_path / "validation.sqlite"
    _run(stac, store, calls)
    band = _band(stac, "a")
    _write_tif(band, seed=0, driver="GTiff", size=1024)
    report = _run(stac, store, calls)
    assert calls == {"cog": 1}
    assert sorted(p.rule for p in report.errors) == ["cog", "size"]
    assert _summary(report) == _summary(check_catalog(stac))


def test_external_overviews_beside_a_cached_cog_are_reported(
    stac: Path, tmp_path: Path, calls: Counter[str]
) -> None:
    store = tmp_path / "validation.sqlite"
    _run(stac, store, calls)
    band = _band(stac, "a")
    _write_tif(band.with_name("band.tif.ovr"), seed=0, driver="GTiff", size=32)  # GDAL's overviews
    assert integrity.has_sidecars(band) and not integrity.has_sidecars(_band(stac, "b"))
    report = _run(stac, store, calls)
    assert calls == {"cog": 1}
    assert [(p.rule, p.path) for p in report.errors] == [("cog", str(band))]
    assert "external .ovr" in report.errors[0].message


def test_other_schemas_or_a_wrong_key_empty_the_cache(
    stac: Path, tmp_path: Path, calls: Counter[str]
) -> None:
    store = tmp_path / "validation.sqlite"
    _run(stac, store, calls)
    root = sha256_file(stac / "catalog.json")
    assert ValidationCache.load(store, schemas=schema_set_digest()).valid_document(root)
    assert not ValidationCache.load(store, schemas="0" * 64).valid_document(root)
    extra = tmp_path / "schemas"
    _write_json(extra / "example.com" / "schema.json", {"$schema": DRAFT_07, "type": "object"})
    assert schema_set_digest([extra]) != schema_set_digest()
    validator = OfflineFirstValidator(configured_schema_dirs([extra]))
    assert validator.schemas_digest() != OfflineFirstValidator(configured_schema_dirs()).schemas_digest()
    _run(stac, store, calls, schema_dirs=(extra,))
    assert calls == {"schema": DOCUMENTS, "cog": len(ITEMS)}
    # A cache loaded with a key that is not that of the schemas in use is emptied by check_catalog.
    cache = ValidationCache.load(store, schemas=schema_set_digest([extra]))
    calls.clear()
    check_catalog(stac, cache=cache)
    assert calls == {"schema": DOCUMENTS, "cog": len(ITEMS)}
    assert cache.schemas == schema_set_digest()


def test_document_judged_by_a_schema_outside_the_set_is_never_remembered(
    stac: Path, tmp_path: Path, calls: Counter[str]
) -> None:
    # pystac reads a relative extension schema beside the document: no cache key covers it.
    rules = stac / "c" / "a" / "rules.json"
    schema = {"$schema": DRAFT_07, "$id": "rules.json", "properties": {"id": {"const": "a"}}}
    _write_json(rules, schema)
    item = _item_file(stac, "a")
    data = json.loads(item.read_text())
    data["stac_extensions"].append("./rules.json")
    _write_json(item, data)
    store = tmp_path / "validation.sqlite"
    assert not _run(stac, store, calls).errors and calls == {"schema": DOCUMENTS, "cog": len(ITEMS)}
    assert not _run(stac, store, calls).errors
    assert calls == {"schema": 2}  # items a and b, checked once the outside schema was read
    _write_json(rules, {**schema, "properties": {"id": {"const": "z"}}})
    report = _run(stac, store, calls)
    assert [(p.rule, p.path) for p in report.errors] == [("schema", str(item))]


def _stored(store: Path) -> sqlite3.Connection:
    """The saved cache, open for reading and editing."""
    return sqlite3.connect(store, isolation_level=None)


def _unusable(store: Path, kind: str) -> None:
    """Put a cache file no run can use at ``store``."""
    if kind == "not a database":
        store.write_bytes(b"{not json, not SQLite either" * 64)
        return
    with closing(_stored(store)) as db:
        if kind == "another version":
            db.execute(f"PRAGMA user_version = {VERSION + 1}")
            db.execute("CREATE TABLE documents (sha256 TEXT PRIMARY KEY)")
        elif kind == "no tables":
            db.execute(f"PRAGMA user_version = {VERSION}")
            db.execute("CREATE TABLE other (x)")
        else:  # the tables, without a schema key
            db.execute(f"PRAGMA user_version = {VERSION}")
            for table in cache_module._TABLES:
                db.execute(table.format(schema=""))


@pytest.mark.parametrize("kind", ["not a database", "another version", "no tables", "no schema key"])
def test_unusable_cache_file_is_ignored_and_replaced(
    stac: Path, tmp_path: Path, calls: Counter[str], kind: str
) -> None:
    store = tmp_path / "validation.sqlite"
    _unusable(store, kind)
    report = _run(stac, store, calls)
    assert calls == {"schema": DOCUMENTS, "cog": len(ITEMS)} and not report.errors
    with closing(_stored(store)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (VERSION,)
    _run(stac, store, calls)
    assert calls == {}


def test_malformed_entries_are_dropped(
    stac: Path, tmp_path: Path, calls: Counter[str], reads: list[Path]
) -> None:
    store = tmp_path / "validation.sqlite"
    _age(stac)  # files an earlier build wrote: their digests are remembered
    _run(stac, store, calls)
    band = sha256_file(_band(stac, "a"))
    with closing(_stored(store)) as db:
        db.execute("INSERT INTO documents VALUES ('not a digest'), (7)")
        db.execute("UPDATE cogs SET result = ? WHERE sha256 = ?", ('[["an error"], "not a list"]', band))
        changed = db.execute("UPDATE files SET digest = 'not hex' WHERE digest LIKE '1220%'").rowcount
    assert changed == len(ITEMS)
    reads.clear()
    report = _run(stac, store, calls)
    assert calls == {"cog": 1} and not report.errors
    assert sorted(reads) == [_band(stac, item) for item in ITEMS], "a malformed digest is read again"
    with closing(_stored(store)) as db:
        documents = {d for (d,) in db.execute("SELECT sha256 FROM documents")}
        assert documents == {sha256_file(p) for p in stac.rglob("*.json")}
        (result,) = db.execute("SELECT result FROM cogs WHERE sha256 = ?", (band,)).fetchone()
        assert json.loads(result) == [[], []]
        assert db.execute("SELECT count(*) FROM files WHERE digest = 'not hex'").fetchone() == (0,)


def test_save_keeps_only_the_entries_used_or_added(stac: Path, tmp_path: Path, calls: Counter[str]) -> None:
    store = tmp_path / "validation.sqlite"
    legacy = store.with_suffix(".json")
    legacy.write_text(json.dumps({"version": 1, "documents": [], "cogs": {}}))
    _run(stac, store, calls)
    with closing(_stored(store)) as db:
        assert db.execute("SELECT count(*) FROM documents").fetchone() == (DOCUMENTS,)
        assert db.execute("SELECT count(*) FROM cogs").fetchone() == (len(ITEMS),)
    assert not legacy.exists(), "the cache's first form (JSON) is removed"
    # Item b leaves the catalog (its files stay on disk, unreachable).
    _write_json(stac / "c" / "collection.json", _collection(("a",)))
    _run(stac, store, calls)
    assert calls == {"schema": 1}  # only the edited collection
    kept = [stac / "catalog.json", stac / "c" / "collection.json", _item_file(stac, "a")]
    with closing(_stored(store)) as db:
        assert [d for (d,) in db.execute("SELECT sha256 FROM documents ORDER BY sha256")] == sorted(
            sha256_file(p) for p in kept
        )
        assert [c for (c,) in db.execute("SELECT sha256 FROM cogs")] == [sha256_file(_band(stac, "a"))]
        assert db.execute("SELECT key FROM schemas").fetchall() == [(schema_set_digest(),)]
        assert db.execute("PRAGMA user_version").fetchone() == (VERSION,)
    assert not list(store.parent.glob(".validation.sqlite-*"))  # the atomic write left no temporary


def test_the_process_does_not_grow_with_the_results_remembered(tmp_path: Path) -> None:
    """A whole archive's results (held in memory, about 1.3 MiB a thousand COGs) stay on disk:
    30,000 of each kind cost the process under 1 MiB, and are all there after a save."""
    cache = ValidationCache(tmp_path / "validation.sqlite", schemas="k" * 64)
    tracemalloc.start()
    try:
        for n in range(30_000):
            digest = f"{n:064x}"
            cache.add_valid_document(digest)
            cache.add_cog(
                digest,
                [],
                ["The file is greater than 512xH or 512xW, it is recommended to include internal overviews"],
            )
            cache.add_file_digest(f"2049:{n}:1048576:1700000000000000000:sha2-256", f"1220{digest}")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 2**20, f"{held / 2**20:.1f} MiB held for 30,000 results of each kind"
    cache.save()
    cache.close()
    again = ValidationCache.load(tmp_path / "validation.sqlite", schemas="k" * 64)
    assert again.valid_document(f"{12345:064x}") and not again.valid_document(f"{30_000:064x}")
    assert again.cog(f"{29_999:064x}") == (
        [],
        ["The file is greater than 512xH or 512xW, it is recommended to include internal overviews"],
    )
    assert again.file_digest("2049:7:1048576:1700000000000000000:sha2-256") == f"1220{7:064x}"
    again.close()


def _age(stac: Path, seconds: int = 3600) -> None:
    """Date every file of ``stac`` ``seconds`` back, as files an earlier build wrote."""
    when = time.time() - seconds
    for path in stac.rglob("*"):
        if path.is_file():
            os.utime(path, (when, when))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The asset files validation read to take their digest (it reads them for real)."""
    read: list[Path] = []
    multihash = integrity._multihash

    def recording(path: Path, checksum: str) -> str | None:
        read.append(path)
        return multihash(path, checksum)

    monkeypatch.setattr(integrity, "_multihash", recording)
    return read


def test_files_unchanged_since_the_last_run_are_not_read_again(
    stac: Path, tmp_path: Path, calls: Counter[str], reads: list[Path]
) -> None:
    store = tmp_path / "validation.sqlite"
    _age(stac)
    uncached = _summary(check_catalog(stac))
    reads.clear()
    _run(stac, store, calls)
    assert sorted(reads) == [_band(stac, item) for item in ITEMS]
    reads.clear()
    assert _summary(_run(stac, store, calls)) == uncached
    assert reads == [] and calls == {}
    linked = tmp_path / "linked"  # the next build's staging: hard links to the same files
    shutil.copytree(stac, linked, copy_function=os.link)
    assert not _run(linked, store, calls).errors
    assert reads == [] and calls == {}


def test_a_file_changed_in_place_is_read_again_and_reported(
    stac: Path, tmp_path: Path, calls: Counter[str], reads: list[Path]
) -> None:
    store = tmp_path / "validation.sqlite"
    _age(stac)
    _run(stac, store, calls)
    band = _band(stac, "a")
    with band.open("r+b") as file:  # same inode, same size, other bytes
        file.seek(band.stat().st_size // 2)
        byte = file.read(1)
        file.seek(-1, os.SEEK_CUR)
        file.write(bytes([byte[0] ^ 0xFF]))
    for _ in range(2):  # changed just now: read again every time until it is settled
        reads.clear()
        report = _run(stac, store, calls)
        assert reads == [band]
        assert [(p.rule, p.path) for p in report.errors] == [("checksum", str(band))]


@pytest.mark.parametrize("recent", [integrity.RECENT_FILES, 2])
def test_a_shared_file_is_read_again_only_when_checked_long_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[Path], recent: int
) -> None:
    """What the checker learnt of a file is kept for the last RECENT_FILES files only: a file two
    neighbouring items share is read once, one the first and the last item share is read again
    when more files than that came between, and the report is the same either way."""
    monkeypatch.setattr(integrity, "RECENT_FILES", recent)
    root = tmp_path / "catalog"
    ids = ("a", "b", "c", "d", "e")
    _write_json(
        root / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.1.0",
            "id": "root",
            "description": "Items that share files.",
            "links": [
                {"rel": "child", "href": "./c/collection.json", "type": "application/json", "title": "c"}
            ],
        },
    )
    _write_json(root / "c" / "collection.json", _collection(ids))
    for seed, item_id in enumerate(ids):
        band = root / "c" / item_id / "band.tif"
        band.parent.mkdir(parents=True)
        _write_tif(band, seed)
    items = {item_id: _item(item_id, _band(root, item_id)) for item_id in ids}
    for sharing, shared in (("b", "a"), ("e", "a")):  # b just after a; e three files later
        items[sharing]["assets"]["shared"] = {
            **items[shared]["assets"]["band"],
            "href": f"../{shared}/band.tif",
        }
    for item_id, item in items.items():
        _write_json(_item_file(root, item_id), item)

    report = check_catalog(root)

    assert not report.errors and report.assets == len(ids) + 2
    times_read = Counter(reads)
    assert times_read[_band(root, "a")] == (1 if recent > len(ids) else 2)
    assert all(times_read[_band(root, i)] == 1 for i in ids[1:])
