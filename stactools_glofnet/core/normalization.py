"""Where normalization statistics come from: the build's own train split, a reference, or nowhere.

Statistics must come from the train split alone. A build whose inputs hold no train data (a
batch of recent scenes, the way an operational user adds new data) takes them from a published
GLOFNet dataset named with ``--normalization-from`` (a :class:`Reference`), or publishes no
normalized values and says so (``method: none`` with the reason).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pystac

from stactools_glofnet.core.config import Modality
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension

logger = logging.getLogger(__name__)


def omitted(reason: str) -> dict[str, Any]:
    """The ``glofnet:normalization`` of values published without normalization, and why."""
    return {"method": "none", "reason": reason}


def from_train(
    owner: str, statistics: dict[str, dict[str, float | int]], unusable: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """``owner``'s own z-score normalization from the train statistics of each variable.

    ``unusable`` names the variables whose train values cannot be normalized with (e.g. a source
    with no input on a train day), each with why: they get no statistics and no normalized
    values, and ``reason`` says so. When no variable is left, nothing is normalized (``none``).
    """
    why = "; ".join(f"{name}: {text}" for name, text in sorted(unusable.items()))
    if unusable:
        logger.warning("%s: not normalized: %s", owner, why)
    if not statistics:
        return omitted(f"no variable can be normalized with the train days ({why})")
    own = {"method": "z-score", "split": "train", **fields, "statistics": statistics}
    if unusable:
        own["reason"] = f"not normalized ({why})"
    return own


def is_applied(normalization: dict[str, Any] | None) -> bool:
    """Whether ``normalization`` carries statistics to normalize with."""
    return bool(normalization) and normalization.get("method") != "none"  # type: ignore[union-attr]


@dataclass(frozen=True)
class Reference:
    """The train statistics a published GLOFNet catalog (or one of its collections) declares."""

    href: Path
    collections: dict[Modality, pystac.Collection]

    @classmethod
    def load(cls, href: Path) -> Reference:
        """Read the catalog or collection at ``href`` (a directory or its JSON file)."""
        path = href
        if href.is_dir():
            path = href / "catalog.json" if (href / "catalog.json").is_file() else href / "collection.json"
        try:
            root = pystac.read_file(str(path))
        except Exception as error:  # pystac raises many types for missing or broken JSON
            raise GlofnetError(path, f"not a readable GLOFNet catalog or collection ({error})") from None
        if isinstance(root, pystac.Collection):
            candidates = [root]
        elif isinstance(root, pystac.Catalog):
            candidates = [c for c in root.get_children() if isinstance(c, pystac.Collection)]
        else:
            raise GlofnetError(path, "is an item, not a GLOFNet catalog or collection")
        collections: dict[Modality, pystac.Collection] = {}
        for collection in candidates:
            if GlofnetExtension.has_extension(collection):
                modality = GlofnetExtension.ext(collection).modality
                if modality is not None:
                    collections[modality] = collection
        if not collections:
            raise GlofnetError(path, "holds no GLOFNet collection (none declares glofnet:modality)")
        return cls(href=path, collections=collections)

    def statistics(self, modality: Modality, asset: str | None = None) -> dict[str, Any]:
        """The reference's train normalization of ``modality`` (or of one of its assets), marked as such."""
        collection = self.collections.get(modality)
        if collection is None:
            raise GlofnetError(
                self.href, f"has no {modality} collection to take normalization statistics from"
            )
        owner: pystac.Collection | pystac.Asset = collection
        if asset is not None:
            if asset not in collection.assets:
                raise GlofnetError(self.href, f"collection {collection.id} has no {asset!r} asset")
            owner = collection.assets[asset]
        found = GlofnetExtension.ext(owner).normalization
        if not is_applied(found):
            where = f"{collection.id}" + (f" asset {asset!r}" if asset else "")
            raise GlofnetError(self.href, f"{where} publishes no train normalization statistics")
        assert found is not None
        statistics = copy.deepcopy(found)
        statistics["reference"] = {"collection": collection.id, "version": _version(collection)}
        logger.warning(
            "%s: normalization statistics taken from %s %s (%s)",
            modality,
            collection.id,
            statistics["reference"]["version"],
            self.href,
        )
        return statistics


def _version(collection: pystac.Collection) -> str:
    version = collection.extra_fields.get("version")
    return str(version) if version else "unversioned"


def choose(
    modality: Modality,
    reference: Reference | None,
    own: dict[str, Any] | None,
    *,
    asset: str | None = None,
) -> dict[str, Any]:
    """The normalization to publish: the reference's when given, else the build's own, else none.

    ``own`` is the build's statistics from its train split, or None when it has no train data.
    """
    if reference is not None:
        return reference.statistics(modality, asset)
    if own is not None:
        return own
    reason = "the inputs hold no train-split data and no --normalization-from reference was given"
    logger.warning("%s: no normalization: %s", modality, reason)
    return omitted(reason)
