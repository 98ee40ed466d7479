"""Names of the sample's sizes, its default seed and its files (light: the CLI reads them at start-up,
and checks a SOURCE with them before the build's libraries load)."""

from __future__ import annotations

from typing import Final, Literal, get_args

SizeName = Literal["small", "full", "glofnet"]
SIZE_NAMES: Final[tuple[str, ...]] = get_args(SizeName)
DEFAULT_SEED: Final = 20190622
MANIFEST_NAME: Final = "sample.json"
TRUTH_NAME: Final = "truth.json"
MANIFEST_FORMAT: Final = "glofnet-sample"
MANIFEST_FORMAT_VERSION: Final = 1
