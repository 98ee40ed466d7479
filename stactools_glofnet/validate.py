"""Validation of a built catalog: every object against its schemas, every local asset's integrity."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pystac
import zarr
from jsonschema.exceptions import ValidationError, best_match
from pystac.errors import STACValidationError
from pystac.validation.stac_validator import GetSchemaError

from stactools_glofnet.core.constants import ZARR
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import multihash_sha256
from stactools_glofnet.core.schemas import SCHEMA_DIR_ENV, offline_first_validation


@dataclass(frozen=True)
class ValidationReport:
    """What was checked."""

    objects: int
    assets: int


def _catalog_file(path: Path) -> Path:
    return path / "catalog.json" if path.is_dir() else path


def _read_root(path: Path) -> pystac.Catalog:
    target = _catalog_file(path)
    if not target.is_file():
        raise GlofnetError(target, "no catalog.json to validate")
    try:
        root = pystac.read_file(str(target))
    except Exception as error:  # pystac raises many types for unreadable STAC JSON
        raise GlofnetError(target, f"not a readable STAC object ({error})") from None
    if not isinstance(root, pystac.Catalog):
        raise GlofnetError(target, f"expected a Catalog or Collection, found {type(root).__name__}")
    return root


def _objects(root: pystac.Catalog) -> Iterator[pystac.Catalog | pystac.Item]:
    yield root
    for child in root.get_children():
        yield from _objects(child)
    yield from root.get_items()


def _off_branch(error: ValidationError) -> bool:
    """A failure saying the object is of another kind (a oneOf branch for Items, say)."""
    return error.validator == "const" and list(error.path)[-1:] == ["type"]


def _deepest(error: ValidationError) -> ValidationError:
    """Follow oneOf/anyOf context down to the most specific failure on the object's own branch."""
    while error.context:
        relevant = [e for e in error.context if not _off_branch(e)] or list(error.context)
        error = best_match(relevant) or relevant[0]
    return error


def _one_line(error: STACValidationError) -> str:
    schema = str(error).splitlines()[0].rpartition(" against schema at ")[2]
    source = error.source
    if isinstance(source, list) and source:
        best = _deepest(best_match(source) or source[0])
        where = "/".join(str(p) for p in best.absolute_path) or "(top level)"
        message = best.message if len(best.message) <= 200 else best.message[:197] + "..."
        return f"{where}: {message} (schema {schema})"
    return str(error).splitlines()[-1]


def _schema_url(error: GetSchemaError) -> str:
    message = str(error).removeprefix("Error when fetching schema ")
    return message.split(": ", 1)[0]


def _check_zarr(path: Path, where: str) -> None:
    if not (path / ".zmetadata").is_file():
        raise GlofnetError(path, f"{where} is not a consolidated Zarr store")
    try:
        zarr.open_consolidated(str(path), mode="r")
    except Exception as error:  # zarr raises many types for a damaged store
        raise GlofnetError(path, f"{where} does not open as Zarr ({error})") from None


def _check_assets(obj: pystac.Catalog | pystac.Item) -> int:
    assets = obj.get_assets() if isinstance(obj, pystac.Item | pystac.Collection) else {}
    checked = 0
    for key, asset in sorted(assets.items()):
        href = asset.get_absolute_href()
        if href is None or urlparse(href).scheme not in ("", "file"):
            continue
        path = Path(urlparse(href).path)
        where = f"asset {key!r} of {obj.id}"
        if asset.media_type == ZARR:
            _check_zarr(path, where)
            checked += 1
            continue
        if not path.is_file():
            raise GlofnetError(path, f"{where} is missing")
        size = asset.extra_fields.get("file:size")
        if size is not None and path.stat().st_size != size:
            raise GlofnetError(path, f"{where} has {path.stat().st_size} bytes, file:size says {size}")
        checksum = asset.extra_fields.get("file:checksum")
        if checksum is not None and multihash_sha256(path) != checksum:
            raise GlofnetError(path, f"{where} does not match its file:checksum")
        checked += 1
    return checked


def validate_catalog(path: Path, schema_dirs: Sequence[Path] = ()) -> ValidationReport:
    """Validate every object of the catalog at ``path`` and the integrity of its local assets.

    Raises :class:`GlofnetError` naming the first invalid object, schema or asset.
    """
    root = _read_root(path)
    objects = assets = 0
    with offline_first_validation(schema_dirs):
        for obj in _objects(root):
            href = obj.get_self_href() or obj.id
            try:
                obj.validate()
            except STACValidationError as error:
                raise GlofnetError(href, f"invalid STAC: {_one_line(error)}") from None
            except GetSchemaError as error:
                raise GlofnetError(
                    href,
                    f"{_schema_url(error)} is in no schema directory and the"
                    f" network failed; point --schema-dir or ${SCHEMA_DIR_ENV} at a schema mirror",
                ) from None
            objects += 1
            assets += _check_assets(obj)
    return ValidationReport(objects=objects, assets=assets)
