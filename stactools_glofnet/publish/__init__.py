"""Publishing the built catalog to S3 or any S3-compatible store, incrementally and root last.

One module per job: ``target`` (``s3://BUCKET/PREFIX`` and key safety), ``local`` (the files the
root reaches, links checked), ``public`` (self links for ``--public-url``), ``digest`` (SHA-256
and ETags), ``media`` (Content-Type, Cache-Control), ``remote`` (the manifest, listing through
botocore), ``published`` (listing and manifest through obstore while the catalog is scanned),
``plan`` (upload/refresh/skip/delete in phases), ``endpoint`` (endpoint URLs), ``connection``
(the obstore store and the botocore client, each made on first use), ``store`` (obstore),
``client`` (botocore, retries), ``failures`` (errors as one line), ``upload`` (parallel and
multipart uploads, server-side header refreshes, deletes) and ``run`` (:func:`publish_catalog`,
which ties them together).
"""

from __future__ import annotations

from stactools_glofnet.publish.public import CATALOG_TYPES, CatalogType
from stactools_glofnet.publish.run import PublishReport, publish_catalog
from stactools_glofnet.publish.settings import TransferSettings
from stactools_glofnet.publish.target import MANIFEST_NAME, Target, parse_target

__all__ = [
    "CATALOG_TYPES",
    "MANIFEST_NAME",
    "CatalogType",
    "PublishReport",
    "Target",
    "TransferSettings",
    "parse_target",
    "publish_catalog",
]
