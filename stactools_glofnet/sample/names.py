"""Names of the sample's sizes and its default seed (light: the CLI reads them at start-up)."""

from __future__ import annotations

from typing import Final, Literal, get_args

SizeName = Literal["small", "full", "glofnet"]
SIZE_NAMES: Final[tuple[str, ...]] = get_args(SizeName)
DEFAULT_SEED: Final = 20190622
