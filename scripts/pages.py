"""Assemble the GitHub Pages site: the glofnet extension's JSON Schema at the URL its ``$id`` names.

The repository's Pages address follows from ``[project.urls] Source`` in pyproject.toml
(``https://github.com/OWNER/REPO`` is served at ``https://OWNER.github.io/REPO/``); the schema is
written at its ``$id`` below that address, beside docs/extension.md rendered as HTML.

Usage: scripts/pages DEST
"""

from __future__ import annotations

import html
import json
import shutil
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

from markdown_it import MarkdownIt

from stactools_glofnet.core.extension import SCHEMA_PATH, schema

REPO = Path(__file__).resolve().parents[1]

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{max-width:60rem;margin:2rem auto;padding:0 1rem;font-family:sans-serif;line-height:1.5}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top}}
code,pre{{background:#f4f4f4}}pre{{padding:.5rem;overflow:auto}}</style>
</head>
<body>
{body}
</body>
</html>
"""


def pages_base() -> str:
    """``https://OWNER.github.io/REPO/`` from the repository URL in pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    source = urlparse(project["urls"]["Source"])
    owner, name = source.path.strip("/").split("/")[:2]
    if source.netloc != "github.com":
        raise SystemExit(f"pyproject.toml: Source {source.geturl()} is not a GitHub repository")
    return f"https://{owner.lower()}.github.io/{name}/"


def schema_path_in_site() -> str:
    """The schema's ``$id`` relative to the Pages address (where the site must hold it)."""
    schema_id = str(schema()["$id"]).rstrip("#")
    base = pages_base()
    if not schema_id.startswith(base):
        raise SystemExit(f"{SCHEMA_PATH}: $id {schema_id} is not below the Pages address {base}")
    return schema_id[len(base) :]


def build_site(dest: Path) -> Path:
    """Write the site into ``dest`` (replacing it); returns the schema's path inside it."""
    if dest.exists():
        shutil.rmtree(dest)
    relative = schema_path_in_site()
    target = dest / relative
    target.parent.mkdir(parents=True)
    shutil.copyfile(SCHEMA_PATH, target)
    json.loads(target.read_text(encoding="utf-8"))  # a corrupt schema fails the build, not the readers
    extension = (
        MarkdownIt("commonmark")
        .enable("table")
        .render((REPO / "docs" / "extension.md").read_text(encoding="utf-8"))
    )
    extension_dir = Path(relative).parts[0]
    (dest / extension_dir / "index.html").write_text(
        PAGE.format(title="The glofnet STAC extension", body=extension), encoding="utf-8"
    )
    link = f'<a href="{html.escape(relative)}">{html.escape(pages_base() + relative)}</a>'
    index = (
        "<h1>stactools-glofnet</h1>\n<ul>\n"
        f'<li><a href="{extension_dir}/">The glofnet STAC extension</a></li>\n'
        f"<li>Its JSON Schema: {link}</li>\n</ul>\n"
    )
    (dest / "index.html").write_text(PAGE.format(title="stactools-glofnet", body=index), encoding="utf-8")
    (dest / ".nojekyll").write_bytes(b"")
    return target


def main(argv: list[str]) -> int:
    """``scripts/pages DEST``."""
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    target = build_site(Path(argv[0]))
    print(f"{argv[0]}: site with {target.relative_to(argv[0])} ({pages_base()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
