"""Where the mirror of an ``s3://`` SOURCE lives: one directory per endpoint, bucket and prefix."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stactools_glofnet.core.cache import user_cache_dir
from stactools_glofnet.publish.endpoint import redact_url
from stactools_glofnet.publish.target import Target

FOLDER: Final = "source-mirrors"
TREE: Final = "source"
"""The mirrored files, laid out as under the prefix: the SOURCE the build reads."""
STATE: Final = "state.json"


def effective_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint the client talks to: the one given, else ``$AWS_ENDPOINT_URL_S3`` or
    ``$AWS_ENDPOINT_URL`` (as boto3 reads them), else None for AWS itself."""
    return endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


@dataclass(frozen=True)
class MirrorLocation:
    """A mirror's directory: ``tree`` (the files) and ``state`` (what was synchronized) inside it."""

    directory: Path

    @property
    def tree(self) -> Path:
        """The local SOURCE."""
        return self.directory / TREE

    @property
    def state(self) -> Path:
        """The synchronization record."""
        return self.directory / STATE


def mirror_location(target: Target, endpoint_url: str | None) -> MirrorLocation:
    """``<user cache>/source-mirrors/<bucket>-<key>``, the key a digest of endpoint, bucket and prefix.

    The same SOURCE always maps to the same absolute path, so the build's kept job results (keyed
    by input paths and contents) are found again on the next run.
    """
    endpoint = effective_endpoint(endpoint_url)
    where = redact_url(endpoint).rstrip("/").lower() if endpoint else "aws"
    identity = f"{where}\n{target.bucket}\n{target.prefix}"
    key = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    readable = re.sub(r"[^a-z0-9.-]", "-", target.bucket)
    return MirrorLocation(user_cache_dir() / FOLDER / f"{readable}-{key}")
