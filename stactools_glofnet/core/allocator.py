"""Give a build's freed arrays back to the system (glibc's allocator), without slowing its jobs.

glibc raises its mmap threshold each time a mapped block is freed, so once the first large
arrays are freed, later ones of the same size (each image pair's velocity layer received from a
worker, each block of cube layers) come from the heap instead. Small objects that outlive them
keep that heap space from being returned, and the process's RSS grows with the number of inputs
(measured: after the 266 ITS_LIVE pairs of a local-cluster build, ``malloc_trim`` gave back
153 MiB of the driver's 565).

``malloc_trim`` is therefore called where a build has just let go of such arrays (each block of
cube layers staged), and on every worker of a cluster once a run of jobs ends. Setting the trim
threshold instead (as Dask's nanny does for its workers) turns glibc's growing mmap threshold off
for good: every array above 128 KiB is then mapped afresh and faulted in, and jobs computed in
the build's process (GDAL compressing on every core) spent most of their time in the kernel
(docs/benchmarks.md: 4 Sentinel-2 scenes in 78-80 s against 45-50 s).

A build fixes its process's mmap threshold at :data:`MMAP_THRESHOLD` instead, far above the
trim threshold's 128 KiB (:func:`map_large_blocks`): the blocks of a megabyte or more that a
build keeps allocating and freeing are then mapped and unmapped, while smaller ones (a pair's
velocity layers, GDAL's compressed blocks) still come from the heap. With glibc's moving
threshold those large blocks came from the heap too, and the heap the build's process held grew
with the number of inputs, though what it used did not (docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import cache
from typing import Any, Final

M_MMAP_THRESHOLD: Final = -3
"""glibc's ``mallopt`` parameter for the size from which blocks are mapped (malloc.h)."""
MMAP_THRESHOLD: Final = 1 << 20
"""Blocks of this size or more are mapped afresh in the build's process, and unmapped when freed.

Measured on ITS_LIVE alone at fraction 0.06 (docs/benchmarks.md): glibc's heap peaked at 186 MiB
with its moving threshold, 126 with this one or 256 KiB, and 176 with 4 MiB."""


@cache
def _libc() -> Any:
    """glibc, or None on another C library or system."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def give_back_freed_memory() -> bool:
    """Return the freed pages of this process's heap to the system; whether any were returned."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(0))


def map_large_blocks() -> bool:
    """Fix this process's mmap threshold at :data:`MMAP_THRESHOLD` for good; whether it was set."""
    libc = _libc()
    return libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


ARROW_POOL_VARIABLE: Final = "ARROW_DEFAULT_MEMORY_POOL"
"""Arrow reads its default memory pool's allocator from this variable once, when it is imported."""


def arrow_on_the_system_allocator() -> bool:
    """Have Arrow allocate through the C library (glibc) in this process and the processes it
    starts, unless the variable is already set; whether Arrow does (once pyarrow is imported,
    its pool is chosen and only reported).

    Arrow's own allocator (mimalloc in the pyarrow wheels) keeps the pages of freed buffers: in a
    build's process they stayed resident after each Parquet table and stac-geoparquet index was
    written, growing with the largest table so far (docs/benchmarks.md: 7 MiB after a build at
    fraction 0.02, 20 MiB at 0.08). Through glibc a buffer of :data:`MMAP_THRESHOLD` or more is
    unmapped when it is freed and the rest goes back with the heap's trims.
    """
    if "pyarrow" in sys.modules:
        return bool(sys.modules["pyarrow"].default_memory_pool().backend_name == "system")
    os.environ.setdefault(ARROW_POOL_VARIABLE, "system")
    return os.environ[ARROW_POOL_VARIABLE] == "system"
