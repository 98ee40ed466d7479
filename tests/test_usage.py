"""docs/usage.md runs: on the built catalog, and on its published copy read over HTTP from S3."""

from __future__ import annotations

import re
from pathlib import Path

import pystac
import pytest

from stactools_glofnet.publish import publish_catalog
from tests.s3server import PUBLIC_BUCKET, SeaweedFS
from tests.s3server import s3_server as s3_server
from tests.stacapi import stac_api
from tests.test_publish import aws_environment as aws_environment
from tests.usage import USAGE, python_blocks


@pytest.fixture(scope="module")
def local_output(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """What the usage program prints on the built catalog (served by ``stac glofnet serve``)."""
    from tests.usage import run_usage

    with stac_api(str(built_catalog)) as api:
        output = run_usage(str(built_catalog / "catalog.json"), api, tmp_path_factory.mktemp("usage"))
    return output.replace(str(built_catalog), "<catalog>")


def test_the_usage_examples_run_on_the_built_catalog(built_catalog: Path, local_output: str) -> None:
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    scenes = list(root.get_child("glofnet-sentinel2").get_items())  # type: ignore[union-attr]
    assert f"{len(scenes)} Sentinel-2 scenes from " in local_output
    lines = local_output.splitlines()
    searched = [line for line in lines if line.startswith("['S2")]
    assert searched, "the STAC API search printed its scenes"
    april_june = sorted(
        s.id
        for s in scenes
        if s.datetime is not None
        and "2021-04-01" <= s.datetime.date().isoformat() <= "2021-06-30"
        and s.properties["eo:cloud_cover"] < 20
    )
    assert searched[0] == str(april_june)
    assert re.search(r"^train \d+ patches, \d+ GLOF$", local_output, re.M)


def test_the_usage_examples_give_the_same_results_on_the_published_copy(
    built_catalog: Path, s3_server: SeaweedFS, local_output: str, tmp_path: Path
) -> None:
    from tests.usage import run_usage

    url = s3_server.public_url(PUBLIC_BUCKET, "usage")
    publish_catalog(
        built_catalog, f"s3://{PUBLIC_BUCKET}/usage", endpoint_url=s3_server.endpoint, public_url=url
    )
    with stac_api(f"{url}/catalog.json") as api:
        output = run_usage(f"{url}/catalog.json", api, tmp_path)
    assert output.replace(url, "<catalog>") == local_output


def test_every_python_block_is_run() -> None:
    text = USAGE.read_text()
    blocks = python_blocks(text)
    assert len(blocks) == text.count("```python") >= 8
    assert "STAC_CHECK_NOTES" not in text, "the stac-check section lists what it reports"
