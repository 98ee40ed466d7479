"""Which files under SOURCE/modis are read, in which provider form, and what is left out and why.

Rules (docs/sources.md, MODIS):

* LP DAAC HDF4 granules, Planetary Computer per-SDS COGs and their STAC items are read; ECS
  metadata sidecars (``.hdf.xml``) are recognized and not needed.
* An AppEEARS export or a collection other than 6.1 stops the run with a one-line error.
* Any other file is named in a warning, never ignored silently (but ``acquire``'s manifest).
* One tile-day, several granules (different production stamps): the latest production is kept,
  the others are skipped with the reason; the same granule as HDF4 and as COGs is read from the
  HDF4 file. A tile the AOI does not need is skipped, naming the tiles it needs. An incomplete
  COG set (an SDS missing) is skipped.

Skipped inputs come back as ``{"id", "reason"}`` records for ``glofnet:skipped``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.constants import ACQUIRE_MANIFEST
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.output import input_files
from stactools_glofnet.modis.names import ACCEPTED_FORMS, APPEEARS, GranuleName, check_collection, parse
from stactools_glofnet.modis.process import TileSource, source_mosaic
from stactools_glofnet.modis.read import LST_SCALE, SDS

logger = logging.getLogger(__name__)
SHOWN = 10  # unmatched files named in the warning


@dataclass(frozen=True, slots=True)
class _Candidate:
    granule: GranuleName
    source: TileSource

    @property
    def order(self) -> tuple[str, int]:
        """Latest production last; for one production, HDF4 (the archive original) after COGs."""
        return (self.granule.production, 1 if isinstance(self.source, str) else 0)

    @property
    def form(self) -> str:
        return "HDF4 granule" if isinstance(self.source, str) else "COG set"

    @property
    def label(self) -> str:
        """The input as named in ``glofnet:skipped``: the HDF4 file, or the COG set's pattern."""
        if isinstance(self.source, str):
            return os.path.basename(self.source)
        return f"{self.granule.granule_id}_*.tif"


@dataclass
class Discovery:
    """The tile-days to read and what was seen but left out."""

    days: dict[dt.date, dict[str, TileSource]]
    skipped: list[dict[str, str]]
    seen: int
    unmatched: list[str] = field(default_factory=list)
    sidecars: int = 0

    def nothing_usable(self) -> str:
        """Why no tile-day is left: the one line of the error."""
        reasons = sorted({entry["reason"].split(":")[0] for entry in self.skipped})
        parts = [f"{self.seen} files seen", f"{len(self.unmatched)} matching no MOD11A1 form"]
        if self.sidecars:
            parts.append(f"{self.sidecars} metadata sidecars")
        if self.skipped:
            parts.append(f"{len(self.skipped)} granules skipped ({'; '.join(reasons)})")
        return f"no MOD11A1 files to read: {', '.join(parts)}; accepted forms: {ACCEPTED_FORMS}"


def _item_cogs(path: Path) -> dict[str, str]:
    """The SDS COGs a Planetary Computer item points at (local files, relative to the item)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        assets: dict[str, Any] = document["assets"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise GlofnetError(path, f"not a readable STAC item ({type(error).__name__}: {error})") from None
    cogs: dict[str, str] = {}
    for sds in SDS:
        asset = assets.get(sds)
        if not isinstance(asset, dict) or "href" not in asset:
            raise GlofnetError(path, f"item has no {sds} asset")
        href = str(asset["href"])
        local = Path(href) if Path(href).is_absolute() else path.parent / href
        if "://" in href or not local.is_file():
            raise GlofnetError(path, f"asset {sds} {href!r} is not a local file beside the item")
        if sds.startswith("LST"):
            declared = (asset.get("raster:bands") or [{}])[0].get("scale")
            if declared is not None and not np.isclose(float(declared), LST_SCALE):
                raise GlofnetError(path, f"{sds} raster:bands scale {declared} is not {LST_SCALE}")
        cogs[sds] = str(local.resolve())
    return cogs


def _classify(files: Iterable[str]) -> tuple[list[_Candidate], list[dict[str, str]], list[str], int, int]:
    """Granule candidates, incomplete COG sets, unmatched files, sidecar count and files seen."""
    candidates: list[_Candidate] = []
    cogs: dict[str, dict[str, str]] = defaultdict(dict)
    names: dict[str, GranuleName] = {}
    unmatched: list[str] = []
    sidecars = seen = 0
    for path in files:
        seen += 1
        if APPEEARS.match(os.path.basename(path)):
            raise GlofnetError(
                path,
                "an AppEEARS export (reprojected, no tile or production stamp) is not read;"
                f" accepted forms: {ACCEPTED_FORMS}",
            )
        name = parse(path)
        if name is None:
            unmatched.append(path)
            continue
        check_collection(name)
        if name.kind == "sidecar":
            sidecars += 1
        elif name.kind == "hdf":
            candidates.append(_Candidate(name, path))
        elif name.kind == "item":
            for sds, cog in _item_cogs(Path(path)).items():
                cogs[name.granule_id][sds] = cog
            names.setdefault(name.granule_id, name)
        elif name.sds is not None:
            cogs[name.granule_id].setdefault(name.sds, os.path.realpath(path))
            names.setdefault(name.granule_id, name)
    incomplete: list[dict[str, str]] = []
    for granule_id, by_sds in sorted(cogs.items()):
        missing = [sds for sds in SDS if sds not in by_sds]
        if missing:
            reason = f"incomplete COG set: no {', '.join(missing)}"
            incomplete.append({"id": f"{granule_id}_*.tif", "reason": reason})
            continue
        candidates.append(_Candidate(names[granule_id], {sds: by_sds[sds] for sds in SDS}))
    return candidates, incomplete, unmatched, sidecars, seen


def discover(source_dir: Path, content: CatalogContent) -> Discovery:
    """Classify every file under ``source_dir``; pick one granule per needed tile-day.

    Files are classified as they are found (:func:`~stactools_glofnet.core.output.input_files`),
    as path strings: at the whole archive they are about 75,000, and what discovery keeps of each
    until its day's job is sent is its name. (Kept as :class:`~pathlib.Path` objects in the
    granule names, the 0.5 sample's 36,300 files took discovery's traced peak to 24 MiB, against
    17 as strings, and pathlib interned every file name at once, which grows CPython's table of
    interned strings for good.)
    """
    files = (
        path
        for path in input_files(source_dir)
        if not os.path.basename(path).startswith(".") and os.path.basename(path) != ACQUIRE_MANIFEST
    )
    candidates, skipped, unmatched, sidecars, seen = _classify(files)
    if unmatched:
        shown = ", ".join(os.path.relpath(p, source_dir) for p in unmatched[:SHOWN])
        more = f" and {len(unmatched) - SHOWN} more" if len(unmatched) > SHOWN else ""
        logger.warning(
            "%s: %d files match no MOD11A1 form and are not read: %s%s (accepted forms: %s)",
            source_dir,
            len(unmatched),
            shown,
            more,
            ACCEPTED_FORMS,
        )
    if sidecars:
        logger.info("%s: %d LP DAAC metadata sidecars (.hdf.xml) are not needed", source_dir, sidecars)
    needed = sorted({window.tile for window in source_mosaic(content)[1]})
    by_tile_day: dict[tuple[dt.date, str], list[_Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_tile_day[(candidate.granule.day, candidate.granule.tile)].append(candidate)
    days: dict[dt.date, dict[str, TileSource]] = defaultdict(dict)
    for (day, tile), group in sorted(by_tile_day.items()):
        group.sort(key=lambda c: c.order)
        kept = group[-1]
        if tile not in needed:
            for candidate in group:
                reason = f"tile {tile} is not needed: the AOI lies in {', '.join(needed)}"
                skipped.append({"id": candidate.label, "reason": reason})
            continue
        for other in group[:-1]:
            if other.granule.production == kept.granule.production:
                reason = f"same granule as its {kept.form}, which is read"
            else:
                reason = (
                    f"duplicate tile-day: production {kept.granule.production} of"
                    f" {kept.granule.granule_id} is later and is read"
                )
            skipped.append({"id": other.label, "reason": reason})
        days[day][tile] = kept.source
    skipped.sort(key=lambda entry: (entry["id"], entry["reason"]))
    return Discovery(dict(sorted(days.items())), skipped, seen, unmatched, sidecars)
