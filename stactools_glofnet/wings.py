"""The wing table: each modality, where its inputs come from, its front door and its sample.

Build, the commands and the sample read this one table; nothing registers itself on import.
Order is catalog order; a wing made from other wings' collections comes after them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pystac

from stactools_glofnet import events, harmonized, itslive, modis, sentinel2
from stactools_glofnet.core.config import CatalogContent, Modality
from stactools_glofnet.core.wing import BuildOptions, WingInputs
from stactools_glofnet.sample.framework import Generator
from stactools_glofnet.sample.framework import write_sample as write_sample_of
from stactools_glofnet.sample.names import DEFAULT_SEED, SizeName

WingBuilder = Callable[[WingInputs, Path, BuildOptions], pystac.Collection]


@dataclass(frozen=True)
class Wing:
    """One modality of the catalog."""

    modality: Modality
    create_collection: WingBuilder
    """The front door: ``create_collection(inputs, workdir, options)``."""
    unit: str
    """What one of its kept inputs is called in the run's summary."""
    source_dir: str | None = None
    """The SOURCE sub-directory its inputs are read from; None when it reads no SOURCE files."""
    needs: tuple[Modality, ...] = ()
    """The collections it is made from."""
    generate_sample: Generator | None = None
    """Writes its inputs into the synthetic sample."""
    reads_reference: bool = False
    """Whether a ``--normalization-from`` reference shapes its output."""


WINGS: tuple[Wing, ...] = (
    Wing(
        "sentinel2",
        sentinel2.create_collection,
        "scene",
        source_dir="sentinel2",
        generate_sample=sentinel2.generate_sample,
        reads_reference=True,
    ),
    Wing(
        "itslive",
        itslive.create_collection,
        "granule",
        source_dir="itslive",
        generate_sample=itslive.generate_sample,
    ),
    Wing("modis", modis.create_collection, "day", source_dir="modis", generate_sample=modis.generate_sample),
    Wing(
        "harmonized",
        harmonized.create_collection,
        "day",
        needs=("sentinel2", "itslive", "modis"),
        reads_reference=True,
    ),
    Wing("events", events.create_collection, "event"),
)

WING_BY_MODALITY: Mapping[Modality, Wing] = {wing.modality: wing for wing in WINGS}


def sample_generators() -> dict[str, Generator]:
    """Every wing's sample generator by modality."""
    return {wing.modality: wing.generate_sample for wing in WINGS if wing.generate_sample is not None}


def write_sample(
    dest: Path,
    content: CatalogContent,
    *,
    size: SizeName = "small",
    seed: int = DEFAULT_SEED,
    fraction: float = 1.0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the synthetic sample of every wing to ``dest``; returns its manifest."""
    return write_sample_of(
        dest, content, sample_generators(), size=size, seed=seed, fraction=fraction, overwrite=overwrite
    )
