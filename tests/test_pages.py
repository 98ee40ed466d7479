"""The GitHub Pages site: the extension schema at exactly the path its $id names, and the workflow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from stactools_glofnet.core.extension import SCHEMA_PATH, SCHEMA_URI, VERSION
from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "pages.yml"


def _pages_address() -> str:
    """GitHub serves OWNER/REPO's Pages at https://OWNER.github.io/REPO/ (owner in lower case)."""
    source = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Source"]
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", source)
    assert match, source
    return f"https://{match.group(1).lower()}.github.io/{match.group(2)}/"


def _site_dir() -> str:
    text = WORKFLOW.read_text()
    built = re.search(r"run: scripts/pages (\S+)\n", text)
    uploaded = re.search(
        r"uses: actions/upload-pages-artifact@[0-9a-f]{40} # \S+\n\s+with:\n\s+path: (\S+)", text
    )
    assert built and uploaded, "the workflow builds the site with scripts/pages and uploads that directory"
    assert built.group(1) == uploaded.group(1)
    return built.group(1)


def test_the_pages_artifact_holds_the_schema_at_its_id(tmp_path: Path) -> None:
    schema_id = json.loads(SCHEMA_PATH.read_text())["$id"].rstrip("#")
    assert schema_id == SCHEMA_URI
    address = _pages_address()
    assert schema_id.startswith(address), "the $id follows the repository's Pages address"
    relative = schema_id[len(address) :]
    assert relative == f"extension/{VERSION}/schema.json"
    site = tmp_path / _site_dir()
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "pages.py"), str(site)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / relative).read_bytes() == SCHEMA_PATH.read_bytes()
    assert (site / ".nojekyll").is_file(), "served as uploaded, no Jekyll"
    page = (site / "extension" / "index.html").read_text()
    assert "<table>" in page and SCHEMA_URI in page and "glofnet:split" in page
    assert f'href="{relative}"' in (site / "index.html").read_text()


def test_the_pages_workflow_deploys_with_least_privilege() -> None:
    text = WORKFLOW.read_text()
    assert "permissions: {}" in text
    build, deploy = text.split("\n  deploy:\n")
    assert "contents: read" in build and "pages: write" not in build and "id-token" not in build
    assert "pages: write" in deploy and "id-token: write" in deploy and "name: github-pages" in deploy
    uses = re.findall(r"uses: (\S+)", text)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    for watched in ("docs/extension.md", "stactools_glofnet/schemas/**", "scripts/pages.py"):
        assert f"- {watched}\n" in text
