"""The acquire manifest: every file fetched into one modality's folder of SOURCE, every item decided.

``<modality>/acquire-manifest.json`` (deterministic JSON, sorted keys) holds, per file, the
provider item and asset href it came from (without credentials), its size, SHA-256 and the time
it was fetched, and, per scene (Sentinel-2 scene, MODIS granule, ITS_LIVE image pair), its
datetime, status and, for Sentinel-2, its AOI cloud fraction. A file is complete
when it exists with the recorded size and SHA-256: reruns skip it and fetch anything else again.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from stactools_glofnet.acquire.store import write_text_atomically
from stactools_glofnet.core.constants import ACQUIRE_MANIFEST
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import dumps_json, read_json, sha256_file

MANIFEST_NAME: Final = ACQUIRE_MANIFEST
FORMAT: Final = "glofnet-acquire-manifest"
FORMAT_VERSION: Final = 1

SceneStatus = Literal["acquired", "too_cloudy", "outside_aoi"]


def fetched_now() -> str:
    """The fetch time to record: now (UTC, seconds), or ``$SOURCE_DATE_EPOCH`` when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)).replace(
        microsecond=0
    )
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Manifest:
    """What has been fetched into one modality's folder of SOURCE."""

    folder: Path
    scenes: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """Where the manifest is stored."""
        return self.folder / MANIFEST_NAME

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """The manifest of ``folder`` (empty when there is none yet)."""
        path = folder / MANIFEST_NAME
        if not path.exists():
            return cls(folder)
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise GlofnetError(path, f"not an acquire manifest (format != {FORMAT!r})")
        if data.get("format_version") != FORMAT_VERSION:
            found = data.get("format_version")
            raise GlofnetError(path, f"format_version {found!r}, expected {FORMAT_VERSION}")
        scenes, files = data.get("scenes"), data.get("files")
        if not isinstance(scenes, dict) or not isinstance(files, dict):
            raise GlofnetError(path, "keys scenes and files must be objects")
        return cls(folder, dict(scenes), dict(files))

    def complete(self, relative: str) -> bool:
        """Whether ``relative`` (a path under the folder) is on disk as recorded: size and SHA-256."""
        record = self.files.get(relative)
        path = self.folder / relative
        if record is None or not path.is_file():
            return False
        return path.stat().st_size == record.get("bytes") and sha256_file(path) == record.get("sha256")

    def record_file(self, relative: str, *, asset: str, href: str, item: str) -> None:
        """Record the file just written at ``relative`` (fetched from ``href`` of ``item``)."""
        path = self.folder / relative
        self.files[relative] = {
            "asset": asset,
            "href": href,
            "item": item,
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
            "fetched": fetched_now(),
        }
        self.save()

    def record_scene(
        self, scene_id: str, *, item: str, datetime: str, status: SceneStatus, cloud_fraction: float | None
    ) -> None:
        """Record what was decided about a scene."""
        self.scenes[scene_id] = {
            "item": item,
            "datetime": datetime,
            "status": status,
            "aoi_cloud_fraction": None if cloud_fraction is None else round(cloud_fraction, 6),
        }
        self.save()

    def newest(self) -> dt.datetime | None:
        """The datetime of the newest scene recorded (acquired or left out)."""
        moments = [
            dt.datetime.fromisoformat(str(scene["datetime"]).replace("Z", "+00:00"))
            for scene in self.scenes.values()
            if scene.get("datetime")
        ]
        return max(moments, default=None)

    def save(self) -> None:
        """Write the manifest atomically."""
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "scenes": self.scenes,
            "files": self.files,
        }
        write_text_atomically(self.path, dumps_json(document))
