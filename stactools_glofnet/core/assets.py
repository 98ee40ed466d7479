"""Asset files: stamp an item-asset definition with a file's size and checksum, relocate files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pystac
from pystac.extensions.file import FileExtension

from stactools_glofnet.core.files import multihash_sha256


def file_asset(definition: pystac.ItemAssetDefinition, path: Path) -> pystac.Asset:
    """An asset for ``path`` from its definition, with ``file:size`` and ``file:checksum``."""
    asset = definition.create_asset(str(path))
    file = FileExtension.ext(asset)
    file.size = path.stat().st_size
    file.checksum = multihash_sha256(path)
    return asset


def _relocate(owner: pystac.Item | pystac.Collection, workdir: Path) -> None:
    target_dir = Path(owner.get_self_href() or "").parent
    for asset in owner.assets.values():
        source = Path(asset.href)
        if not source.is_absolute() or workdir not in source.parents:
            continue
        target = target_dir / source.name
        if not target.exists():  # two assets may share one file (ndsi and mndwi)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
        asset.href = str(target)


def relocate_assets(root: pystac.Catalog, workdir: Path) -> None:
    """Move every asset file written under ``workdir`` next to its (laid-out) item or collection."""
    for catalog, _, items in root.walk():
        if isinstance(catalog, pystac.Collection):
            _relocate(catalog, workdir)
        for item in items:
            _relocate(item, workdir)
