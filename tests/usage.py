"""docs/usage.md as a program: its Python blocks in order, pointed at a catalog and a STAC API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

USAGE = REPO / "docs" / "usage.md"
CATALOG_PLACEHOLDER = '"build/catalog/catalog.json"'
API_PLACEHOLDER = '"http://127.0.0.1:8000"'


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, re.M | re.S)


def usage_program(catalog_href: str, api_url: str) -> str:
    """The blocks joined into one program reading ``catalog_href`` and searching ``api_url``."""
    program = "\n".join(python_blocks(USAGE.read_text()))
    assert program.count(CATALOG_PLACEHOLDER) == 1 and program.count(API_PLACEHOLDER) == 1
    return program.replace(CATALOG_PLACEHOLDER, repr(catalog_href)).replace(API_PLACEHOLDER, repr(api_url))


def run_usage(catalog_href: str, api_url: str, workdir: Path) -> str:
    """Run the program in a fresh interpreter in ``workdir`` (not the repository); return its output."""
    result = subprocess.run(
        [sys.executable, "-c", usage_program(catalog_href, api_url)],
        capture_output=True,
        text=True,
        check=False,
        cwd=workdir,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
