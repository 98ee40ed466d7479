"""Where a catalog is published: ``s3://BUCKET/PREFIX``, and the object keys that stay inside PREFIX."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stactools_glofnet.core.errors import GlofnetError

MANIFEST_NAME = "_glofnet-manifest.json"
"""The published manifest (key -> SHA-256, size, ETag, headers), written after the root."""

MAX_KEY_BYTES = 1024
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _unsafe_segment(segment: str) -> str | None:
    """Why one ``/``-separated part of a key or prefix is refused, or None when it is safe."""
    if segment in ("", ".", ".."):
        return "empty, '.' or '..' path segments are not allowed"
    if "\\" in segment:
        return "backslashes are not allowed"
    if segment.isascii() and segment.isprintable():
        return None  # printable ASCII has no control or format characters
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in segment):
        return "control characters are not allowed"
    return None


def check_relative_key(relative: str) -> str:
    """Return ``relative`` if it is a safe key suffix (no ``..``, no absolute path), else raise."""
    if relative.startswith("/"):
        raise GlofnetError(relative, "absolute paths cannot be published")
    for segment in relative.split("/"):
        problem = _unsafe_segment(segment)
        if problem:
            raise GlofnetError(relative, f"refusing an object key that could escape the prefix: {problem}")
    return relative


@dataclass(frozen=True)
class Target:
    """A bucket and a key prefix (no leading or trailing slash; empty for the bucket root)."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        """The ``s3://`` URL of the prefix."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def list_prefix(self) -> str:
        """The ``Prefix`` that lists exactly the objects under this target (with its slash)."""
        return f"{self.prefix}/" if self.prefix else ""

    def key(self, relative: str) -> str:
        """The object key of a catalog file, refusing any path that would leave the prefix."""
        key = self.list_prefix + check_relative_key(relative)
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise GlofnetError(relative, f"object key longer than {MAX_KEY_BYTES} bytes")
        return key

    def relative(self, key: str) -> str:
        """The part of a listed key after the prefix; refuses keys outside the prefix.

        Listed keys are taken literally (S3 keys are not paths), so a key such as ``a/../b`` that
        some other tool wrote under the prefix is still a key under the prefix.
        """
        if not key.startswith(self.list_prefix) or key == self.list_prefix:
            raise GlofnetError(f"s3://{self.bucket}/{key}", f"object is not under {self}")
        return key[len(self.list_prefix) :]

    def listed_key(self, relative: str) -> str:
        """The full key of an object listed under the prefix, taken literally (see :meth:`relative`)."""
        return self.list_prefix + relative

    @property
    def manifest_key(self) -> str:
        """The key of the published manifest."""
        return self.key(MANIFEST_NAME)

    def check_delete(self) -> None:
        """Refuse deleting stale objects at the bucket root, where every other object is stale."""
        if not self.prefix:
            raise GlofnetError(
                str(self),
                "--delete needs a non-empty PREFIX (s3://BUCKET/PREFIX): at the bucket root it would "
                "delete every object that is not part of the catalog",
            )


def parse_target(url: str) -> Target:
    """Parse ``s3://BUCKET/PREFIX`` (PREFIX optional), refusing unsafe buckets and prefixes."""
    if not url.startswith("s3://"):
        raise GlofnetError(url, "target must be s3://BUCKET/PREFIX")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise GlofnetError(url, f"{bucket!r} is not a valid S3 bucket name")
    prefix = prefix.strip("/")
    if prefix:
        for segment in prefix.split("/"):
            problem = _unsafe_segment(segment)
            if problem:
                raise GlofnetError(url, f"refusing the prefix: {problem}")
    return Target(bucket, prefix)
