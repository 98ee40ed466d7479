"""``stac glofnet serve``: pystac-client searches a real server on 127.0.0.1 and gets exactly the items."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pystac
import pytest
import requests
from click.testing import CliRunner
from pystac_client import Client
from stactools.cli.cli import cli

from tests.stacapi import stac_api

Predicate = Callable[[pystac.Item], bool]


@pytest.fixture(scope="module")
def api(built_catalog: Path) -> Iterator[str]:
    """The built catalog served as a STAC API."""
    with stac_api(str(built_catalog)) as url:
        yield url


@pytest.fixture(scope="module")
def items(built_catalog: Path) -> list[pystac.Item]:
    """Every item of the built catalog, read from its JSON."""
    return list(pystac.Catalog.from_file(str(built_catalog / "catalog.json")).get_items(recursive=True))


def _ids(items: list[pystac.Item], keep: Predicate) -> list[str]:
    return sorted(item.id for item in items if keep(item))


def _search(url: str, **parameters: object) -> list[str]:
    return sorted(item.id for item in Client.open(url).search(limit=20, **parameters).items())  # type: ignore[arg-type]


def _overlaps(item: pystac.Item, start: dt.datetime, end: dt.datetime) -> bool:
    first = item.common_metadata.start_datetime or item.datetime
    last = item.common_metadata.end_datetime or item.datetime
    assert first is not None and last is not None
    return first <= end and last >= start


def test_search_by_collection_bbox_and_datetime(api: str, items: list[pystac.Item]) -> None:
    start, end = dt.datetime(2019, 6, 1, tzinfo=dt.UTC), dt.datetime(2019, 7, 31, 23, 59, 59, tzinfo=dt.UTC)
    expected = _ids(items, lambda i: i.collection_id == "glofnet-sentinel2" and _overlaps(i, start, end))
    assert expected
    found = _search(
        api,
        collections=["glofnet-sentinel2"],
        bbox=[74.55, 36.34, 74.6, 36.37],
        datetime="2019-06-01T00:00:00Z/2019-07-31T23:59:59Z",
    )
    assert found == expected
    every = _ids(items, lambda i: _overlaps(i, start, end))
    assert set(every) > set(expected), "other collections' items of the period (pairs, years, events)"
    assert _search(api, datetime="2019-06-01T00:00:00Z/2019-07-31T23:59:59Z") == every


def test_search_by_ids_across_collections(api: str, items: list[pystac.Item]) -> None:
    wanted = sorted({items[0].id, items[-1].id, "glofnet-modis-lst-2020"})
    assert _search(api, ids=wanted) == wanted


def test_cql2_filters_on_cloud_cover_and_glofnet_fields(api: str, items: list[pystac.Item]) -> None:
    clear = _ids(items, lambda i: i.properties.get("eo:cloud_cover", 100) < 10)
    assert 0 < len(clear) < len([i for i in items if "eo:cloud_cover" in i.properties])
    assert _search(api, filter="eo:cloud_cover < 10", filter_lang="cql2-text") == clear
    glof_train = _ids(
        items,
        lambda i: (
            i.properties.get("glofnet:label") == "glof" and i.properties.get("glofnet:split") == "train"
        ),
    )
    assert glof_train
    found = _search(
        api,
        filter={
            "op": "and",
            "args": [
                {"op": "=", "args": [{"property": "glofnet:label"}, "glof"]},
                {"op": "=", "args": [{"property": "glofnet:split"}, "train"]},
            ],
        },
        filter_lang="cql2-json",
    )
    assert found == glof_train


def test_cors_lets_a_browser_on_another_origin_read_the_api(api: str) -> None:
    origin = "http://127.0.0.1:5173"
    response = requests.get(f"{api}/collections", headers={"Origin": origin}, timeout=10)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", origin)
    preflight = requests.options(
        f"{api}/search",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    collections = {c["id"] for c in response.json()["collections"]}
    assert collections == {
        "glofnet-sentinel2",
        "glofnet-itslive",
        "glofnet-modis-lst",
        "glofnet-harmonized",
        "glofnet-events",
    }


def test_serve_refuses_a_path_without_a_catalog_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["glofnet", "serve", str(tmp_path / "absent")])
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "no catalog here" in result.output


def test_serve_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["glofnet", "serve", "--help"])
    assert result.exit_code == 0 and "Example: stac glofnet serve build/catalog" in result.output
