"""The STAC API application (stac-fastapi-static) and the uvicorn server that runs it."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from stactools_glofnet.core.errors import GlofnetError

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LANDING_ID = "glofnet-api"


def catalog_href(catalog: str) -> str:
    """The root ``catalog.json`` of ``catalog`` (a directory, a file or an http(s) URL) as a URL."""
    if urlparse(catalog).scheme in ("http", "https"):
        return catalog if catalog.endswith(".json") else catalog.rstrip("/") + "/catalog.json"
    path = Path(catalog)
    if path.is_dir():
        path = path / "catalog.json"
    if not path.is_file():
        raise GlofnetError(path, "no catalog here (expected a catalog directory or its catalog.json)")
    try:
        root = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise GlofnetError(path, f"not a readable STAC catalog ({error})") from None
    if not isinstance(root, dict) or root.get("type") != "Catalog":
        raise GlofnetError(path, "not a STAC catalog (its type is not Catalog)")
    return path.resolve().as_uri()


def make_app(catalog: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Any:
    """The FastAPI application serving ``catalog`` as a STAC API."""
    with warnings.catch_warnings():
        # stac-fastapi 5.2 imports fastapi's deprecated ORJSONResponse: its concern, not the user's.
        warnings.filterwarnings("ignore", "ORJSONResponse is deprecated")
        from stac_fastapi.static.api import Settings, make_api

    settings = Settings(
        catalog_href=catalog_href(catalog),
        app_host=host,
        app_port=port,
        reload=False,
        stac_fastapi_title="GLOFNet STAC API",
        stac_fastapi_description="GLOFNet (Shisper Glacier GLOF data) served by stac-fastapi-static.",
        assume_best_practice_layout=True,
        cors_origins=["*"],
    )
    api = make_api(settings)
    api.client.landing_page_id = LANDING_ID  # the client reads it from the environment otherwise
    return api.app


def serve(catalog: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve ``catalog`` at http://HOST:PORT until interrupted."""
    import uvicorn

    app = make_app(catalog, host=host, port=port)
    logger.info("serving %s at http://%s:%d", catalog_href(catalog), host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")
