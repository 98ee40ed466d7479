"""A build's SOURCE directory: the sample (with its manifest) or real inputs laid out by modality.

SOURCE holds ``sample.json`` + ``truth.json`` (a synthetic sample) and/or one directory per
modality (``sentinel2/``, ``itslive/``, ``modis/``). A listed file that is missing, truncated or
altered is reported before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import read_json, sha256_file
from stactools_glofnet.sample.names import (
    MANIFEST_FORMAT,
    MANIFEST_FORMAT_VERSION,
    MANIFEST_NAME,
    TRUTH_NAME,
)

MODALITY_DIRS = ("sentinel2", "itslive", "modis")


@dataclass(frozen=True)
class SourceInputs:
    """A checked SOURCE directory.

    A sample's manifest is checked and not kept: it lists every file of the sample (about 380
    bytes of Python objects each, which the build would hold to its end), and the build reads
    the files themselves.
    """

    root: Path

    def modality_dir(self, modality: str) -> Path | None:
        """The directory of a modality's inputs, if SOURCE has one."""
        path = self.root / modality
        return path if path.is_dir() else None


def _check_manifest(root: Path) -> None:
    """Every file ``sample.json`` lists is there with its size and SHA-256."""
    path = root / MANIFEST_NAME
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise GlofnetError(path, f"not a GLOFNet sample manifest (format != {MANIFEST_FORMAT!r})")
    if manifest.get("format_version") != MANIFEST_FORMAT_VERSION:
        raise GlofnetError(
            path,
            f"sample format_version {manifest.get('format_version')!r}, expected {MANIFEST_FORMAT_VERSION}",
        )
    files = manifest.get("files")
    if not isinstance(files, list):
        raise GlofnetError(path, "key files: missing or not a list")
    for entry in files:
        if not isinstance(entry, dict) or not {"path", "size", "sha256"} <= entry.keys():
            raise GlofnetError(path, f"key files: malformed entry {entry!r}")
        listed = root / str(entry["path"])
        if not listed.is_file():
            raise GlofnetError(listed, "listed in sample.json but missing")
        if listed.stat().st_size != entry["size"]:
            raise GlofnetError(
                listed,
                f"has {listed.stat().st_size} bytes, sample.json says {entry['size']} (truncated or altered)",
            )
        if sha256_file(listed) != entry["sha256"]:
            raise GlofnetError(listed, "content does not match its SHA-256 in sample.json (corrupt)")


def check_source_dir(root: Path) -> bool:
    """Raise the one-line error of a SOURCE that cannot hold GLOFNet inputs; whether it is a sample.

    Only the directory's entries are looked at, so the commands call it before the build's
    libraries load: a mistyped SOURCE is told in the time the command takes to start.
    """
    if not root.exists():
        raise GlofnetError(root, "SOURCE does not exist")
    if not root.is_dir():
        raise GlofnetError(root, "SOURCE is not a directory")
    if not any(root.iterdir()):
        raise GlofnetError(root, "SOURCE is empty")
    sample = (root / MANIFEST_NAME).exists()
    if not sample and not any((root / m).is_dir() for m in MODALITY_DIRS):
        raise GlofnetError(
            root, f"holds no GLOFNet inputs: expected {MANIFEST_NAME} or one of {', '.join(MODALITY_DIRS)}/"
        )
    return sample


def open_source(root: Path) -> SourceInputs:
    """Check SOURCE and describe what it holds; raise a one-line error if it is unusable."""
    if check_source_dir(root):
        _check_manifest(root)
        truth = read_json(root / TRUTH_NAME)
        if not isinstance(truth, dict) or "timeline" not in truth:
            raise GlofnetError(root / TRUTH_NAME, "key timeline: missing from the sample truth")
    return SourceInputs(root=root)
