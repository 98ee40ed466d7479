"""``stac glofnet serve`` as the tests run it: a real subprocess on 127.0.0.1, stopped by its PID."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from stactools_glofnet.core.files import write_json
from tests.processes import stop
from tests.s3server import free_ports


def stac_command() -> str:
    """The ``stac`` console script of this environment."""
    return str(Path(sys.executable).parent / "stac")


@contextmanager
def stac_api(catalog: str, timeout: float = 60) -> Iterator[str]:
    """Run ``stac glofnet serve CATALOG`` on a free port; yield its URL; stop it afterwards.

    A port another test process took between choosing and binding it is given up for another
    (three tries).
    """
    for attempt in range(3):
        (port,) = free_ports(1)
        process = subprocess.Popen(
            [stac_command(), "glofnet", "serve", catalog, "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        output = _wait_until_serving(process, url, timeout)
        if output is None:
            break
        if "address already in use" not in output or attempt == 2:
            raise RuntimeError(f"stac glofnet serve did not start:\n{output}")
    try:
        yield url
    finally:
        stop(process, timeout=15)
        if process.stdout is not None:
            process.stdout.close()


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, timeout: float) -> str | None:
    """None once ``url`` answers; the server's output if it exits or does not answer in time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return None
        except requests.RequestException:  # not up yet (or another process's listener)
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.communicate()[0].decode(errors="replace")
            return output
        time.sleep(0.2)


def write_api_catalog(dest: Path, collection: str, documents: list[dict[str, Any]]) -> None:
    """A static catalog of one provider collection for ``serve``, its items exactly the provider's.

    Written by hand (not with pystac), so each item's JSON is what the test gives, plus the
    structural links the server needs.
    """
    write_json(
        dest / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "provider",
            "description": f"A provider's {collection} collection, played locally",
            "links": [
                {"rel": "root", "href": "./catalog.json", "type": "application/json"},
                {"rel": "child", "href": f"./{collection}/collection.json", "type": "application/json"},
            ],
        },
    )
    moments = sorted(
        str(d["properties"].get("datetime") or d["properties"]["start_datetime"]) for d in documents
    )
    write_json(
        dest / collection / "collection.json",
        {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": collection,
            "description": collection,
            "license": "proprietary",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [[moments[0], moments[-1]]]},
            },
            "links": [
                {"rel": "root", "href": "../catalog.json", "type": "application/json"},
                {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
                *[
                    {"rel": "item", "href": f"./{d['id']}/{d['id']}.json", "type": "application/geo+json"}
                    for d in documents
                ],
            ],
        },
    )
    for document in documents:
        links = [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        ]
        write_json(
            dest / collection / document["id"] / f"{document['id']}.json", {**document, "links": links}
        )
