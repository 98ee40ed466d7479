"""What the software that made an output is: this package's source and the libraries that shape bytes."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path

import rasterio

SHAPING_DISTRIBUTIONS = (
    "numpy",
    "rasterio",
    "rio-cogeo",
    "xarray",
    "zarr",
    "numcodecs",
    "pandas",
    "pyarrow",
    "pystac",
    "matplotlib",
    "pillow",
    "scipy",
    "h5netcdf",
    "pyhdf",
    "dask",
)
"""Libraries whose version can change the bytes a build writes."""


@cache
def code_digest() -> str:
    """SHA-256 over this package's own source files."""
    sha = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        sha.update(path.relative_to(package).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def distribution_version(name: str) -> str:
    """The installed version of distribution ``name``, or ``absent``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


@cache
def software_digest() -> str:
    """SHA-256 over the package source, the shaping libraries' versions and GDAL's version."""
    sha = hashlib.sha256(code_digest().encode())
    for name in SHAPING_DISTRIBUTIONS:
        sha.update(f"\n{name}=={distribution_version(name)}".encode())
    sha.update(f"\ngdal=={rasterio.__gdal_version__}".encode())
    return sha.hexdigest()
