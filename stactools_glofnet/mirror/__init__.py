"""SOURCE in object storage: ``s3://BUCKET/PREFIX`` mirrored into a local directory the readers use.

The readers open local files (rasterio, h5netcdf, zarr), so an ``s3://`` SOURCE is first
synchronized into a local mirror in the user cache, one per endpoint, bucket and prefix: only
objects whose size or ETag changed are downloaded, files whose objects are gone are removed, and
unchanged files are left untouched, so the incremental-rebuild record stays current. ``acquire``
writes into the mirror and then uploads what changed. One module per job: ``location`` (where a
mirror lives), ``state`` (what was synchronized), ``connect`` (the client and a first probe),
``download`` (bucket to mirror), ``upload`` (mirror to bucket) and ``run`` (:func:`mirrored`).
"""

from __future__ import annotations

from stactools_glofnet.mirror.run import Mirrored, SourceSpec, is_s3_url, mirrored

__all__ = ["Mirrored", "SourceSpec", "is_s3_url", "mirrored"]
