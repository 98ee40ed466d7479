"""Let a build's process give freed arrays back to the system (glibc's allocator).

glibc raises its mmap threshold each time a mapped block is freed, so once the first large
arrays are freed, later ones of the same size (each image pair's velocity layer received from a
worker, each block of cube layers) come from the heap instead. Small objects that outlive them
keep that heap space from being returned, and the process's RSS grows with the number of inputs
(measured: after the 266 ITS_LIVE pairs of a local-cluster build, ``malloc_trim`` gave back
153 MiB of the driver's 565).
Setting the trim threshold turns the adjustment off and returns freed heap tops above it; Dask's
nanny does the same for its workers (``MALLOC_TRIM_THRESHOLD_=65536``).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
"""``mallopt`` parameter number of the trim threshold (glibc's malloc.h)."""
TRIM_THRESHOLD = 65536
"""Bytes: the value Dask's nanny gives its workers."""
ENVIRONMENT = "MALLOC_TRIM_THRESHOLD_"
"""glibc's own setting of the same threshold: when the user gave one, theirs stands."""


def return_freed_memory() -> bool:
    """Set glibc's trim threshold for this process; whether it was set.

    Not set: on a C library other than glibc, or when ``MALLOC_TRIM_THRESHOLD_`` is in the
    environment (glibc has then applied it already).
    """
    if not sys.platform.startswith("linux") or ENVIRONMENT in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    return mallopt is not None and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
