"""What SOURCE/itslive holds: v2 granule files (``*.nc``) and datacubes (``*.zarr`` directories).

Every image pair is read once: a pair that is both a granule file and a datacube layer (same
granule id) is read from the file, and the layer is recorded as skipped; a cube that does not reach
the AOI is recorded as skipped. Any other file (but ``acquire``'s manifest) is named in a warning,
never ignored silently.

A datacube's window is decoded here once into scratch files (:func:`stage_window`), and each
layer's job reads its own layer from them: a job's argument is the layer's metadata, where its
pixels are and a digest, never pixels, so the driver (and the scheduler living in it) holds
nothing per pair sent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.constants import ACQUIRE_MANIFEST
from stactools_glofnet.core.output import is_output
from stactools_glofnet.core.wing import Skips
from stactools_glofnet.itslive.cube import (
    CubeWindow,
    StagedWindow,
    cube_layers,
    open_cube,
    stage_window,
    with_pixels,
)
from stactools_glofnet.itslive.process import target_grid
from stactools_glofnet.itslive.read import Granule, read_granule

logger = logging.getLogger(__name__)
SHOWN = 10


@dataclass(frozen=True)
class CubeLayer:
    """A datacube layer for its job: its granule without pixels, and where they are staged."""

    granule: Granule
    staged: StagedWindow
    index: int
    digest: str
    """SHA-256 of the layer's metadata and values: everything the pair's result depends on."""

    @property
    def id(self) -> str:
        """The pair's granule id."""
        return self.granule.id

    @property
    def source(self) -> Path:
        """The datacube it is a layer of."""
        return self.granule.path


@dataclass
class Inputs:
    """The granule files (their paths, as strings) and datacube windows to read, in order.

    A file is held as its name alone, never as a :class:`~pathlib.Path` (which keeps its parsed
    parts, several times the size), from discovery until its job is sent.
    """

    files: list[str]
    cubes: list[CubeWindow]
    missed: list[dict[str, str]]

    def __len__(self) -> int:
        """Image pairs to look at: one per file, one per cube layer."""
        return len(self.files) + sum(cube.layers for cube in self.cubes)

    def granules(self, skips: Skips, source_dir: Path, scratch: Path) -> Iterator[str | CubeLayer]:
        """Every pair once, files first, as what :func:`load` reads (so on the build's engine).

        A datacube's window is decoded into ``scratch`` before its first layer is given (the
        caller removes ``scratch``); a layer whose pair is also a file, and the inputs discovery
        could not use, go to ``skips``.
        """
        for missed in self.missed:
            skips.add(missed["id"], missed["reason"], kind="input", path=source_dir / missed["id"])
        yield from self.files
        if not self.cubes:
            return
        # what already reads a pair: its file (the path, not a copy) or a layer (a name, its own basename)
        seen = {pair_id(path): path for path in self.files}
        for number, cube in enumerate(self.cubes):
            staged: StagedWindow | None = None
            label = f"a layer of {cube.path.name}"  # one string for all its layers
            for index, granule in enumerate(cube_layers(cube)):
                if granule.id in seen:
                    also = os.path.basename(seen[granule.id])
                    reason = f"duplicate pair: the layer of {cube.path.name} is also {also}, which is read"
                    skips.add(granule.id, reason, kind="input", path=cube.path)
                    continue
                seen[granule.id] = label
                if staged is None:
                    staged = stage_window(cube, scratch / f"cube-{number:04d}")
                yield CubeLayer(granule, staged, index, _digest(granule, staged, index))


def _digest(granule: Granule, staged: StagedWindow, index: int) -> str:
    sha = hashlib.sha256(pickle.dumps(granule, protocol=pickle.HIGHEST_PROTOCOL))
    for name, values in staged.layer(index).items():
        sha.update(name.encode())
        sha.update(values.tobytes())
    return sha.hexdigest()


def pair_id(path: str) -> str:
    """The granule id of a granule file: its name without ``.nc``."""
    return os.path.basename(path).removesuffix(".nc")


def load(pair: str | CubeLayer) -> Granule:
    """The granule of one pair from :meth:`Inputs.granules`: a granule file read, or a layer."""
    if isinstance(pair, str):
        return read_granule(Path(pair))
    return with_pixels(pair.granule, pair.staged.layer(pair.index))


def discover(source_dir: Path, content: CatalogContent) -> Inputs:
    """Granule files and datacubes under ``source_dir`` (not recursive), in name order.

    One pass over the directory's entries, each classified once from what the listing says.
    """
    files: list[str] = []
    stores: list[Path] = []
    unmatched: list[str] = []
    with os.scandir(source_dir) as listing:
        for entry in sorted(listing, key=lambda entry: entry.name):
            name = entry.name
            if name.startswith(".") or name == ACQUIRE_MANIFEST:
                continue
            if entry.is_dir() and is_output(Path(entry.path)):
                continue
            if name.endswith(".zarr"):
                stores.append(Path(entry.path))
            elif name.endswith(".nc") and entry.is_file():
                files.append(entry.path)
            else:
                unmatched.append(name)
    if unmatched:
        shown = ", ".join(unmatched[:SHOWN])
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
