"""ITS_LIVE v2 granule conventions: variables, fill values, sensor groups (DOMAIN.md §2)."""

from __future__ import annotations

from typing import Final, Literal

VELOCITY_VARIABLES: Final = ("v", "vx", "vy", "v_error")
FILL_INT16: Final = -32767
DATE_FORMAT: Final = "%Y%m%dT%H:%M:%S.%f"
SensorGroup = Literal["sentinel-1", "sentinel-2", "landsat"]


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
