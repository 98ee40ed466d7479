"""The ``glofnet`` STAC extension: harmonization metadata as typed fields on items and collections.

The JSON Schema ships in the package (``schemas/``, laid out by URL, so validation resolves it
offline) and is copied into every built catalog. Fields are read and written through
:class:`GlofnetExtension`; nothing else in the code spells a ``glofnet:`` key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast, overload

import pystac
from pystac.extensions.base import ExtensionManagementMixin, PropertiesExtension

from stactools_glofnet.core.config import CatalogContent, GridSpec, Modality, SplitName
from stactools_glofnet.core.grids import Grid

VERSION = "v1.0.0"
SCHEMA_URI = f"https://glofnet.github.io/stactools-glofnet/extension/{VERSION}/schema.json"
PREFIX = "glofnet:"
SCHEMA_PATH = (
    Path(__file__).resolve().parents[1]
    / "schemas"
    / "glofnet.github.io"
    / "stactools-glofnet"
    / "extension"
    / VERSION
    / "schema.json"
)
PUBLISHED_SCHEMA = f"extension/{VERSION}/schema.json"
"""Where, relative to the root catalog, a built catalog carries its copy of the schema."""

Label = Literal["glof", "no_glof"]
T = TypeVar("T")
Extended = pystac.Item | pystac.Collection | pystac.Asset


class _Field(Generic[T]):
    """A ``glofnet:`` field: reads return None when absent; ``keep_none`` stores an explicit null."""

    def __init__(self, name: str, *, keep_none: bool = False) -> None:
        self.key = PREFIX + name
        self.keep_none = keep_none

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> _Field[T]: ...

    @overload
    def __get__(self, instance: GlofnetExtension, owner: type[Any]) -> T | None: ...

    def __get__(self, instance: GlofnetExtension | None, owner: type[Any]) -> T | _Field[T] | None:
        if instance is None:
            return self
        return cast(T | None, instance.properties.get(self.key))

    def __set__(self, instance: GlofnetExtension, value: T | None) -> None:
        if value is None and self.keep_none:
            instance.properties[self.key] = None
        else:
            instance._set_property(self.key, value, pop_if_none=True)


class GlofnetExtension(PropertiesExtension, ExtensionManagementMixin[pystac.Item | pystac.Collection]):
    """Typed access to the ``glofnet:`` fields of an item, a collection or an asset.

    Use :meth:`ext` as with pystac's own extensions; ``add_if_missing`` declares the schema.
    """

    # What every object says about itself.
    modality = _Field[Modality]("modality")
    # Grids, time axis, resampling, interpolation.
    grid = _Field[dict[str, Any]]("grid")
    time_step = _Field[str]("time_step")
    resampling = _Field[dict[str, str]]("resampling")
    interpolation = _Field[dict[str, Any]]("interpolation")
    # ML preparation.
    normalization = _Field[dict[str, Any]]("normalization")
    cyclical_encodings = _Field[list[dict[str, Any]]]("cyclical_encodings")
    augmentation = _Field[dict[str, Any]]("augmentation")
    splits = _Field[dict[str, Any]]("splits")
    split = _Field[SplitName]("split", keep_none=True)
    label = _Field[Label]("label")
    class_balance = _Field[dict[str, dict[str, int]]]("class_balance")
    patch_counts = _Field[dict[str, dict[str, int]]]("patch_counts")
    # Quality control.
    qc = _Field[dict[str, Any]]("qc")
    skipped = _Field[list[dict[str, str]]]("skipped")
    # Sentinel-2 scenes.
    masked_classes = _Field[list[int]]("masked_classes")
    cloud_fraction = _Field[float]("cloud_fraction")
    lake_area_km2 = _Field[float]("lake_area_km2", keep_none=True)
    lake_quality = _Field[str]("lake_quality")
    source_processing_baseline = _Field[str]("source_processing_baseline", keep_none=True)
    radiometry = _Field[dict[str, Any]]("radiometry")
    # ITS_LIVE image pairs.
    platforms = _Field[list[str]]("platforms")
    image_ids = _Field[list[str]]("image_ids")
    sensor_group = _Field[str]("sensor_group")
    date_dt_days = _Field[float]("date_dt_days")
    qc_removed = _Field[dict[str, int]]("qc_removed")
    glacier_valid_fraction = _Field[float]("glacier_valid_fraction")
    glacier_mean_m_per_yr = _Field[float]("glacier_mean_m_per_yr")
    glacier_p90_m_per_yr = _Field[float]("glacier_p90_m_per_yr")
    # MODIS.
    days = _Field[int]("days")
    trend = _Field[dict[str, Any]]("trend")

    def __init__(self, obj: Extended) -> None:
        """Wrap ``obj``; use :meth:`ext` instead, which also checks the declaration."""
        self.obj = obj
        if isinstance(obj, pystac.Item):
            self.properties = obj.properties
        else:
            self.properties = obj.extra_fields

    def __repr__(self) -> str:
        """Which object the extension wraps."""
        return f"<GlofnetExtension {getattr(self.obj, 'id', self.obj)}>"

    @classmethod
    def get_schema_uri(cls) -> str:
        """The versioned schema URL objects declare in ``stac_extensions``."""
        return SCHEMA_URI

    @classmethod
    def ext(cls, obj: Extended, add_if_missing: bool = False) -> GlofnetExtension:
        """The extension on ``obj``; an asset's owner must declare it."""
        if isinstance(obj, pystac.Asset):
            owner = obj.owner
            if isinstance(owner, pystac.Item | pystac.Collection):
                cls.ensure_has_extension(owner, add_if_missing)
            return cls(obj)
        if isinstance(obj, pystac.Item | pystac.Collection):
            cls.ensure_has_extension(obj, add_if_missing)
            return cls(obj)
        raise pystac.ExtensionTypeError(cls._ext_error_message(obj))


def declared_grid(name: str, spec: GridSpec, grid: Grid) -> dict[str, Any]:
    """The ``glofnet:grid`` value of a grid: its name, CRS, resolution, transform and shape."""
    epsg = grid.crs.to_epsg()
    return {
        "name": name,
        "crs": f"EPSG:{epsg}" if epsg else spec.crs,
        "resolution": spec.resolution,
        "transform": [float(v) for v in list(grid.transform)[:6]],
        "shape": [grid.height, grid.width],
    }


def split_definition(content: CatalogContent) -> dict[str, Any]:
    """The ``glofnet:splits`` value: catalog/splits.toml as published."""
    splits = content.splits
    return {
        "buffer_days": splits.buffer_days,
        "model_window_days": splits.model_window_days,
        "blocks": [
            {"split": b.split, "start": b.start.isoformat(), "end": b.end.isoformat()} for b in splits.block
        ],
    }


def class_balance(pairs: list[tuple[SplitName | None, bool]]) -> dict[str, dict[str, int]]:
    """``glofnet:class_balance`` from (split, is_glof) pairs; records in no split are not counted."""
    balance = {s: {"glof": 0, "no_glof": 0} for s in ("train", "validate", "test")}
    for split, glof in pairs:
        if split is not None:
            balance[split]["glof" if glof else "no_glof"] += 1
    return balance


def schema() -> dict[str, Any]:
    """The extension's JSON Schema."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def publish_schema(root: pystac.Catalog, directory: Path) -> None:
    """Copy the schema into the built catalog and link it from the root."""
    target = directory / PUBLISHED_SCHEMA
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(SCHEMA_PATH.read_bytes())
    root.add_link(
        pystac.Link(
            "describedby",
            f"./{PUBLISHED_SCHEMA}",
            media_type="application/schema+json",
            title=f"JSON Schema of the glofnet STAC extension {VERSION} ({SCHEMA_URI})",
        )
    )
