"""How each provider writes a Sentinel-2 L2A scene: item JSON, asset keys, band file names, DN.

Modelled on the real items in ../shared/real-data (PROVENANCE items 5-16; docs/sources.md):

* ``earthsearch-v1`` (``sentinel-2-l2a``, items 9, 10, 12): common-name keys with ``raster:bands``
  scale 0.0001 and offset -0.1 from baseline 04.00 on (0 before), ``earthsearch:boa_offset_applied``
  true from 04.00 on, and COG DN = ESA DN - 1000 then (item 11). The mis-flagged form
  (earth-search#66, cirrus-earth-search#33) says false over the same harmonized DN.
* ``earthsearch-v0`` (``sentinel-s2-l2a-cogs``, item 13): ``B0x``/``SCL`` keys, no
  ``raster:bands``, STAC 1.0.0-beta.2 short extension names, ``sentinel:*`` properties; the
  baseline and the flag only from 2022 on (before: the product id's ``_Nxxyy_`` only).
* ``planetary-computer`` (``sentinel-2-l2a``, item 16): ``B0x``/``SCL`` keys with ``eo:bands``, no
  ``raster:bands``, no flag, ``s2:processing_baseline``, ESA's DN (+1000 from 04.00 on), files
  named as in the SAFE (``T43SDA_<stamp>_B03_10m.tif``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final, Literal

from rasterio.warp import transform_bounds, transform_geom

from stactools_glofnet.core.constants import COG
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.sentinel2.bands import BANDS, BOA_ADD_OFFSET, SCL_KEY

FormName = Literal["earthsearch-v1", "earthsearch-v0", "planetary-computer"]
BASELINE_04: Final = "04.00"
TILE: Final = "43SDA"


@dataclass(frozen=True)
class SceneForm:
    """The provider form a sample scene is written in; ``mis_flagged``: flag false on harmonized DN."""

    name: FormName
    mis_flagged: bool = False

    def harmonized(self, baseline: str) -> bool:
        """Whether the COG DN have BOA_ADD_OFFSET already removed (Earth Search, 04.00 on)."""
        return self.name != "planetary-computer" and baseline >= BASELINE_04

    def dn_offset(self, baseline: str) -> float:
        """What is added to reflectance x 10000 to make the DN: ESA's +1000 from 04.00, else 0."""
        if baseline >= BASELINE_04 and not self.harmonized(baseline):
            return -BOA_ADD_OFFSET
        return 0.0


@dataclass(frozen=True)
class SceneNames:
    """Ids and stamps shared by a scene's item and files."""

    day: dt.date
    index: int
    baseline: str
    satellite: str | None = None
    """S2A or S2B when the date decides it (glofnet size); None: alternate with the index."""

    @property
    def mission(self) -> str:
        """S2A or S2B."""
        if self.satellite is not None:
            return self.satellite
        return "S2A" if self.index % 2 == 0 else "S2B"

    @property
    def sensing(self) -> str:
        """The datatake sensing stamp."""
        return f"{self.day:%Y%m%d}T053649"

    @property
    def generation(self) -> str:
        """The product generation stamp."""
        return f"{self.day:%Y%m%d}T074512"

    @property
    def product_id(self) -> str:
        """ESA's product name (without .SAFE)."""
        number = self.baseline.replace(".", "")
        return f"{self.mission}_MSIL2A_{self.sensing}_N{number}_R005_T{TILE}_{self.generation}"

    def item_id(self, form: FormName) -> str:
        """The item id each provider gives the scene."""
        if form == "planetary-computer":
            return f"{self.mission}_MSIL2A_{self.sensing}_R005_T{TILE}_{self.generation}"
        return f"{self.mission}_{TILE}_{self.day:%Y%m%d}_0_L2A"


def band_files(form: FormName, names: SceneNames) -> dict[str, str]:
    """File name of each band asset (common-name key → file)."""
    if form == "planetary-computer":
        prefix = f"T{TILE}_{names.sensing}"
        files = {band.key: f"{prefix}_{band.band_id}_{band.gsd}m.tif" for band in BANDS}
        return files | {SCL_KEY: f"{prefix}_SCL_20m.tif"}
    return {band.key: f"{band.band_id}.tif" for band in BANDS} | {SCL_KEY: "SCL.tif"}


def _footprint(grid10: Grid) -> tuple[dict[str, Any], list[float]]:
    left, bottom, right, top = grid10.bounds
    ring = [(left, bottom), (right, bottom), (right, top), (left, top), (left, bottom)]
    geometry = transform_geom(grid10.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    return geometry, list(transform_bounds(grid10.crs, "EPSG:4326", *grid10.bounds))


def _eo_band(band_id: str, key: str, wavelength: float, width: float) -> dict[str, Any]:
    return {
        "name": band_id,
        "common_name": key,
        "center_wavelength": wavelength,
        "full_width_half_max": width,
    }


def item_document(
    form: SceneForm,
    names: SceneNames,
    grids: dict[int, Grid],
    cloud_cover_percent: float,
) -> dict[str, Any]:
    """The item JSON of one scene in ``form``; ``grids``: the 10 m and 20 m grids by GSD."""
    geometry, bbox = _footprint(grids[10])
    files = band_files(form.name, names)
    when = f"{names.day.isoformat()}T05:50:{10 + names.index % 40:02d}"
    platform = f"sentinel-2{names.mission[-1].lower()}"
    if form.name == "earthsearch-v0":
        return _v0(form, names, grids, files, geometry, bbox, when, platform, cloud_cover_percent)
    if form.name == "planetary-computer":
        return _planetary_computer(names, grids, files, geometry, bbox, when, platform, cloud_cover_percent)
    return _v1(form, names, grids, files, geometry, bbox, when, platform, cloud_cover_percent)


def _v1(
    form: SceneForm,
    names: SceneNames,
    grids: dict[int, Grid],
    files: dict[str, str],
    geometry: dict[str, Any],
    bbox: list[float],
    when: str,
    platform: str,
    cloud: float,
) -> dict[str, Any]:
    applied = form.harmonized(names.baseline) and not form.mis_flagged
    offset = -0.1 if names.baseline >= BASELINE_04 else 0
    assets: dict[str, Any] = {}
    for band in BANDS:
        grid = grids[band.gsd]
        assets[band.key] = {
            "href": f"./{files[band.key]}",
            "type": COG,
            "title": f"{band.key} ({band.band_id}) - {band.gsd}m",
            "eo:bands": [
                _eo_band(band.band_id, band.key, band.center_wavelength_um, band.full_width_half_max_um)
            ],
            "gsd": band.gsd,
            "proj:shape": [grid.height, grid.width],
            "proj:transform": list(grid.transform)[:6],
            "raster:bands": [
                {
                    "nodata": 0,
                    "data_type": "uint16",
                    "bits_per_sample": 15,
                    "spatial_resolution": band.gsd,
                    "scale": 0.0001,
                    "offset": offset,
                }
            ],
            "roles": ["data", "reflectance"],
        }
    assets[SCL_KEY] = {
        "href": f"./{files[SCL_KEY]}",
        "type": COG,
        "title": "Scene classification map (SCL)",
        "proj:shape": [grids[20].height, grids[20].width],
        "proj:transform": list(grids[20].transform)[:6],
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "roles": ["data", "reflectance"],
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
            "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
        ],
        "id": names.item_id(form.name),
        "bbox": bbox,
        "geometry": geometry,
        "properties": {
            "datetime": f"{when}.000000Z",
            "platform": platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": cloud,
            "proj:epsg": 32643,
            "mgrs:utm_zone": 43,
            "mgrs:latitude_band": "S",
            "mgrs:grid_square": "DA",
            "grid:code": f"MGRS-{TILE}",
            "s2:processing_baseline": names.baseline,
            "s2:product_uri": f"{names.product_id}.SAFE",
            "earthsearch:boa_offset_applied": applied,
        },
        "links": [],
        "assets": assets,
        "collection": "sentinel-2-l2a",
    }


def _v0(
    form: SceneForm,
    names: SceneNames,
    grids: dict[int, Grid],
    files: dict[str, str],
    geometry: dict[str, Any],
    bbox: list[float],
    when: str,
    platform: str,
    cloud: float,
) -> dict[str, Any]:
    assets: dict[str, Any] = {}
    for band in BANDS:
        grid = grids[band.gsd]
        assets[band.band_id] = {
            "title": f"Band {int(band.band_id[1:])} ({band.key})",
            "type": COG,
            "roles": ["data"],
            "gsd": band.gsd,
            "eo:bands": [
                _eo_band(band.band_id, band.key, band.center_wavelength_um, band.full_width_half_max_um)
            ],
            "href": f"./{files[band.key]}",
            "proj:shape": [grid.height, grid.width],
            "proj:transform": [*list(grid.transform)[:6], 0, 0, 1],
        }
    assets["SCL"] = {
        "title": "Scene Classification Map (SCL)",
        "type": COG,
        "roles": ["data"],
        "href": f"./{files[SCL_KEY]}",
        "proj:shape": [grids[20].height, grids[20].width],
        "proj:transform": [*list(grids[20].transform)[:6], 0, 0, 1],
    }
    properties: dict[str, Any] = {
        "datetime": f"{when}Z",
        "platform": platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "gsd": 10,
        "view:off_nadir": 0,
        "proj:epsg": 32643,
        "sentinel:utm_zone": 43,
        "sentinel:latitude_band": "S",
        "sentinel:grid_square": "DA",
        "sentinel:sequence": "0",
        "sentinel:product_id": names.product_id,
        "sentinel:data_coverage": 100,
        "eo:cloud_cover": cloud,
        "sentinel:valid_cloud_cover": True,
    }
    if names.day.year >= 2022:
        properties["sentinel:processing_baseline"] = names.baseline
        properties["sentinel:boa_offset_applied"] = form.harmonized(names.baseline)
    return {
        "type": "Feature",
        "stac_version": "1.0.0-beta.2",
        "stac_extensions": ["eo", "view", "proj"],
        "id": names.item_id(form.name),
        "bbox": bbox,
        "geometry": geometry,
        "properties": properties,
        "collection": "sentinel-s2-l2a-cogs",
        "assets": assets,
        "links": [],
    }


def _planetary_computer(
    names: SceneNames,
    grids: dict[int, Grid],
    files: dict[str, str],
    geometry: dict[str, Any],
    bbox: list[float],
    when: str,
    platform: str,
    cloud: float,
) -> dict[str, Any]:
    assets: dict[str, Any] = {}
    for band in BANDS:
        grid = grids[band.gsd]
        assets[band.band_id] = {
            "href": f"./{files[band.key]}",
            "proj:bbox": list(grid.bounds),
            "proj:shape": [grid.height, grid.width],
            "proj:transform": list(grid.transform)[:6],
            "gsd": float(band.gsd),
            "type": COG,
            "roles": ["data"],
            "title": f"Band {int(band.band_id[1:])} - {band.key} - {band.gsd}m",
            "eo:bands": [
                _eo_band(band.band_id, band.key, band.center_wavelength_um, band.full_width_half_max_um)
            ],
        }
    assets["SCL"] = {
        "href": f"./{files[SCL_KEY]}",
        "proj:bbox": list(grids[20].bounds),
        "proj:shape": [grids[20].height, grids[20].width],
        "proj:transform": list(grids[20].transform)[:6],
        "gsd": 20.0,
        "type": COG,
        "roles": ["data"],
        "title": "Scene classfication map (SCL)",
    }
    return {
        "id": names.item_id("planetary-computer"),
        "bbox": bbox,
        "type": "Feature",
        "collection": "sentinel-2-l2a",
        "geometry": geometry,
        "properties": {
            "datetime": f"{when}.024000Z",
            "platform": platform.replace("sentinel", "Sentinel").replace("2a", "2A").replace("2b", "2B"),
            "proj:epsg": 32643,
            "instruments": ["msi"],
            "s2:mgrs_tile": TILE,
            "constellation": "Sentinel 2",
            "eo:cloud_cover": cloud,
            "s2:product_uri": f"{names.product_id}.SAFE",
            "s2:product_type": "S2MSI2A",
            "sat:orbit_state": "descending",
            "sat:relative_orbit": 5,
            "s2:processing_baseline": names.baseline,
        },
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
            "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
        ],
        "stac_version": "1.0.0",
        "assets": assets,
        "links": [],
    }
