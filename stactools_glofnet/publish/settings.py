"""How uploads are made: concurrency, retries, and the multipart layout that fixes each ETag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from stactools_glofnet.core.errors import GlofnetError

MIB: Final = 1 << 20
MIN_PART_SIZE: Final = 5 * MIB
"""S3's smallest part (all but the last)."""
MAX_PARTS: Final = 10_000
MAX_COPY_SIZE: Final = 5 << 30
"""S3's largest object a single CopyObject request copies (5 GiB)."""


@dataclass(frozen=True)
class TransferSettings:
    """Upload settings. The multipart defaults are boto3's and the AWS CLI's (8 MiB), so objects
    they uploaded have the same ETags as ours and compare equal without a manifest."""

    concurrency: int = 8
    """Files (and parts of large files) uploaded at the same time."""
    max_attempts: int = 5
    """Attempts per request, with exponential backoff and jitter between them (botocore's, and
    obstore's for single-request uploads)."""
    multipart_threshold: int = 8 * MIB
    """Files of at least this size are uploaded in parts."""
    part_size: int = 8 * MIB

    def __post_init__(self) -> None:
        """Refuse settings S3 would reject."""
        if self.concurrency < 1 or self.max_attempts < 1:
            raise GlofnetError("settings", "concurrency and attempts must be at least 1")
        if self.part_size < MIN_PART_SIZE or self.part_size % MIB:
            raise GlofnetError("settings", "the part size must be a whole number of MiB, at least 5 MiB")
        if self.multipart_threshold < 1:
            raise GlofnetError("settings", "the multipart threshold must be positive")

    def multipart(self, size: int) -> bool:
        """Whether a file of ``size`` bytes is uploaded in parts."""
        return size >= self.multipart_threshold

    def part_size_for(self, size: int) -> int:
        """The part size for a file of ``size`` bytes: ``part_size``, or whole MiB larger so a
        file never needs more than 10 000 parts. Deterministic, so a file's ETag is too."""
        needed = -(-size // MAX_PARTS)
        return max(self.part_size, -(-needed // MIB) * MIB)
