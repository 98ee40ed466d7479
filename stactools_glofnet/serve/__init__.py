"""``serve``: a STAC API over a built or published catalog, on stac-fastapi-static.

The server reads the static catalog (a local directory or an http(s) URL) and answers the STAC
API: ``/search`` with bbox, datetime, collections, ids and CQL2 filters (text and JSON, GET and
POST), ``/collections/{id}/items``, paging; CORS is open to every origin, so STAC Browser and
notebooks on other ports can use it. A local catalog's files are served too (at their relative
paths), so asset hrefs resolve through the same address.
"""

from __future__ import annotations

from stactools_glofnet.serve.app import catalog_href, make_app, serve

__all__ = ["catalog_href", "make_app", "serve"]
