"""MOD11A1 file names in the forms providers publish (docs/sources.md, MODIS).

* LP DAAC HDF4-EOS granule: ``MOD11A1.A2021227.h11v05.061.2021228105320.hdf`` (the granule id:
  product, ``A``+year+day of year, tile, collection, production stamp ``YYYYDDDHHMMSS``), with
  its ECS metadata sidecar ``<granule id>.hdf.xml``.
* Planetary Computer COG, one per SDS: ``<granule id>_LST_Day_1km.tif``; its STAC item
  ``<granule id>.json`` where kept beside.
* AppEEARS export: ``MOD11A1.061_LST_Day_1km_doy2021227_aid0001.tif`` (product.collection, layer,
  day; no tile, no production): recognized only to be refused.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from os import PathLike
from typing import Final, Literal

from stactools_glofnet.core.errors import GlofnetError

PRODUCT: Final = "MOD11A1"
COLLECTION: Final = "061"
GRANULE = re.compile(
    r"^(?P<product>MOD11A1)\.A(?P<year>\d{4})(?P<doy>\d{3})\.(?P<tile>h\d\dv\d\d)"
    r"\.(?P<collection>\d{3})\.(?P<production>\d{13})(?P<rest>.*)$"
)
APPEEARS = re.compile(r"^MOD11A1\.\d{3}_.+\.tif$", re.IGNORECASE)
Kind = Literal["hdf", "cog", "item", "sidecar"]
ACCEPTED_FORMS: Final = (
    "LP DAAC HDF4 granules (MOD11A1.AYYYYDDD.hHHvVV.061.<production>.hdf),"
    " Planetary Computer COGs (<granule id>_<SDS>.tif) and their STAC items (<granule id>.json)"
)


@dataclass(frozen=True, slots=True)
class GranuleName:
    """What a granule-form file name says."""

    path: str
    """The file's path, as a string: discovery holds a name per SOURCE file, and a
    :class:`~pathlib.Path` kept its parsed parts too (and grew the table of interned strings)."""
    day: dt.date
    tile: str
    collection: str
    production: str
    kind: Kind
    sds: str | None = None

    @property
    def granule_id(self) -> str:
        """The granule id: the LP DAAC file name without ``.hdf``."""
        day = f"A{self.day:%Y}{self.day.timetuple().tm_yday:03d}"
        return f"{PRODUCT}.{day}.{self.tile}.{self.collection}.{self.production}"


def _kind(rest: str) -> tuple[Kind, str | None] | None:
    if rest == ".hdf":
        return "hdf", None
    if rest == ".hdf.xml":
        return "sidecar", None
    if rest == ".json":
        return "item", None
    if rest.startswith("_") and rest.endswith(".tif") and len(rest) > 5:
        return "cog", rest[1:-4]
    return None


def parse(path: str | PathLike[str]) -> GranuleName | None:
    """The granule name of ``path``, or None when it is not in a granule form."""
    path = os.fspath(path)
    match = GRANULE.match(os.path.basename(path))
    if match is None:
        return None
    kind = _kind(match["rest"])
    if kind is None:
        return None
    year, doy = int(match["year"]), int(match["doy"])
    try:
        day = dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)
    except ValueError:
        raise GlofnetError(path, f"day of year {doy} is not valid") from None
    if day.year != year:
        raise GlofnetError(path, f"day of year {doy} is not in {year}")
    return GranuleName(path, day, match["tile"], match["collection"], match["production"], *kind)


def check_collection(name: GranuleName) -> None:
    """Refuse any collection but 6.1, naming the version found."""
    if name.collection != COLLECTION:
        raise GlofnetError(name.path, collection_refusal(name.collection))


def _version(found: str) -> str:
    """The collection number as people write it: 005 -> 5, 006 -> 6, 061 -> 6.1."""
    if not (len(found) == 3 and found.isdigit()):
        return found
    return str(int(found)) if found.startswith("00") else f"{int(found[:2])}.{found[2]}"


def collection_refusal(found: str) -> str:
    """Why a collection other than 6.1 is refused."""
    return (
        f"MOD11A1 collection {found} ({_version(found)}) is not read: only collection 6.1"
        " (061) is, because mixing collections (each reprocessed with its own calibration) biases the"
        " LST trend"
    )


def require(path: str | PathLike[str], kind: Kind) -> GranuleName:
    """The name of a file read as ``kind``; a one-line error when it is not one (or not 6.1)."""
    name = parse(path)
    if name is None or name.kind != kind:
        raise GlofnetError(
            path, f"name is not a MOD11A1 granule {kind} name; accepted forms: {ACCEPTED_FORMS}"
        )
    check_collection(name)
    return name
