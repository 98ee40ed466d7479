"""Typed models of the hand-maintained catalog content in ``catalog/`` and its loader.

Every TOML file in ``catalog/`` maps onto one model here. A syntax error or an invalid value
becomes a :class:`GlofnetError` naming the file and the offending key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

from stactools_glofnet.core.constants import Modality as Modality
from stactools_glofnet.core.errors import GlofnetError

CONTENT_DIR_ENV = "GLOFNET_CONTENT_DIR"
"""Environment variable naming a catalog content directory to use instead of the bundled one."""

SplitName = Literal["train", "validate", "test"]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Position = tuple[Lon, Lat]
BBox = tuple[Lon, Lat, Lon, Lat]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_bbox(bbox: BBox) -> BBox:
    west, south, east, north = bbox
    if not (west < east and south < north):
        raise ValueError("bbox must be [west, south, east, north] with west < east, south < north")
    return bbox


# ---------------------------------------------------------------------------- dataset.toml
class License(_Model):
    """The licence of the derived dataset."""

    spdx: str
    title: str
    url: str


class SourceTerms(_Model):
    """The terms of use of one source product."""

    title: str
    url: str
    attribution: str


class Citation(_Model):
    """How to cite GLOFNet."""

    text: str
    doi: str = Field(pattern=r"^10\.[0-9a-zA-Z]{4,}/\S+$")


class Publication(_Model):
    """A publication describing or using the dataset."""

    citation: str
    doi: str = Field(pattern=r"^10\.[0-9a-zA-Z]{4,}/\S+$")


class Dataset(_Model):
    """The dataset as a whole (``dataset.toml``)."""

    id: str
    title: str
    description: str
    version: str
    release_date: dt.datetime
    keywords: list[str]
    license: License
    source_terms: dict[Modality, SourceTerms]
    citation: Citation
    publications: list[Publication]


# -------------------------------------------------------------------------- providers.toml
class Provider(_Model):
    """An organisation that produced, processed, licensed or hosts part of the dataset."""

    name: str
    description: str
    roles: list[Literal["producer", "processor", "licensor", "host"]]
    url: str
    collections: list[Modality | Literal["all"]]

    def applies_to(self, modality: Modality) -> bool:
        """Whether this provider is listed on the collection of ``modality``."""
        return "all" in self.collections or modality in self.collections


class Providers(_Model):
    """``providers.toml``."""

    provider: list[Provider]


# --------------------------------------------------------------------------- geometry.toml
class Area(_Model):
    """An area given by its bounding box."""

    title: str
    bbox: BBox
    rgi7_id: str | None = None
    glims_id: str | None = None

    @model_validator(mode="after")
    def _valid_bbox(self) -> Area:
        _check_bbox(self.bbox)
        return self

    @property
    def polygon(self) -> list[Position]:
        """The bounding box as a closed counter-clockwise ring."""
        w, s, e, n = self.bbox
        return [(w, s), (e, s), (e, n), (w, n), (w, s)]


class Lake(_Model):
    """The lake basin: its point and outline."""

    title: str
    point: Position
    polygon: list[Position] = Field(min_length=4)

    @model_validator(mode="after")
    def _closed_ring(self) -> Lake:
        if self.polygon[0] != self.polygon[-1]:
            raise ValueError("polygon ring must be closed (first position == last position)")
        return self

    @property
    def bbox(self) -> BBox:
        """Bounding box of the outline."""
        lons = [p[0] for p in self.polygon]
        lats = [p[1] for p in self.polygon]
        return (min(lons), min(lats), max(lons), max(lats))


class Place(_Model):
    """A named point."""

    title: str
    point: Position


class Geometry(_Model):
    """``geometry.toml``."""

    aoi: Area
    lake: Lake
    glacier: Area
    trunk: Area
    impact: Place


# ----------------------------------------------------------------------------- events.toml
class Source(_Model):
    """Where a fact about an event comes from."""

    title: str
    url: str
    doi: str | None = None


class Event(_Model):
    """One documented event at Shisper."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: Literal["glof", "surge", "dam-formation"]
    title: str
    start: dt.date
    end: dt.date
    confidence: Literal["documented", "uncertain", "label-only"]
    description: str
    sources: list[Source] = Field(min_length=1)
    drains_lake: bool = False
    peak_discharge_m3_per_s: float | None = Field(default=None, gt=0)
    lake_area_km2: float | None = Field(default=None, gt=0)
    peak_speed_m_per_day: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Event:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.drains_lake and self.kind != "glof":
            raise ValueError("only a 'glof' event can drain the lake")
        return self

    @property
    def drainage_date(self) -> dt.date:
        """The day the lake drained: the last day of a draining event."""
        return self.end


class Events(_Model):
    """``events.toml``."""

    glof_window_days: int = Field(ge=0)
    event: list[Event] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Events:
        ids = [e.id for e in self.event]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate event ids: {', '.join(duplicates)}")
        return self

    @property
    def drainages(self) -> list[Event]:
        """Events that drained the lake, in date order."""
        return sorted((e for e in self.event if e.drains_lake), key=lambda e: e.end)

    @property
    def labelled(self) -> list[Event]:
        """The outbursts every GLOF label is drawn from (dated GLOFs), in date order."""
        chosen = (e for e in self.event if e.kind == "glof" and e.confidence != "uncertain")
        return sorted(chosen, key=lambda e: (e.start, e.id))

    def label_window(self, event: Event) -> tuple[dt.date, dt.date]:
        """The days labelled GLOF for ``event``: its dates and ``glof_window_days`` after."""
        return event.start, event.end + dt.timedelta(days=self.glof_window_days)

    def is_glof(self, day: dt.date) -> bool:
        """Whether ``day`` is labelled GLOF."""
        return any(start <= day <= end for start, end in map(self.label_window, self.labelled))

    def next_glof(self, day: dt.date) -> dt.date | None:
        """The start of the first labelled outburst on or after ``day``, if any."""
        return next((e.start for e in self.labelled if e.start >= day), None)


# ----------------------------------------------------------------------------- splits.toml
class Block(_Model):
    """One contiguous block of days belonging to one split."""

    split: SplitName
    start: dt.date
    end: dt.date


class Splits(_Model):
    """``splits.toml``: temporal blocks with buffers between them."""

    buffer_days: int = Field(ge=0)
    model_window_days: int = Field(ge=1)
    block: list[Block] = Field(min_length=1)

    @model_validator(mode="after")
    def _blocks_ordered_and_buffered(self) -> Splits:
        if self.buffer_days <= self.model_window_days:
            raise ValueError(
                f"buffer_days = {self.buffer_days} must exceed model_window_days = {self.model_window_days}"
            )
        for block in self.block:
            if block.end < block.start:
                raise ValueError(f"block {block.split}: end {block.end} is before {block.start}")
        for before, after in zip(self.block, self.block[1:], strict=False):
            gap = (after.start - before.end).days - 1
            if gap < self.buffer_days:
                raise ValueError(
                    f"blocks {before.split} and {after.split} are {gap} days apart,"
                    f" less than buffer_days = {self.buffer_days}"
                )
        return self

    def split_of(self, day: dt.date) -> SplitName | None:
        """The split ``day`` belongs to, or None inside a buffer or outside every block."""
        return self.split_of_interval(day, day)

    def split_of_interval(self, start: dt.date, end: dt.date) -> SplitName | None:
        """The split wholly containing ``[start, end]``, or None when it touches a buffer."""
        for block in self.block:
            if block.start <= start and end <= block.end:
                return block.split
        return None


# ------------------------------------------------------------------------- processing.toml
class GridSpec(_Model):
    """A lattice: CRS, square pixel size and an origin (upper-left pixel corner)."""

    crs: str
    resolution: float = Field(gt=0)
    origin: tuple[float, float]
    tile_size: int | None = Field(default=None, gt=0)
    tiles: list[Annotated[str, Field(pattern=r"^h\d\dv\d\d$")]] = []


class Target(_Model):
    """The harmonized cube's grid."""

    grid: str


class RadiometricCheck(_Model):
    """Thresholds of the per-scene radiometric check (docs/sources.md, Sentinel-2).

    A doubled BOA offset: more than ``doubled_fraction`` of a band's clear pixels below
    ``doubled_below``. A missing one: the ``floor_percentile`` percentile of every band above
    ``missing_floor`` (only checked from baseline 04.00 on, when an offset exists).
    """

    doubled_below: float = Field(default=-0.05, lt=0)
    doubled_fraction: float = Field(default=0.01, gt=0, lt=1)
    floor_percentile: float = Field(default=0.1, gt=0, lt=50)
    missing_floor: float = Field(default=0.09, gt=0, lt=1)


class Sentinel2Params(_Model):
    """Optical preprocessing parameters."""

    cloud_mask_classes: list[Annotated[int, Field(ge=0, le=11)]]
    signal_classes: list[Annotated[int, Field(ge=0, le=11)]]
    max_aoi_cloud_fraction: float = Field(ge=0, le=1)
    max_lake_cloud_fraction: float = Field(ge=0, le=1)
    water_index: Literal["ndwi"]
    water_threshold: float = Field(ge=-1, le=1)
    snow_index: Literal["ndsi"]
    snow_threshold: float = Field(ge=-1, le=1)
    reflectance_resampling: Literal["nearest", "bilinear", "cubic", "average"]
    patch_size: int = Field(gt=0)
    patch_bands: list[str]
    augmentations: list[Literal["flip_horizontal", "flip_vertical", "rot90", "rot180", "rot270"]]
    radiometric_check: RadiometricCheck = RadiometricCheck()

    @model_validator(mode="after")
    def _signal_not_masked(self) -> Sentinel2Params:
        overlap = set(self.cloud_mask_classes) & set(self.signal_classes)
        if overlap:
            raise ValueError(f"signal classes {sorted(overlap)} are also in cloud_mask_classes")
        return self


class ItsLiveParams(_Model):
    """Velocity quality-filtering parameters."""

    drop_interpolated: bool
    max_v_error_m_per_yr: float = Field(gt=0)
    max_relative_error: float = Field(gt=0)
    min_speed_for_relative_error: float = Field(ge=0)
    outlier_window: int = Field(ge=3)
    outlier_min_m_per_yr: float = Field(gt=0)
    outlier_relative: float = Field(gt=0)
    min_glacier_valid_fraction: float = Field(ge=0, le=1)
    date_dt_days: dict[Literal["sentinel-1", "sentinel-2", "landsat"], tuple[float, float]]

    @model_validator(mode="after")
    def _odd_window_and_ordered_ranges(self) -> ItsLiveParams:
        if self.outlier_window % 2 == 0:
            raise ValueError("outlier_window must be odd")
        missing = {"sentinel-1", "sentinel-2", "landsat"} - set(self.date_dt_days)
        if missing:
            raise ValueError(f"date_dt_days lacks {', '.join(sorted(missing))}")
        for group, (low, high) in self.date_dt_days.items():
            if not 0 <= low < high:
                raise ValueError(f"date_dt_days.{group}: need 0 <= min < max")
        return self


class ModisParams(_Model):
    """LST QC-filtering parameters."""

    accepted_mandatory_qa: list[Annotated[int, Field(ge=0, le=3)]]
    max_lst_error_class: int = Field(ge=0, le=3)
    resampling: Literal["nearest"]
    seasonal_harmonics: int = Field(ge=1, le=4)
    min_trunk_coverage: float = Field(ge=0, le=1)


class HarmonizedResampling(_Model):
    """Resampling of each harmonized cube variable onto the target grid.

    Velocity already lies on the target grid and LST keeps one MODIS pixel's value per cell, so
    both are nearest-neighbour only; the Sentinel-2 fractions may average or take the nearest pixel.
    """

    velocity: Literal["nearest"]
    lst_day: Literal["nearest"]
    lst_night: Literal["nearest"]
    water_fraction: Literal["average", "nearest"]
    clear_fraction: Literal["average", "nearest"]


class HarmonizedParams(_Model):
    """Harmonization parameters."""

    interpolation: Literal["linear"]
    max_gap_days: dict[Literal["sentinel2", "itslive", "modis"], Annotated[int, Field(ge=0)]]
    cyclical_encodings: list[Literal["day_of_year", "month"]]
    extent: Literal["aoi", "glacier", "trunk"]
    resampling: HarmonizedResampling

    @model_validator(mode="after")
    def _every_modality_has_a_gap(self) -> HarmonizedParams:
        missing = {"sentinel2", "itslive", "modis"} - set(self.max_gap_days)
        if missing:
            raise ValueError(f"max_gap_days lacks {', '.join(sorted(missing))}")
        return self


class Processing(_Model):
    """``processing.toml``."""

    time_step: Literal["P1D"]
    grids: dict[str, GridSpec]
    target: Target
    sentinel2: Sentinel2Params
    itslive: ItsLiveParams
    modis: ModisParams
    harmonized: HarmonizedParams

    @model_validator(mode="after")
    def _target_known(self) -> Processing:
        if self.target.grid not in self.grids:
            raise ValueError(f"target.grid {self.target.grid!r} is not one of the grids")
        return self


# ------------------------------------------------------------------------ collections.toml
class CollectionText(_Model):
    """Title, description and keywords of one collection."""

    id: str
    title: str
    description: str
    keywords: list[str] = []


# ------------------------------------------------------------------------------- loading
M = TypeVar("M", bound=BaseModel)


def _load(path: Path, model: type[M]) -> M:
    try:
        with path.open("rb") as file:
            data: dict[str, Any] = tomllib.load(file)
    except FileNotFoundError:
        raise GlofnetError(path, "missing catalog content file") from None
    except tomllib.TOMLDecodeError as error:
        raise GlofnetError(path, f"invalid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise GlofnetError(path, f"not UTF-8 text (byte {error.start}): TOML files must be UTF-8") from None
    except OSError as error:
        raise GlofnetError(path, f"cannot be read ({error.strerror or error})") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
        raise GlofnetError(path, f"key {key}: {first['msg']}{more}") from None


class CatalogContent:
    """Everything in one ``catalog/`` directory, loaded and validated."""

    def __init__(self, directory: Path) -> None:
        """Load and validate every content file of ``directory``."""
        self.directory = directory
        self.dataset = _load(directory / "dataset.toml", Dataset)
        self.providers = _load(directory / "providers.toml", Providers).provider
        self.geometry = _load(directory / "geometry.toml", Geometry)
        self.events = _load(directory / "events.toml", Events)
        self.splits = _load(directory / "splits.toml", Splits)
        self.processing = _load(directory / "processing.toml", Processing)
        self.collections = _load(directory / "collections.toml", _CollectionTexts).root
        self._check_events_in_one_split()
        self._check_gaps_within_buffers()

    def _check_gaps_within_buffers(self) -> None:
        """No interpolated day may draw on a measurement across a buffer, in another split."""
        widest = max(self.processing.harmonized.max_gap_days.items(), key=lambda item: item[1])
        if widest[1] > self.splits.buffer_days:
            raise GlofnetError(
                self.directory / "processing.toml",
                f"key harmonized.max_gap_days.{widest[0]}: {widest[1]} days exceeds buffer_days ="
                f" {self.splits.buffer_days} of splits.toml, so interpolation would cross a buffer",
            )

    def _check_events_in_one_split(self) -> None:
        """Every labelled outburst's label window lies inside one split block, touching no buffer."""
        first, last = self.splits.block[0].start, self.splits.block[-1].end
        for event in self.events.labelled:
            start, end = self.events.label_window(event)
            if end < first or start > last:
                continue
            if self.splits.split_of_interval(start, end) is None:
                raise GlofnetError(
                    self.directory / "splits.toml",
                    f"event {event.id} is labelled GLOF {start}..{end}, which is not inside one split block",
                )

    @cached_property
    def digest(self) -> str:
        """SHA-256 over every content file: changes whenever the content changes."""
        sha = hashlib.sha256()
        for path in sorted(self.directory.glob("*.toml")):
            sha.update(path.name.encode())
            sha.update(path.read_bytes())
        return sha.hexdigest()

    def collection_text(self, modality: Modality) -> CollectionText:
        """The title and description of a modality's collection."""
        try:
            return self.collections[modality]
        except KeyError:
            raise GlofnetError(
                self.directory / "collections.toml", f"key {modality}: missing collection text"
            ) from None


class _CollectionTexts(RootModel[dict[Modality, CollectionText]]):
    """``collections.toml``: collection texts keyed by modality."""


def bundled_content_dir() -> Path:
    """The catalog content shipped with the package (wheel) or beside it (source checkout)."""
    packaged = resources.files("stactools_glofnet") / "catalog_content"
    if packaged.is_dir():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[2] / "catalog"
    if source_tree.is_dir():
        return source_tree
    raise GlofnetError(str(packaged), "catalog content is missing from the installation")


def content_dir() -> Path:
    """The content directory in use: ``$GLOFNET_CONTENT_DIR`` or the bundled one."""
    override = os.environ.get(CONTENT_DIR_ENV)
    if override:
        return Path(override)
    return bundled_content_dir()


def load_content(directory: Path | None = None) -> CatalogContent:
    """Load the catalog content from ``directory`` (default: :func:`content_dir`)."""
    directory = directory or content_dir()
    if not directory.is_dir():
        raise GlofnetError(directory, "catalog content directory does not exist")
    return CatalogContent(directory)
