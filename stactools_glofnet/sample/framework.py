"""The sample framework: sizes, seeded random streams, AOI grids, the time line, truth.json.

``write_sample`` runs every registered generator into a staging directory and then moves it to
DEST, writing ``sample.json`` (the manifest: grids, span, every file with its size and SHA-256)
and ``truth.json`` (what each generator planted). Same seed and content → identical bytes.

Random-number discipline: each generator draws only from ``ctx.rng(stream)``, a generator
seeded by ``SeedSequence(seed, spawn_key=(crc32(stream),))``. Streams are independent of one
another and of the order generators run in, so adding a generator never changes the bytes an
existing one writes.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from stactools_glofnet import __version__
from stactools_glofnet.core.config import BBox, CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import sha256_file, write_json
from stactools_glofnet.core.grids import Grid, TileWindow, aoi_grid, tile_windows
from stactools_glofnet.core.output import replacing
from stactools_glofnet.sample.names import (
    DEFAULT_SEED,
    MANIFEST_FORMAT,
    MANIFEST_FORMAT_VERSION,
    MANIFEST_NAME,
    TRUTH_NAME,
    SizeName,
)
from stactools_glofnet.sample.timeline import Timeline

__all__ = ["DEFAULT_SEED", "FRACTION_SIZES", "SIZES", "SizeName", "last_fraction", "write_sample"]

T = TypeVar("T")


@dataclass(frozen=True)
class SampleSize:
    """How much a sample holds: its time span and the area its fine grids cover."""

    name: SizeName
    start: dt.date
    end: dt.date
    # Metres around the lake basin that the fine (10-120 m) grids cover; None = the whole AOI.
    lake_margin_m: float | None
    # The last part of the size's inputs kept (``--fraction``; only the glofnet size has one).
    fraction: float = 1.0

    def last(self, fraction: float) -> SampleSize:
        """The size cut to the last ``fraction`` of its span: start moved to end - fraction x span."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction {fraction} is not in (0, 1]")
        if fraction == 1:
            return self
        days = round(fraction * (self.end - self.start).days)
        return replace(self, start=self.end - dt.timedelta(days=days), fraction=fraction)


SIZES: dict[SizeName, SampleSize] = {
    # Seconds and a few MB: every drainage of 2019-2022 around the lake.
    "small": SampleSize("small", dt.date(2018, 10, 1), dt.date(2022, 10, 31), 800.0),
    # GLOFNet scale: MODIS from its first day, the whole AOI, to the end of 2024.
    "full": SampleSize("full", dt.date(2000, 2, 24), dt.date(2024, 12, 31), None),
    # The real archive cadences over the same span and area (Sentinel-2 every 5 days, ITS_LIVE
    # pairs as v2 forms them, MODIS daily): for measuring build time and memory; see --fraction.
    "glofnet": SampleSize("glofnet", dt.date(2000, 2, 24), dt.date(2024, 12, 31), None),
}
FRACTION_SIZES: tuple[SizeName, ...] = ("glofnet",)
"""The sizes ``--fraction`` applies to."""


def last_fraction(items: Sequence[T], day: Callable[[T], dt.date], fraction: float) -> list[T]:
    """The last ``fraction`` of ``items`` (sorted by ``day``), cut on a day boundary.

    Keeps every item dated on or after the day of the item ``ceil(fraction x n)`` from the end, so
    about ``fraction`` of them: a modality whose cadence changes (Sentinel-2: 10 then 5 days) keeps
    that share of its inputs, which a common cut in time would not.
    """
    if fraction >= 1 or not items:
        return list(items)
    keep = max(1, math.ceil(fraction * len(items)))
    cut = day(items[len(items) - keep])
    return [item for item in items if day(item) >= cut]


def _lake_extent(content: CatalogContent, margin_m: float) -> BBox:
    west, south, east, north = content.geometry.lake.bbox
    lat = np.radians((south + north) / 2)
    dlat = margin_m / 110_950.0
    dlon = margin_m / (111_320.0 * float(np.cos(lat)))
    return (west - dlon, south - dlat, east + dlon, north + dlat)


@dataclass
class SampleContext:
    """What a generator gets: destination, size, seed, content, grids, time line."""

    dest: Path
    size: SampleSize
    seed: int
    content: CatalogContent
    timeline: Timeline
    files: list[Path] = field(default_factory=list)

    def rng(self, stream: str) -> np.random.Generator:
        """The independent random stream called ``stream`` (see the module docstring)."""
        return stream_rng(self.seed, stream)

    @property
    def extent(self) -> BBox:
        """The WGS84 box the fine grids cover: the AOI, or the lake neighbourhood when small."""
        if self.size.lake_margin_m is None:
            return self.content.geometry.aoi.bbox
        return _lake_extent(self.content, self.size.lake_margin_m)

    def grid(self, name: str) -> Grid:
        """The sample's grid ``name`` (a key of ``processing.grids``) over :attr:`extent`."""
        try:
            spec = self.content.processing.grids[name]
        except KeyError:
            raise GlofnetError(self.content.directory / "processing.toml", f"no grid {name!r}") from None
        return aoi_grid(spec, self.extent)

    def tile_windows(self, name: str) -> list[TileWindow]:
        """A tiled grid's (MODIS) windows over the whole AOI; coarse enough to always cover it."""
        return tile_windows(self.content.processing.grids[name], self.content.geometry.aoi.bbox)

    def path(self, relative: str) -> Path:
        """A path inside the sample for a new file; the file is listed in the manifest."""
        target = self.dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        self.files.append(target)
        return target


Generator = Callable[[SampleContext], dict[str, Any]]
"""A modality's sample generator: writes its source files through ``ctx``, returns its truth."""


def stream_rng(seed: int, stream: str) -> np.random.Generator:
    """A numpy generator for the named stream of ``seed``."""
    key = zlib.crc32(stream.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


def make_timeline(content: CatalogContent, size: SampleSize, seed: int) -> Timeline:
    """The time line every generator of one sample shares."""
    return Timeline(content.events, size.start, size.end, stream_rng(seed, "timeline"))


def _manifest(ctx: SampleContext, generators: Sequence[str]) -> dict[str, Any]:
    grids = {
        name: ctx.grid(name).to_dict()
        for name, spec in ctx.content.processing.grids.items()
        if not spec.tiles
    }
    tiles = {
        name: [
            {"tile": w.tile, "row_off": w.row_off, "col_off": w.col_off, **w.grid.to_dict()}
            for w in ctx.tile_windows(name)
        ]
        for name, spec in ctx.content.processing.grids.items()
        if spec.tiles
    }
    files = [
        {
            "path": path.relative_to(ctx.dest).as_posix(),
            "size": path.stat().st_size,
            "sha256": sha256_file(path),
        }
        for path in sorted(set(ctx.files))
    ]
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_FORMAT_VERSION,
        "software": f"stactools-glofnet {__version__}",
        "content_digest": ctx.content.digest,
        "size": ctx.size.name,
        **({"fraction": ctx.size.fraction} if ctx.size.name in FRACTION_SIZES else {}),
        "seed": ctx.seed,
        "span": [ctx.size.start.isoformat(), ctx.size.end.isoformat()],
        "extent_bbox": [round(v, 6) for v in ctx.extent],
        "grids": grids,
        "tiles": tiles,
        "generators": list(generators),
        "files": files,
    }


def write_sample(
    dest: Path,
    content: CatalogContent,
    generators: Mapping[str, Generator],
    *,
    size: SizeName = "small",
    seed: int = DEFAULT_SEED,
    fraction: float = 1.0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the synthetic sample of ``generators`` (name: generator) to ``dest``.

    Returns the manifest. ``dest`` must be absent, empty, or an earlier sample (``overwrite``:
    anything). Generators run in name order, each on its own random streams. ``fraction`` (glofnet
    size only) keeps the last part of the span (and of each modality's inputs); the time line
    stays that of the whole span, so a part plants the same signal as the whole.
    """
    if seed < 0:
        raise GlofnetError(dest, f"seed {seed} is negative; seeds are integers >= 0")
    if not 0 < fraction <= 1:
        raise GlofnetError(dest, f"fraction {fraction} is not in (0, 1]; e.g. 0.25 keeps the last quarter")
    if fraction != 1 and size not in FRACTION_SIZES:
        raise GlofnetError(dest, f"a fraction applies to size {' or '.join(FRACTION_SIZES)} only, not {size}")
    names = sorted(generators)
    whole = SIZES[size]
    sample_size = whole.last(fraction)
    with replacing(dest, kind="sample", overwrite=overwrite) as staging:
        ctx = SampleContext(staging, sample_size, seed, content, make_timeline(content, whole, seed))
        truth: dict[str, Any] = {"seed": seed, "size": size}
        if size in FRACTION_SIZES:
            truth["fraction"] = fraction
        truth["timeline"] = ctx.timeline.truth()
        for name in names:
            truth[name] = generators[name](ctx)
        write_json(ctx.path(TRUTH_NAME), truth)
        manifest = _manifest(ctx, names)
        write_json(staging / MANIFEST_NAME, manifest)
    return manifest
