"""What SOURCE/itslive holds: v2 granule files (``*.nc``) and datacubes (``*.zarr`` directories).

Every image pair is read once: a pair that is both a granule file and a datacube layer (same
granule id) is read from the file, and the layer is recorded as skipped; a cube that does not reach
the AOI is recorded as skipped. Any other file (but ``acquire``'s manifest) is named in a warning,
never ignored silently.

Datacube layers are decoded here, a block at a time, and each is written to a scratch file that
its job reads: a job's argument is then a path and a digest, never pixels, so the driver (and the
scheduler living in it) holds nothing per pair sent.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.constants import ACQUIRE_MANIFEST
from stactools_glofnet.core.output import is_output
from stactools_glofnet.core.wing import Skips
from stactools_glofnet.itslive.cube import CubeWindow, cube_layers, open_cube
from stactools_glofnet.itslive.process import target_grid
from stactools_glofnet.itslive.read import Granule, read_granule

logger = logging.getLogger(__name__)
SHOWN = 10


@dataclass(frozen=True)
class StagedLayer:
    """A datacube layer decoded by the driver and pickled to ``path`` for its job to read."""

    path: Path
    source: Path
    """The datacube it is a layer of."""
    id: str
    digest: str
    """SHA-256 of the pickled layer: everything the pair's result depends on."""


@dataclass
class Inputs:
    """The granule files and datacube windows to read, in order."""

    files: list[Path]
    cubes: list[CubeWindow]
    missed: list[dict[str, str]]

    def __len__(self) -> int:
        """Image pairs to look at: one per file, one per cube layer."""
        return len(self.files) + sum(cube.layers for cube in self.cubes)

    def granules(self, skips: Skips, source_dir: Path, scratch: Path) -> Iterator[Path | StagedLayer]:
        """Every pair once, files first, as what :func:`load` reads (so on the build's engine).

        Datacube layers are decoded and written to ``scratch``, one file each (the caller
        removes a file once its job is done); a layer whose pair is also a file, and the inputs
        discovery could not use, go to ``skips``.
        """
        for missed in self.missed:
            skips.add(missed["id"], missed["reason"], kind="input", path=source_dir / missed["id"])
        seen = {path.stem: path.name for path in self.files}
        yield from self.files
        for cube in self.cubes:
            for granule in cube_layers(cube):
                if granule.id in seen:
                    also = seen[granule.id]
                    reason = f"duplicate pair: the layer of {cube.path.name} is also {also}, which is read"
                    skips.add(granule.id, reason, kind="input", path=cube.path)
                    continue
                seen[granule.id] = f"a layer of {cube.path.name}"
                yield _staged(granule, scratch / f"{len(seen):08d}.pickle")


def _staged(granule: Granule, path: Path) -> StagedLayer:
    body = pickle.dumps(granule, protocol=pickle.HIGHEST_PROTOCOL)
    path.write_bytes(body)
    return StagedLayer(path, granule.path, granule.id, hashlib.sha256(body).hexdigest())


def load(pair: Path | StagedLayer) -> Granule:
    """The granule of one pair from :meth:`Inputs.granules`: a granule file read, or a layer."""
    if isinstance(pair, Path):
        return read_granule(pair)
    granule = pickle.loads(pair.path.read_bytes())
    if not isinstance(granule, Granule):
        raise TypeError(f"{pair.path} does not hold a granule")
    return granule


def discover(source_dir: Path, content: CatalogContent) -> Inputs:
    """Granule files and datacubes under ``source_dir`` (not recursive), in name order."""
    entries = sorted(
        p
        for p in source_dir.iterdir()
        if not p.name.startswith(".") and p.name != ACQUIRE_MANIFEST and not is_output(p)
    )
    files = [p for p in entries if p.is_file() and p.suffix == ".nc"]
    stores = [p for p in entries if p.suffix == ".zarr"]
    unmatched = [p for p in entries if p not in files and p not in stores]
    if unmatched:
        shown = ", ".join(p.name for p in unmatched[:SHOWN])
        more = f" and {len(unmatched) - SHOWN} more" if len(unmatched) > SHOWN else ""
        logger.warning(
            "%s: %d entries are neither granules (*.nc) nor datacubes (*.zarr) and are not read: %s%s",
            source_dir,
            len(unmatched),
            shown,
            more,
        )
    target = target_grid(content)
    cubes: list[CubeWindow] = []
    missed: list[dict[str, str]] = []
    for store in stores:
        window = open_cube(store, target, content.processing.itslive.outlier_window)
        if window is None:
            missed.append({"id": store.name, "reason": "outside the AOI: the datacube does not intersect it"})
        else:
            cubes.append(window)
    return Inputs(files, cubes, missed)
