"""Each local asset: the file is there, its size and ``file:checksum`` match, and its format holds.

COGs must pass rio-cogeo's validation (its warnings are warnings). Zarr stores must open with
xarray and hold the data variables that ``cube:variables`` declares, no fewer and no more
gridded ones (dimension coordinates are in ``cube:dimensions``, which must name dimensions of the
store; CF grid-mapping variables are coordinates; an undeclared variable off the spatial grid is
only a warning, see :func:`_variables`). Parquet files must have exactly the columns of
``table:columns`` (read from the footer, no data loaded). Declarations are taken from the asset,
else from its Item's properties or its Collection. Remote assets (http, s3...) are counted and
skipped. A file several assets share is read once while it is among the last
:data:`RECENT_FILES` files checked (what the checker learnt of a file is forgotten after that,
so validation holds no entry per file of the catalog; a file shared further apart is read again,
with the same result).

Reading a file (its digest, rio-cogeo's validation) is the costly part and runs on a thread
pool when one is given: :meth:`AssetChecker.prefetch` starts a document's file reads ahead of
:meth:`AssetChecker.check`, which gathers them in document order, so the report is the same.

With a :class:`~stactools_glofnet.validation.cache.ValidationCache`, a file's digest is
remembered by its signature (:func:`~stactools_glofnet.validation.cache.file_signature`), so a
file unchanged since an earlier run is not read again, and rio-cogeo's result for a COG is
remembered by the file's SHA-256, known when its ``file:checksum`` is a SHA-256 multihash that
matches and when it has no sidecar files (see :meth:`AssetChecker._cache_key`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyarrow.parquet as pq
import xarray as xr
from cachetools import LRUCache
from rio_cogeo.cogeo import cog_validate

from stactools_glofnet.core.constants import PARQUET, ZARR
from stactools_glofnet.core.files import CHUNK
from stactools_glofnet.validation.cache import CogResult, ValidationCache, file_signature
from stactools_glofnet.validation.problems import INTEGRITY, Problem, Severity, ValidationReport
from stactools_glofnet.validation.walk import StacDocument, href_problem, local_path

MULTIHASH: Final = {"11": "sha1", "12": "sha256", "13": "sha512", "d501": "md5"}
"""Multihash function codes (hex varint) of the hashes ``file:checksum`` can be checked against."""

RECENT_FILES: Final = 1024
"""Files whose digest, COG result or content the checker keeps for assets that share them: well
over the files being read ahead (:data:`~stactools_glofnet.validation.catalog.DOCUMENTS_AHEAD_PER_THREAD`
documents a thread). Kept for every file, they grew with the catalog: validating the catalog
of fraction 0.25 of the GLOFNet-size sample (17,232 asset files) ended with 156 MiB of anonymous
memory and 86 MiB of pymalloc arenas that way, against 138 and 67 with this bound."""

PANDAS_INDEX = re.compile(r"__index_level_\d+__")
"""An unnamed pandas index stored as a column: not data, never declared."""


def _function_code(checksum: str) -> str | None:
    """The multihash function code ``checksum`` starts with, if it is one of :data:`MULTIHASH`."""
    return next((code for code in MULTIHASH if checksum.lower().startswith(code)), None)


def _multihash(path: Path, checksum: str) -> str | None:
    """The file's multihash with the same function as ``checksum``; None for unknown functions."""
    code = _function_code(checksum)
    if code is None:
        return None
    digest = hashlib.new(MULTIHASH[code])
    with path.open("rb") as file:
        while block := file.read(CHUNK):
            digest.update(block)
    return f"{code}{digest.digest_size:02x}{digest.hexdigest()}"


@dataclass(frozen=True)
class ZarrContent:
    """The names a Zarr store holds, as xarray sees them with CF decoding of coordinates."""

    data_variables: dict[str, tuple[str, ...]]
    """Each data variable's dimensions (grid-mapping and bounds variables are coordinates)."""
    coordinates: frozenset[str]
    dimensions: frozenset[str]


def _open_zarr(path: Path) -> ZarrContent | str:
    """The store's names, or why it does not open."""
    consolidated = (path / ".zmetadata").is_file()
    if not consolidated and not (path / "zarr.json").is_file():
        return "is not a consolidated Zarr v2 or a Zarr v3 store (no .zmetadata or zarr.json)"
    try:
        with xr.open_dataset(
            path,
            engine="zarr",
            consolidated=consolidated,
            chunks=None,
            decode_times=False,
            decode_timedelta=False,
            mask_and_scale=False,
            decode_coords="all",
        ) as dataset:
            return ZarrContent(
                data_variables={str(n): tuple(str(d) for d in v.dims) for n, v in dataset.data_vars.items()},
                coordinates=frozenset(str(n) for n in dataset.coords),
                dimensions=frozenset(str(n) for n in dataset.dims),
            )
    except Exception as error:  # zarr and xarray raise many types for a damaged store
        return f"does not open as Zarr ({type(error).__name__}: {error})"


def _parquet_columns(path: Path) -> list[str] | str:
    """The file's column names, or why it does not open."""
    try:
        schema = pq.read_schema(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        return f"does not open as Parquet ({type(error).__name__}: {error})"
    return [name for name in schema.names if not PANDAS_INDEX.fullmatch(name)]


def _validate_cog(path: Path) -> CogResult | str:
    """rio-cogeo's errors and warnings for ``path``, or why it is not a readable GeoTIFF."""
    try:
        _, errors, warnings = cog_validate(str(path), quiet=True)
    except Exception as error:  # rasterio raises for files that are no GeoTIFF at all
        return f"not a readable GeoTIFF ({type(error).__name__}: {error})"
    return list(errors), list(warnings)


def _cog_problems(path: Path) -> CogResult:
    """rio-cogeo's errors and warnings for ``path``."""
    result = _validate_cog(path)
    return ([result], []) if isinstance(result, str) else result


def has_sidecars(path: Path) -> bool:
    """Whether GDAL may read files beside ``path`` with it (``band.tif.ovr``, ``band.aux``...).

    Their bytes are not in the file's digest, yet they change what rio-cogeo finds (external
    overviews are an error). Any sibling named ``band.*`` or ``band_rpc*`` counts.
    """
    name, stem = path.name.lower(), path.stem.lower()
    siblings = (other.lower() for other in os.listdir(path.parent))
    return any(other != name and other.startswith((f"{stem}.", f"{stem}_rpc")) for other in siblings)


def _differences(present: Collection[str], declared: Collection[str]) -> str:
    parts = []
    undeclared = sorted(set(present) - set(declared))
    absent = sorted(set(declared) - set(present))
    if undeclared:
        parts.append(f"not declared: {', '.join(undeclared)}")
    if absent:
        parts.append(f"declared but absent: {', '.join(absent)}")
    return "; ".join(parts)


def _declared(document: StacDocument, asset: dict[str, Any], field: str) -> Any:
    """``field`` from the asset, else from the Item's properties or the Collection itself."""
    if field in asset:
        return asset[field]
    owner = document.data.get("properties", {}) if document.type == "Feature" else document.data
    return owner.get(field) if isinstance(owner, dict) else None


def _variables(
    content: ZarrContent, variables: dict[str, Any], dimensions: dict[str, Any]
) -> Iterator[tuple[Severity, str, str]]:
    """Compare a store's data variables with ``cube:variables``.

    Errors: a declared variable the store lacks (a declared one may also be a coordinate), or an
    undeclared variable over the cube's spatial dimensions (gridded data nobody is told about).
    An undeclared variable along other dimensions only (per-time metadata, an auxiliary
    variable in datacube terms) is a warning.
    """
    declared = set(variables)
    undeclared = set(content.data_variables) - declared
    spatial = {n for n, d in dimensions.items() if isinstance(d, dict) and d.get("type") == "spatial"}
    auxiliary = sorted(n for n in undeclared if spatial and not spatial <= set(content.data_variables[n]))
    present = (set(content.data_variables) - set(auxiliary)) | (content.coordinates & declared)
    differences = _differences(present, declared)
    if differences:
        yield (
            "error",
            "zarr-variables",
            f"has Zarr variables that disagree with cube:variables: {differences}",
        )
    if auxiliary:
        yield (
            "warning",
            "zarr-variables",
            f"has variables off the spatial grid that cube:variables does not declare: {', '.join(auxiliary)}"
            " (declare them with type auxiliary)",
        )


@dataclass(frozen=True)
class FileRead:
    """What reading one file found: its multihash (function of ``checksum``) and rio-cogeo's result."""

    checksum: str
    """The ``file:checksum`` the digest was taken for (its function)."""
    digest: str | None
    cog: CogResult | None


class AssetChecker:
    """Checks the assets of one document after another; remembers what it learnt about the last
    :data:`RECENT_FILES` files.

    Assets outside the catalog's directory (``root``) are reported, never read. With a thread
    pool (``executor``), :meth:`prefetch` reads a document's files on it ahead of :meth:`check`.
    """

    def __init__(
        self, root: Path, cache: ValidationCache | None = None, executor: Executor | None = None
    ) -> None:
        """Start with nothing read, for the catalog in directory ``root``; COG results go in ``cache``."""
        self.root = root
        self._cache = cache
        self._executor = executor
        self._reads: dict[Path, Future[FileRead]] = {}
        self._requested: LRUCache[Path, bool] = LRUCache(RECENT_FILES)
        self._digests: LRUCache[tuple[Path, str], str | None] = LRUCache(RECENT_FILES)
        self._cogs: LRUCache[Path, CogResult] = LRUCache(RECENT_FILES)
        self._zarrs: LRUCache[Path, ZarrContent | str] = LRUCache(RECENT_FILES)
        self._parquets: LRUCache[Path, list[str] | str] = LRUCache(RECENT_FILES)

    def _local_assets(self, document: StacDocument) -> Iterator[tuple[str, dict[str, Any], str, Path | None]]:
        """Each asset with an href, sorted by key, with its local path (None: remote)."""
        for key, asset in sorted(document.assets.items()):
            href = asset.get("href")
            if isinstance(href, str):  # the schema check reports an asset without an href
                yield key, asset, href, local_path(href, document.path.parent)

    def prefetch(self, document: StacDocument) -> None:
        """Start reading, on the executor, every file of ``document`` that :meth:`check` will read.

        A file is read for its ``file:checksum`` (when its size matches ``file:size``) and, for
        a COG, by rio-cogeo; a file once while it is recent (:data:`RECENT_FILES`) or being read.
        Without an executor this does nothing.
        """
        if self._executor is None:
            return
        for _, asset, href, path in self._local_assets(document):
            if path is None or path in self._requested or path in self._reads or asset.get("type") == ZARR:
                continue
            if href_problem(href, document.path.parent, self.root) is not None or not path.is_file():
                continue
            checksum = asset.get("file:checksum")
            size = asset.get("file:size")
            if not isinstance(checksum, str) or (isinstance(size, int) and path.stat().st_size != size):
                continue
            cog = "profile=cloud-optimized" in str(asset.get("type", ""))
            self._requested[path] = True
            self._reads[path] = self._executor.submit(self._read_file, path, checksum, cog)

    def _read_file(self, path: Path, checksum: str, cog: bool) -> FileRead:
        digest = self._digest(path, checksum)
        return FileRead(checksum, digest, self._cog_result(path, checksum, digest) if cog else None)

    def _digest(self, path: Path, checksum: str) -> str | None:
        """The file's multihash with the function of ``checksum``: remembered, else read."""
        if self._cache is None:
            return _multihash(path, checksum)
        function = _function_code(checksum)
        if function is None:
            return None
        signature, settled = file_signature(path, function)
        digest = self._cache.file_digest(signature)
        if digest is None:
            digest = _multihash(path, checksum)
            if digest is not None and settled:
                self._cache.add_file_digest(signature, digest)
        return digest

    def _prefetched(self, path: Path) -> FileRead | None:
        future = self._reads.pop(path, None)
        return None if future is None else future.result()

    def check(self, document: StacDocument, report: ValidationReport) -> None:
        """Check every asset of ``document``, adding its problems and counts to ``report``."""
        for key, asset, href, path in self._local_assets(document):
            if path is None:
                report.remote_assets += 1
                continue
            report.assets += 1
            where = f"asset {key!r} of {document.id}"
            outside = href_problem(href, document.path.parent, self.root)
            if outside is not None:
                report.add(Problem("error", INTEGRITY, "href", str(document.path), f"{where} {outside}"))
                continue
            read = self._prefetched(path)
            if read is not None:
                self._digests[(path, read.checksum[:4].lower())] = read.digest
                if read.cog is not None:
                    self._cogs[path] = read.cog
            for severity, rule, message in self._asset(document, asset, path):
                report.add(Problem(severity, INTEGRITY, rule, str(path), f"{where} {message}"))

    def _asset(
        self, document: StacDocument, asset: dict[str, Any], path: Path
    ) -> Iterator[tuple[Severity, str, str]]:
        media_type = str(asset.get("type", ""))
        if media_type == ZARR:
            if not path.is_dir():
                yield "error", "missing", "is missing (no Zarr store there)"
                return
            yield from self._zarr(document, asset, path)
            return
        if not path.is_file():
            yield "error", "missing", "is a directory, not a file" if path.is_dir() else "is missing"
            return
        yield from self._file(asset, path)
        if "profile=cloud-optimized" in media_type:
            yield from self._cog(asset, path)
        elif media_type == PARQUET:
            yield from self._parquet(document, asset, path)

    def _file(self, asset: dict[str, Any], path: Path) -> Iterator[tuple[Severity, str, str]]:
        size = asset.get("file:size")
        actual = path.stat().st_size
        if isinstance(size, int) and actual != size:
            yield "error", "size", f"has {actual} bytes, file:size says {size}"
            return  # the checksum cannot match either
        checksum = asset.get("file:checksum")
        if not isinstance(checksum, str):
            return
        key = (path, checksum[:4].lower())
        if key not in self._digests:
            self._digests[key] = self._digest(path, checksum)
        digest = self._digests[key]
        if digest is None:
            yield (
                "warning",
                "checksum",
                f"has a file:checksum ({checksum[:8]}...) of an unsupported hash function",
            )
        elif digest != checksum.lower():
            yield (
                "error",
                "checksum",
                f"does not match its file:checksum (file {digest[:16]}..., declared {checksum[:16]}...)",
            )

    def _cog(self, asset: dict[str, Any], path: Path) -> Iterator[tuple[Severity, str, str]]:
        if path not in self._cogs:
            checksum = asset.get("file:checksum")
            digest = self._digests.get((path, "1220"))
            self._cogs[path] = self._cog_result(path, checksum if isinstance(checksum, str) else "", digest)
        errors, warnings = self._cogs[path]
        if errors:
            yield "error", "cog", f"is not a valid COG: {'; '.join(errors)}"
        if warnings:
            yield "warning", "cog", f"is a COG with warnings: {'; '.join(warnings)}"

    def _cog_result(self, path: Path, checksum: str, digest: str | None) -> CogResult:
        """rio-cogeo's result for ``path``: from the cache when :meth:`_cache_key` allows, else computed."""
        cached = self._cache_key(checksum, digest, path)
        return _cog_problems(path) if cached is None else self._remembered_cog(path, cached)

    def _cache_key(self, checksum: str, digest: str | None, path: Path) -> str | None:
        """The hex SHA-256 to look the COG's result up by in the cache, if it may be.

        Only with a cache, for a file whose ``file:checksum`` is a SHA-256 multihash that
        matches the file's ``digest`` (so this is the digest of its bytes now) and that has no
        sidecar files (:func:`has_sidecars`).
        """
        if self._cache is None or not checksum.lower().startswith("1220"):
            return None
        if digest is None or digest != checksum.lower() or has_sidecars(path):
            return None
        return digest[4:]

    def _remembered_cog(self, path: Path, sha256: str) -> CogResult:
        """rio-cogeo's result for the file with digest ``sha256`` from the cache, else computed and cached.

        A file that is no readable GeoTIFF is not remembered (the message names its path).
        """
        assert self._cache is not None
        remembered = self._cache.cog(sha256)
        if remembered is not None:
            return remembered
        result = _validate_cog(path)
        if isinstance(result, str):
            return [result], []
        self._cache.add_cog(sha256, *result)
        return result

    def _zarr(
        self, document: StacDocument, asset: dict[str, Any], path: Path
    ) -> Iterator[tuple[Severity, str, str]]:
        if path not in self._zarrs:
            self._zarrs[path] = _open_zarr(path)
        content = self._zarrs[path]
        if isinstance(content, str):
            yield "error", "zarr", content
            return
        variables = _declared(document, asset, "cube:variables")
        dimensions = _declared(document, asset, "cube:dimensions")
        if isinstance(variables, dict):
            yield from _variables(content, variables, dimensions if isinstance(dimensions, dict) else {})
        if isinstance(dimensions, dict):
            absent = sorted(set(dimensions) - content.dimensions)
            if absent:
                yield (
                    "error",
                    "zarr-dimensions",
                    f"has no dimension {', '.join(absent)} that cube:dimensions declares"
                    f" (the store's: {', '.join(sorted(content.dimensions))})",
                )

    def _parquet(
        self, document: StacDocument, asset: dict[str, Any], path: Path
    ) -> Iterator[tuple[Severity, str, str]]:
        if path not in self._parquets:
            self._parquets[path] = _parquet_columns(path)
        columns = self._parquets[path]
        if isinstance(columns, str):
            yield "error", "parquet", columns
            return
        declared = _declared(document, asset, "table:columns")
        if not isinstance(declared, list):
            return
        names = [c.get("name") for c in declared if isinstance(c, dict)]
        differences = _differences(columns, [n for n in names if isinstance(n, str)])
        if differences:
            yield (
                "error",
                "parquet-columns",
                f"has Parquet columns that disagree with table:columns: {differences}",
            )
