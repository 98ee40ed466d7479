"""stac-check, with every schema resolved offline, reports only the notes docs/usage.md explains."""

from __future__ import annotations

import re
from pathlib import Path

import pystac
import pytest

from stactools_glofnet.core.schemas import PACKAGE_SCHEMAS
from tests.usage import USAGE

PYSTAC_SCHEMAS = Path(pystac.__file__).parent / "validation" / "jsonschemas"


def _local_schema(schema_dirs: list[Path]) -> object:
    """Map a schema URL to its file: STAC core and GeoJSON from pystac, the rest from the mirrors."""

    def resolve(url: str) -> str:
        url = url.split("#")[0]
        core = re.fullmatch(r"https://schemas\.stacspec\.org/(v[^/]+)/[a-z-]+/json-schema/(.+)", url)
        if core:
            return str(PYSTAC_SCHEMAS / "stac-spec" / core.group(1) / core.group(2))
        geojson = re.fullmatch(r"https://geojson\.org/schema/(.+)", url)
        if geojson:
            return str(PYSTAC_SCHEMAS / "geojson" / geojson.group(1))
        for directory in schema_dirs:
            path = directory / re.sub(r"^https?://", "", url)
            if path.is_file():
                return str(path)
        raise AssertionError(f"{url} is in no schema mirror")

    return resolve


def _normalized(message: str) -> str:
    message = re.sub(r"^Item name '[^']+'", "Item name '<id>'", message.strip())
    return re.sub(r"\b\d+\b", "N", message)


def _documented() -> set[str]:
    text = USAGE.read_text()
    section = text[text.index("## What stac-check reports") :]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


def test_stac_check_reports_only_what_the_usage_docs_explain(
    built_catalog: Path, schema_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stac_validator.utilities
    from stac_check.lint import Linter

    # stac-validator's own hook for local copies of extension schemas, pointed at the mirrors.
    monkeypatch.setattr(
        stac_validator.utilities, "_map_extension_url_to_local", _local_schema([schema_dir, PACKAGE_SCHEMAS])
    )
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    documents = [root.get_self_href()]
    for catalog, _, items in root.walk():
        if catalog is not root:
            documents.append(catalog.get_self_href())
        documents.extend(item.get_self_href() for item in items)
    notes: dict[str, str] = {}
    for document in documents:
        assert document is not None
        linter = Linter(document)
        assert linter.valid_stac, (document, linter.error_type, linter.error_msg)
        assert not linter.geometry_errors_msg, (document, linter.geometry_errors_msg)
        for message in linter.best_practices_msg[1:]:
            if message.strip():
                notes.setdefault(_normalized(message), document)
    assert len(documents) > 90
    undocumented = {note: where for note, where in notes.items() if note not in _documented()}
    assert not undocumented, f"explain these in docs/usage.md or fix them: {undocumented}"
    assert _documented() == set(notes), "docs/usage.md explains notes stac-check no longer reports"
