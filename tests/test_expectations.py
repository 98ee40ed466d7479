"""Metadata changes show up as reviewed diffs: built JSON against tests/expected/.

Run ``scripts/test --update-expectations`` after an intended change and commit the new files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stactools_glofnet.build import cached_sample
from stactools_glofnet.core.config import CatalogContent

EXPECTED = Path(__file__).parent / "expected"
DOCUMENTS = [
    "catalog.json",
    "glofnet-events/collection.json",
    "glofnet-events/shisper-glof-2019-06-22/shisper-glof-2019-06-22.json",
    "glofnet-sentinel2/collection.json",
    "glofnet-sentinel2/S2A_43SDA_20210420_0_L2A/S2A_43SDA_20210420_0_L2A.json",
    "glofnet-itslive/collection.json",
    "glofnet-modis-lst/collection.json",
    "glofnet-modis-lst/glofnet-modis-lst-2019/glofnet-modis-lst-2019.json",
    "glofnet-harmonized/collection.json",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_built_json_matches_the_expectation(
    built_catalog: Path, content: CatalogContent, request: pytest.FixtureRequest, document: str
) -> None:
    source = str(cached_sample(content))
    text = (built_catalog / document).read_text().replace(source, "$SOURCE")
    expected = EXPECTED / document.replace("/", "__")
    if request.config.getoption("--update-expectations"):
        expected.write_text(text)
    assert expected.is_file(), f"run scripts/test --update-expectations to create {expected.name}"
    assert text == expected.read_text(), f"{document} changed; review and run with --update-expectations"
