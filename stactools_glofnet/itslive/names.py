"""ITS_LIVE v2 conventions: variables, fill values, granule names, sensor families (DOMAIN.md §2).

Image ids by family, as hyp3-autorift names them (docs/sources.md, ITS_LIVE):

* Landsat 4-9: ``LC08_L1TP_149035_20190601_20190605_02_T1`` (``LT04``/``LT05`` TM, ``LE07``
  ETM+, ``LC08``/``LC09`` OLI-TIRS, ``LO08``/``LO09`` OLI only);
* Sentinel-1 radar pairs: ``S1A_IW_SLC__1SSV_20190601T005522_20190601T005549_027481_031A1B_A9B8``;
* Sentinel-2: ``S2A_MSIL1C_20190601T053649_N0500_R005_T43SDA_20190601T074512``.

A granule is ``<img1>_X_<img2>_G<grid>V02_P<valid %>.nc``.
"""

from __future__ import annotations

import re
from typing import Final, Literal

VELOCITY_VARIABLES: Final = ("v", "vx", "vy", "v_error")
RADAR_VARIABLES: Final = ("vr", "va")
FILL_INT16: Final = -32767
DATE_FORMAT: Final = "%Y%m%dT%H:%M:%S.%f"
SensorGroup = Literal["sentinel-1", "sentinel-2", "landsat"]
GRANULE_NAME = re.compile(
    r"^(?P<img1>.+)_X_(?P<img2>.+)_G(?P<grid>\d{4})V(?P<version>\d{2})_P(?P<valid>\d{3})$"
)


def sensor_group(image_id: str) -> SensorGroup | None:
    """The sensor group of an image id: S1*, S2*, or a Landsat L?0? id."""
    if image_id.startswith("S1"):
        return "sentinel-1"
    if image_id.startswith("S2"):
        return "sentinel-2"
    if image_id[:1] == "L" and image_id[2:4].isdigit():
        return "landsat"
    return None


def platform(image_id: str) -> str:
    """The STAC platform name of an image id (sentinel-2a, landsat-8, ...)."""
    if image_id.startswith(("S1", "S2")):
        return f"sentinel-{image_id[1]}{image_id[2].lower()}"
    return f"landsat-{int(image_id[2:4])}"


def image_ids(granule_id: str) -> tuple[str, str] | None:
    """The two image ids in a granule name (``<img1>_X_<img2>_G0120V02_P035``)."""
    match = GRANULE_NAME.match(granule_id)
    return None if match is None else (match["img1"], match["img2"])
