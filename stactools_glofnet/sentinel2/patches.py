"""ML patches: 128x128x6 windows around the lake, labelled, split, normalized, augmented.

Patches are appended scene by scene to a Zarr store (zarr format 2, consolidated), so memory
holds one scene at a time. Normalization statistics come from the train split's original
(non-augmented) patches only, and are applied chunk by chunk in a second pass. Augmentation
(flips, 90° rotations) is applied to train patches only and recorded per patch.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from numpy.typing import NDArray

from stactools_glofnet.core.config import CatalogContent, SplitName
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid, aoi_grid
from stactools_glofnet.core.normalization import Reference, choose, is_applied
from stactools_glofnet.sentinel2.bands import BAND_BY_KEY

AUGMENT = {
    "flip_horizontal": lambda a: a[..., ::-1],
    "flip_vertical": lambda a: a[..., ::-1, :],
    "rot90": lambda a: np.rot90(a, 1, axes=(-2, -1)),
    "rot180": lambda a: np.rot90(a, 2, axes=(-2, -1)),
    "rot270": lambda a: np.rot90(a, 3, axes=(-2, -1)),
}
GLOF, NO_GLOF = 1, 0


@dataclass(frozen=True)
class Window:
    """A patch window: its index and its upper-left pixel on the AOI 10 m grid."""

    index: int
    row: int
    col: int


def patch_windows(content: CatalogContent) -> tuple[Grid, list[Window]]:
    """Windows tiling the lake's bounding box, centred on it, on the AOI 10 m lattice."""
    size = content.processing.sentinel2.patch_size
    spec = content.processing.grids["sentinel2_10m"]
    aoi = aoi_grid(spec, content.geometry.aoi.bbox)
    lake = aoi_grid(spec, content.geometry.lake.bbox)
    col0 = round((lake.transform.c - aoi.transform.c) / spec.resolution)
    row0 = round((aoi.transform.f - lake.transform.f) / spec.resolution)
    ny, nx = math.ceil(lake.height / size), math.ceil(lake.width / size)
    top = row0 + (lake.height - ny * size) // 2
    left = col0 + (lake.width - nx * size) // 2
    windows = [Window(j * nx + i, top + j * size, left + i * size) for j in range(ny) for i in range(nx)]
    return aoi, windows


def glof_label(content: CatalogContent, day: dt.date) -> int:
    """1 (GLOF) when ``day`` is labelled GLOF by catalog/events.toml, else 0."""
    return GLOF if content.events.is_glof(day) else NO_GLOF


def augmentation_rule() -> str:
    """How :class:`PatchWriter` chooses augmentations, as published in ``glofnet:augmentation``."""
    return (
        "train patches only: a GLOF patch gets every method, a no-GLOF patch one method chosen by"
        " crc32(patch_id) modulo the number of methods; the original is always kept"
    )


def _augmentation_for(patch_id: str, choices: Sequence[str]) -> str:
    return choices[zlib.crc32(patch_id.encode()) % len(choices)]


@dataclass(frozen=True)
class ScenePatches:
    """One scene's patches, cut and augmented, ready to append (small: a few windows)."""

    day: dt.date
    split: SplitName
    records: list[dict[str, Any]]


def cut_patches(
    content: CatalogContent,
    scene_id: str,
    day: dt.date,
    split: SplitName,
    grid: Grid,
    reflectance: dict[str, NDArray[np.float32]],
) -> ScenePatches | None:
    """Cut, label and (train only) augment the scene's patches; None where no window fits."""
    params = content.processing.sentinel2
    size = params.patch_size
    aoi, windows = patch_windows(content)
    col_off = round((grid.transform.c - aoi.transform.c) / grid.transform.a)
    row_off = round((aoi.transform.f - grid.transform.f) / -grid.transform.e)
    stack = np.stack([reflectance[key] for key in params.patch_bands])
    label = glof_label(content, day)
    records: list[dict[str, Any]] = []
    for window in windows:
        row, col = window.row - row_off, window.col - col_off
        if row < 0 or col < 0 or row + size > grid.height or col + size > grid.width:
            continue
        data = np.ascontiguousarray(stack[:, row : row + size, col : col + size])
        patch_id = f"{scene_id}_w{window.index}"
        base = {"scene_id": scene_id, "window": window.index, "origin": patch_id, "label": label}
        records.append({**base, "patch_id": patch_id, "augmentation": "none", "data": data})
        if split != "train":
            continue
        augmentations = list(params.augmentations)
        chosen = augmentations if label == GLOF else [_augmentation_for(patch_id, augmentations)]
        for name in chosen:
            augmented = np.ascontiguousarray(AUGMENT[name](data))
            records.append(
                {**base, "patch_id": f"{patch_id}_{name}", "augmentation": name, "data": augmented}
            )
    return ScenePatches(day, split, records) if records else None


BATCH_PATCHES = 64
"""Patches held before their pixels are appended to the store (64 of 6x128x128 float32: 25 MB)."""

PATCH_ATTRIBUTES: dict[str, str] = {
    "label": "int8",
    "split": "<U8",
    "augmentation": "<U16",
    "patch_id": "<U64",
    "origin": "<U64",
    "scene_id": "<U64",
    "window": "int16",
    "datetime": "datetime64[ns]",
}
"""The per-patch variables besides the pixels, and their dtypes."""


class PatchWriter:
    """Appends each scene's patches to a Zarr store, then normalizes with train statistics.

    Pixels are appended in batches of :data:`BATCH_PATCHES` (one Zarr chunk per patch); the
    per-patch variables, a few hundred bytes a patch, are kept and written whole (one chunk each)
    when the store is finished.
    """

    def __init__(self, path: Path, content: CatalogContent) -> None:
        """Start an empty patch store at ``path``."""
        self.path = path
        self.content = content
        self.params = content.processing.sentinel2
        self.bands = list(self.params.patch_bands)
        self.written = 0
        self.pending: list[NDArray[np.float32]] = []
        self.attributes: dict[str, list[Any]] = {name: [] for name in PATCH_ATTRIBUTES}

    def append(self, patches: ScenePatches | None) -> int:
        """Append one scene's patches (from :func:`cut_patches`); returns how many were added."""
        if patches is None:
            return 0
        day = np.datetime64(patches.day, "ns")
        for record in patches.records:
            self.pending.append(record["data"])
            for name in PATCH_ATTRIBUTES:
                value = patches.split if name == "split" else day if name == "datetime" else record[name]
                self.attributes[name].append(value)
        if len(self.pending) >= BATCH_PATCHES:
            self._write_pending()
        return len(patches.records)

    def _write_pending(self) -> None:
        """Append the held pixels to the store."""
        if not self.pending:
            return
        size = self.params.patch_size
        dataset = xr.Dataset(
            {"reflectance": (("patch", "band", "y", "x"), np.stack(self.pending))},
            coords={"band": self.bands},
        )
        if self.written == 0:
            encoding = {"reflectance": {"chunks": (1, len(self.bands), size, size)}}
            dataset.to_zarr(self.path, mode="w", zarr_format=2, consolidated=False, encoding=encoding)
        else:
            dataset.to_zarr(self.path, append_dim="patch", zarr_format=2, consolidated=False)
        self.written += len(self.pending)
        self.pending = []

    def _write_attributes(self) -> None:
        """Write the per-patch variables, each as one chunk."""
        variables = {
            name: ("patch", np.array(values, dtype=PATCH_ATTRIBUTES[name]))
            for name, values in self.attributes.items()
        }
        encoding = {name: {"chunks": (self.written,)} for name in variables}
        xr.Dataset(variables).to_zarr(
            self.path, mode="a", zarr_format=2, consolidated=False, encoding=encoding
        )

    def finish(self, reference: Reference | None = None) -> dict[str, Any]:
        """Normalize (train statistics, or ``reference``'s), consolidate; return a summary.

        Without train patches and without a reference, the patches are published without the
        ``normalized`` variable and the summary's normalization says why.
        """
        self._write_pending()
        if self.written == 0:
            return {"patches": 0}
        self._write_attributes()
        # the pixels 64 patches at a time; the per-patch variables (one chunk each) read whole
        store = xr.open_zarr(self.path, consolidated=False, chunks=None)
        reflectance = store.reflectance.chunk({"patch": 64})
        train = ((store.split == "train") & (store.augmentation == "none")).compute()
        own: dict[str, Any] | None = None
        if bool(train.any()):
            values = reflectance.where(train, drop=True)
            mean = values.mean(dim=("patch", "y", "x"), skipna=True).compute().astype(np.float32)
            std = values.std(dim=("patch", "y", "x"), skipna=True).compute().astype(np.float32)
            count = values.count(dim=("patch", "y", "x")).compute()
            own = {
                "method": "z-score",
                "split": "train",
                "statistics": {
                    band: {"mean": float(m), "std": float(d), "count": int(n)}
                    for band, m, d, n in zip(self.bands, mean.values, std.values, count.values, strict=True)
                },
            }
        normalization = choose("sentinel2", reference, own)
        if is_applied(normalization):
            statistics = normalization["statistics"]
            missing = [band for band in self.bands if band not in statistics]
            if missing:
                raise GlofnetError(self.path, f"the normalization statistics lack bands {', '.join(missing)}")
            mean_values = np.array([statistics[b]["mean"] for b in self.bands], dtype=np.float32)
            std_values = np.array([statistics[b]["std"] for b in self.bands], dtype=np.float32)
            mean_da = xr.DataArray(mean_values, dims="band", coords={"band": self.bands})
            std_da = xr.DataArray(std_values, dims="band", coords={"band": self.bands})
            extra = xr.Dataset(
                {
                    "normalized": ((reflectance - mean_da) / std_da).astype(np.float32),
                    "mean": ("band", mean_values),
                    "std": ("band", std_values),
                }
            )
            extra.normalized.attrs = {"description": "(reflectance - mean) / std, train-split statistics"}
            extra.to_zarr(self.path, mode="a", zarr_format=2, consolidated=False)
        counts: dict[str, dict[str, int]] = {}
        labels, splits, augment = store.label.values, store.split.values, store.augmentation.values
        for split in ("train", "validate", "test"):
            chosen = splits == split
            counts[split] = {
                "glof": int(((labels == GLOF) & chosen).sum()),
                "no_glof": int(((labels == NO_GLOF) & chosen).sum()),
                "augmented": int((chosen & (augment != "none")).sum()),
            }
        attrs = {
            "title": "GLOFNet Sentinel-2 patches",
            "bands": ",".join(f"{k}={BAND_BY_KEY[k].band_id}" for k in self.bands),
            "units": "reflectance (unitless); NaN where cloud-masked",
            "normalization": (
                "per-band mean and std over the train split's non-augmented patches"
                if is_applied(normalization)
                else f"none: {normalization['reason']}"
            ),
            "label": "1 = GLOF (an outburst or up to glof_window_days after it, events.toml), 0 = no GLOF",
        }
        group = zarr.open_group(str(self.path), mode="a", zarr_format=2)
        group.attrs.update(attrs)
        zarr.consolidate_metadata(str(self.path))
        return {
            "patches": self.written,
            "counts": counts,
            "normalization": normalization,
        }
